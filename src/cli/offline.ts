// Offline PKI verbs: `certificate create|sign|p12|verify|key`, one register function each. They
// parse flags and files here and leave the certificate work to src/offline/.
import { isIP } from 'node:net';
import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { Option, type Command } from 'commander';
import type { KeySpec } from '../pki/keys.js';
import type { x509 } from '../pki/x509.js';
import type { Issuer } from '../authority/profiles.js';
import { parseTimeOrDuration } from '../util/duration.js';
import { readTextExplained } from '../util/read-file.js';
import { certificateGroup } from './certificate.js';
import { CliError, collect, say } from './common.js';
import { keyPassword, readCert, readKey, refuseOverwrite, writeKey, type KeyOutput } from './key-files.js';

const lib = async () => {
  const [keys, pem, profiles, authority, p12] = await Promise.all([
    import('../pki/keys.js'), import('../pki/pem.js'), import('../offline/profiles.js'), import('../authority/profiles.js'), import('../offline/p12.js'),
  ]);
  return { keys, pem, profiles, authority, p12 };
};

type Profile = 'root-ca' | 'intermediate-ca' | 'leaf' | 'self-signed';

/** The names a CSR asks for, against the name policies of a CA's ca.json (as the online CA would judge them). */
async function checkNamePolicy(configPath: string, provisioner: string | undefined, csrFile: string, csr: import('../pki/csr.js').ParsedCsr): Promise<void> {
  const [{ loadConfig }, { PolicySet, findRefusal, refusalMessage }] = await Promise.all([import('../config/load.js'), import('../authority/name-policy.js')]);
  let set;
  try {
    const { config } = loadConfig(configPath);
    if (provisioner !== undefined && !config.authority.provisioners.some((p) => p.name === provisioner)) {
      throw new Error(`${configPath} has no provisioner named "${provisioner}"`);
    }
    set = PolicySet.fromConfig(config);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  const sans = [
    ...csr.sans.dns.map((value) => ({ type: 'dns' as const, value })), ...csr.sans.ip.map((value) => ({ type: 'ip' as const, value })),
    ...csr.sans.email.map((value) => ({ type: 'email' as const, value })), ...csr.sans.url.map((value) => ({ type: 'url' as const, value })),
  ];
  const r = findRefusal(set.for(provisioner ?? null), csr.commonName, sans);
  if (r) throw new CliError(`${csrFile}: ${refusalMessage(r)}`);
}

function withKeyOutput(c: Command): Command {
  return c.option('--password-file <file>', 'password to encrypt the new private key with')
    .option('--no-password', 'do not encrypt the private key (needs --insecure)')
    .option('--insecure', 'allow --no-password');
}

function keySpecOf(o: { kty: string; curve?: string; size?: string }): KeySpec {
  const kty = o.kty.toUpperCase();
  if (kty === 'EC') {
    const curve = (o.curve ?? 'P-256').toUpperCase();
    if (curve !== 'P-256' && curve !== 'P-384' && curve !== 'P-521') throw new CliError(`--curve must be P-256, P-384 or P-521, not ${o.curve}`, 2);
    return { kty: 'EC', curve };
  }
  if (kty === 'RSA') {
    const size = Number(o.size ?? 2048);
    if (!Number.isInteger(size) || size < 2048) throw new CliError(`--size must be at least 2048 for RSA, not ${o.size}`, 2);
    return { kty: 'RSA', size };
  }
  if (kty === 'OKP') return { kty: 'OKP' };
  throw new CliError(`--kty must be EC, RSA or OKP, not ${o.kty}`, 2);
}

/** --path-len for `create` and `sign` alike: a non-negative integer, or absent for the profile's default. */
function pathLenFlag(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d{1,9}$/.test(v.trim())) throw new CliError(`--path-len must be a non-negative integer, not ${v}`, 2);
  return Number(v);
}

function timeFlag(name: string, v: string | undefined, base: Date): Date | undefined {
  if (v === undefined) return undefined;
  const t = parseTimeOrDuration(v, base);
  if (!t) throw new CliError(`--${name}: '${v}' is neither a duration such as 24h nor an RFC 3339 time`, 2);
  return t;
}

/** --not-before/--not-after, defaulting to now and the profile's lifetime. */
async function validity(o: { notBefore?: string; notAfter?: string }, profile: Profile): Promise<{ notBefore: Date; notAfter: Date }> {
  const { profiles } = await lib();
  const now = new Date();
  const notBefore = timeFlag('not-before', o.notBefore, now) ?? now;
  const notAfter = timeFlag('not-after', o.notAfter, now) ?? new Date(notBefore.getTime() + profiles.DEFAULT_LIFETIME[profile]);
  if (notAfter <= notBefore) throw new CliError('--not-after must be after --not-before', 2);
  return { notBefore, notAfter };
}

/** The issuing CA from its certificate file and key file; `keyFlag` names the key in errors. */
async function loadIssuer(crtFile: string, keyFile: string, passwordFile: string | undefined, keyFlag: string, passwordFlag: string): Promise<{ issuer: Issuer; certs: x509.X509Certificate[] }> {
  const { authority } = await lib();
  const certs = await readCert(crtFile);
  const key = await readKey(keyFile, passwordFile, passwordFlag);
  try {
    return { issuer: await authority.makeIssuer(certs[0]!, key), certs };
  } catch (e) {
    throw new CliError(e instanceof CliError ? e.message : `${keyFlag}: ${(e as Error).message}`);
  }
}

/** The profile library's refusals (a leaf with name constraints, an issuer that is no CA) as CLI errors. */
async function makeCertificate(spec: Parameters<Awaited<ReturnType<typeof lib>>['profiles']['createProfileCertificate']>[0], signer: Issuer | KeyObject) {
  const { profiles } = await lib();
  try {
    return await profiles.createProfileCertificate(spec, signer);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
}

interface CreateFlags extends KeyOutput {
  profile: Profile; ca?: string; caKey?: string; caPasswordFile?: string; san: string[]; notBefore?: string; notAfter?: string;
  kty: string; curve?: string; size?: string; pathLen?: string; nameConstraintDns: string[]; bundle?: boolean;
}

function registerCreate(group: Command): void {
  withKeyOutput(group.command('create'))
    .description('create a key pair and a certificate: a root or intermediate CA, a leaf, or a self-signed certificate')
    .argument('<subject>', 'the subject common name')
    .argument('<crt>', 'certificate file to write')
    .argument('<key>', 'private key file to write (0600)')
    .addOption(new Option('--profile <profile>', 'what to make').choices(['root-ca', 'intermediate-ca', 'leaf', 'self-signed']).default('leaf'))
    .option('--ca <crt>', 'the issuing CA certificate (intermediate-ca, leaf)')
    .option('--ca-key <key>', 'the issuing CA key')
    .option('--ca-password-file <file>', 'password of an encrypted --ca-key')
    .option('--san <name>', 'subject alternative name: DNS, IP, email or URI (repeat or comma-separate)', collect, [])
    .option('--not-before <time|duration>', 'start of validity (default now)')
    .option('--not-after <time|duration>', 'end of validity (default 24h for leaves, 10 years for CAs)')
    .option('--kty <type>', 'EC, RSA or OKP (Ed25519)', 'EC')
    .option('--curve <curve>', 'EC curve: P-256, P-384 or P-521')
    .option('--size <bits>', 'RSA size (default 2048)')
    .option('--path-len <n>', 'CA path length constraint (default: 1 for root-ca, 0 for intermediate-ca)')
    .option('--name-constraint-dns <domain>', 'permit only names under this DNS domain (CA profiles; repeatable)', collect, [])
    .option('--bundle', 'write the certificate followed by its issuer')
    .action(createCertificate);
}

async function createCertificate(subject: string, crtFile: string, keyFile: string, o: CreateFlags): Promise<void> {
  const { keys, pem } = await lib();
  const selfSigned = o.profile === 'root-ca' || o.profile === 'self-signed';
  if (selfSigned && (o.ca || o.caKey)) throw new CliError(`--profile ${o.profile} is self-signed: it takes no --ca or --ca-key`, 2);
  if (!selfSigned && (!o.ca || !o.caKey)) throw new CliError(`--profile ${o.profile} needs --ca and --ca-key`, 2);
  const password = await keyPassword(o, 'the new key');
  refuseOverwrite(crtFile, keyFile);
  const { notBefore, notAfter } = await validity(o, o.profile);
  const pathLen = pathLenFlag(o.pathLen);
  const pair = keys.generateKeyPair(keySpecOf(o));
  const issuing = selfSigned ? undefined : await loadIssuer(o.ca!, o.caKey!, o.caPasswordFile, '--ca-key', '--ca-password-file');
  const cert = await makeCertificate({
    profile: o.profile, subject, sans: o.san, publicKey: pair.publicKey, notBefore, notAfter, pathLen, permittedDns: o.nameConstraintDns,
  }, issuing?.issuer ?? pair.privateKey);
  await writeKey(keyFile, pair.privateKey, password);
  keys.writeFileAtomic(crtFile, [cert, ...(o.bundle && issuing ? issuing.certs.slice(0, 1) : [])].map(pem.certToPem).join(''), 0o644);
  say(`Your certificate has been saved in ${crtFile}.`);
  say(`Your private key has been saved in ${keyFile}${password === null ? ' (unencrypted)' : ''}.`);
}

interface SignFlags { profile: 'leaf' | 'intermediate-ca'; passwordFile?: string; notBefore?: string; notAfter?: string; pathLen?: string; bundle?: boolean; caConfig?: string; provisioner?: string }

function registerSign(group: Command): void {
  group.command('sign')
    .description('sign a CSR with a CA certificate and key, offline')
    .argument('<csr>', 'certificate request (PEM)')
    .argument('<ca-crt>', 'the issuing CA certificate')
    .argument('<ca-key>', 'the issuing CA key')
    .addOption(new Option('--profile <profile>', 'what to make of it').choices(['leaf', 'intermediate-ca']).default('leaf'))
    .option('--password-file <file>', 'password of an encrypted CA key')
    .option('--not-before <time|duration>', 'start of validity (default now)')
    .option('--not-after <time|duration>', 'end of validity (default 24h for leaves, 10 years for CAs)')
    .option('--path-len <n>', 'path length constraint for an intermediate-ca (default 0)')
    .option('--bundle', 'print the certificate followed by its issuer')
    .option('--ca-config <ca.json>', 'refuse names the name policies of this ca.json forbid (authority policy, and --provisioner\'s)')
    .option('--provisioner <name>', 'with --ca-config: also apply this provisioner\'s policy')
    .action(signCsr);
}

async function signCsr(csrFile: string, caCrt: string, caKey: string, o: SignFlags): Promise<void> {
  const pathLen = pathLenFlag(o.pathLen);
  const { pem } = await lib();
  const { parseCsr } = await import('../pki/csr.js');
  let csr;
  try {
    csr = await parseCsr(readTextExplained(csrFile, 'the CSR'));
  } catch (e) {
    throw new CliError(`${csrFile}: ${(e as Error).message}`);
  }
  const { issuer, certs } = await loadIssuer(caCrt, caKey, o.passwordFile, caKey, '--password-file');
  const { notBefore, notAfter } = await validity(o, o.profile);
  const sans = [...csr.sans.dns, ...csr.sans.ip, ...csr.sans.email, ...csr.sans.url];
  if (o.provisioner !== undefined && !o.caConfig) throw new CliError('--provisioner goes with --ca-config', 2);
  if (o.caConfig) await checkNamePolicy(o.caConfig, o.provisioner, csrFile, csr);
  const cert = await makeCertificate({
    profile: o.profile, subject: csr.commonName, sans, publicKey: createPublicKey({ key: Buffer.from(csr.spki), format: 'der', type: 'spki' }),
    notBefore, notAfter, pathLen,
  }, issuer);
  process.stdout.write([cert, ...(o.bundle ? certs.slice(0, 1) : [])].map(pem.certToPem).join(''));
}

function registerP12(group: Command): void {
  group.command('p12')
    .description('bundle a certificate and its key (and CA certificates) into a PKCS#12 file for browsers and keychains')
    .argument('<out>', 'the .p12 file to write (0600)')
    .argument('<crt>', 'certificate (PEM; a chain adds its other certificates)')
    .argument('<key>', 'its private key')
    .option('--ca <crt>', 'a CA certificate to include (repeatable)', (v: string, p: string[] = []) => [...p, v], [])
    .option('--key-password-file <file>', 'password of an encrypted key')
    .option('--password-file <file>', 'password to protect the bundle with')
    .option('--no-password', 'protect the bundle with the empty password (needs --insecure)')
    .option('--insecure', 'allow --no-password')
    .action(async (out: string, crtFile: string, keyFile: string, o: KeyOutput & { ca: string[]; keyPasswordFile?: string }) => {
      const { keys, p12, profiles } = await lib();
      const password = (await keyPassword(o, 'the bundle')) ?? '';
      refuseOverwrite(out);
      const [cert, ...chain] = await readCert(crtFile);
      const extra = (await Promise.all(o.ca.map(readCert))).flat();
      const key = await readKey(keyFile, o.keyPasswordFile, '--key-password-file');
      if (!profiles.keyMatches(cert!, createPublicKey(key))) throw new CliError(`${keyFile} is not the key of ${crtFile}`);
      keys.writeFileAtomic(out, await p12.buildP12(key, cert!, [...chain, ...extra], password, cert!.subjectName.getField('CN')[0]), 0o600);
      say(`Your PKCS#12 bundle has been saved in ${out}${password ? '' : ' (empty password)'}.`);
    });
}

function registerVerify(group: Command): void {
  group.command('verify')
    .description('validate a certificate\'s path to a trusted root (RFC 5280: signatures, validity, CA flags and key usage, path length, '
      + 'name constraints, extended key usage) and, with --host, that it names the host; exit 0 when valid')
    .argument('<crt>', 'certificate, optionally followed by intermediates')
    .requiredOption('--roots <file>', 'trusted root certificates (PEM)')
    .option('--host <name>', 'a DNS name or IP the certificate must cover')
    .addOption(new Option('--purpose <eku>', 'the extended key usage the path must allow (as step and Go check serverAuth)').choices(['serverAuth', 'clientAuth', 'any']).default('serverAuth'))
    .action(verifyCertificate);
}

async function verifyCertificate(crtFile: string, o: { roots: string; host?: string; purpose: 'serverAuth' | 'clientAuth' | 'any' }): Promise<void> {
  const ders = (file: string) => readTextExplained(file, 'certificate file').split(/(?=-----BEGIN CERTIFICATE-----)/).filter((b) => b.includes('BEGIN CERTIFICATE'))
    .map((b) => Buffer.from(new X509Certificate(b).raw));
  const [leaf, ...intermediates] = ders(crtFile);
  if (!leaf) throw new CliError(`${crtFile} holds no PEM certificate`);
  const roots = ders(o.roots);
  if (!roots.length) throw new CliError(`${o.roots} holds no PEM certificate`);
  const { verifyChain, ChainError } = await import('../offline/verify-chain.js');
  try {
    await verifyChain(leaf, intermediates, roots, { purpose: o.purpose });
  } catch (e) {
    if (e instanceof ChainError) throw new CliError(`${crtFile}: ${e.message}`);
    throw e;
  }
  const cert = new X509Certificate(leaf);
  if (o.host && !(isIP(o.host) ? cert.checkIP(o.host) : cert.checkHost(o.host))) throw new CliError(`the certificate does not cover ${o.host}`);
  process.stdout.write('ok\n');
}

function registerPublicKey(group: Command): void {
  group.command('key')
    .description('print the public key of a certificate (PEM)')
    .argument('<crt>', 'certificate')
    .action(async (crtFile: string) => {
      const [cert] = await readCert(crtFile);
      process.stdout.write(createPublicKey({ key: Buffer.from(cert!.publicKey.rawData), format: 'der', type: 'spki' }).export({ type: 'spki', format: 'pem' }) as string);
    });
}

export function registerOfflineCommands(program: Command): void {
  const group = certificateGroup(program);
  registerCreate(group);
  registerSign(group);
  registerP12(group);
  registerVerify(group);
  registerPublicKey(group);
}
