// Client verbs: `ca bootstrap|root|roots|health|token|certificate|provisioner list`. The client
// modules are imported inside each action so `ca health` does not pay for x509 and JOSE.
import { Command, Option } from 'commander';
import { resolveHome } from '../config/layout.js';
import { withClientFlags, stepAlias, withProvisionerFlags, clientFlags, type ClientOpts } from './flags.js';
import { CliError, collect, say } from './common.js';
import { obtainPassword } from './password.js';
import { registerRenewCommands } from './renew.js';
import { registerRevokeCommands } from './revoke.js';



function sanOption(): Option {
  return new Option('--san <name>', 'subject alternative name, repeatable').argParser(collect).default([], 'SUBJECT');
}

interface PasswordOpts { passwordFile?: string; provisionerPasswordFile?: string }

/** The provisioner password: from --password-file (or step's spelling), else typed at the terminal. */
export function provisionerPassword(o: PasswordOpts): Promise<string> {
  return obtainPassword({ file: o.passwordFile ?? o.provisionerPasswordFile, flag: '--password-file', purpose: 'to decrypt the provisioner key' });
}

async function client(o: ClientOpts) {
  const { CaClient } = await import('../client/http.js');
  const { resolveCa } = await import('../client/defaults.js');
  const ca = resolveCa(clientFlags(o));
  return { ca, client: new CaClient({ caUrl: ca.caUrl, rootPem: ca.rootPem }) };
}

async function writeOrPrint(file: string | undefined, pem: string, force?: boolean): Promise<void> {
  if (!file) {
    process.stdout.write(pem);
    return;
  }
  const { existsSync } = await import('node:fs');
  const { writeFileAtomic } = await import('../pki/keys.js');
  if (existsSync(file) && !force) throw new CliError(`${file} already exists; pass --force to overwrite it`);
  writeFileAtomic(file, pem, 0o600);
  say(`The root certificate has been saved in ${file}.`);
}

function registerBootstrap(ca: Command): void {
  ca.command('bootstrap')
    .description('fetch the root certificate, check its fingerprint, and save it with the CA URL')
    .requiredOption('--ca-url <url>', 'URL of the CA')
    .requiredOption('--fingerprint <sha256>', 'SHA-256 fingerprint of the root certificate')
    .option('--home <dir>', 'client home (default $STEPPATH or ~/.step)')
    .option('-f, --force', 'overwrite an existing root_ca.crt and defaults.json')
    .action(async (o: { caUrl: string; fingerprint: string; home?: string; force?: boolean }) => {
      const { bootstrap } = await import('../client/bootstrap.js');
      const res = await bootstrap(o.caUrl, o.fingerprint, resolveHome(o.home), o.force);
      say(`The root certificate has been saved in ${res.rootFile}.`);
      say(`The authority configuration has been saved in ${res.defaultsFile}.`);
    });
}

function registerRoots(ca: Command): void {
  withClientFlags(ca.command('root'))
    .description('download the root certificate (checked against the fingerprint) to FILE or stdout')
    .argument('[file]', 'where to write the root certificate')
    .option('--fingerprint <sha256>', 'fingerprint of the root (default: from defaults.json)')
    .option('-f, --force', 'overwrite FILE if it exists')
    .action(async (file: string | undefined, o: ClientOpts & { fingerprint?: string; force?: boolean }) => {
      const { readDefaults, requireCaUrl } = await import('../client/defaults.js');
      const { fetchPinnedRoot } = await import('../client/bootstrap.js');
      const flags = clientFlags(o);
      const defaults = readDefaults(flags.home, flags.config);
      const fp = o.fingerprint ?? defaults.fingerprint;
      if (!fp) throw new CliError('no root fingerprint: pass --fingerprint or run `stepstone ca bootstrap` first');
      await writeOrPrint(file, await fetchPinnedRoot(requireCaUrl(flags, defaults), fp), o.force);
    });

  withClientFlags(ca.command('roots'))
    .description('print the CA\'s root certificates (or write them to FILE)')
    .argument('[file]', 'where to write the roots')
    .option('-f, --force', 'overwrite FILE if it exists')
    .action(async (file: string | undefined, o: ClientOpts & { force?: boolean }) => {
      const res = await (await client(o)).client.get<{ crts?: unknown }>('/roots');
      if (!Array.isArray(res.crts) || !res.crts.every((c) => typeof c === 'string')) throw new CliError('the CA answered /roots without a certificate list');
      await writeOrPrint(file, (res.crts as string[]).map((c) => (c.endsWith('\n') ? c : `${c}\n`)).join(''), o.force);
    });
}

function registerHealth(ca: Command): void {
  withClientFlags(ca.command('health'))
    .description('check that the CA is up (prints ok)')
    .action(async (o: ClientOpts) => {
      const res = await (await client(o)).client.get<{ status?: unknown }>('/health');
      if (res.status !== 'ok') throw new CliError(`the CA is not healthy: status ${JSON.stringify(res.status)}`);
      process.stdout.write('ok\n');
    });
}

interface TokenFlags extends ClientOpts, PasswordOpts {
  san: string[]; provisioner?: string; issuer?: string; kid?: string; notBefore?: string; notAfter?: string;
  revoke?: boolean; renew?: boolean; x5cCert?: string; x5cKey?: string;
}

function registerToken(ca: Command): void {
  withProvisionerFlags(withClientFlags(ca.command('token')))
    .description('print a one-time token for a JWK provisioner')
    .argument('<subject>', 'certificate subject (CN), or the serial number with --revoke')
    .addOption(sanOption())
    .option('--not-before <time|duration>', 'when the token becomes valid (default now)')
    .option('--not-after <time|duration>', 'when the token expires (default 5m after not-before)')
    .addOption(new Option('--revoke', 'a token to revoke the certificate with serial SUBJECT').conflicts('renew'))
    .option('--renew', 'a renew token signed by --x5c-key for the certificate in --x5c-cert (no provisioner)')
    .option('--x5c-cert <file>', 'with --renew: the certificate chain to renew')
    .option('--x5c-key <file>', 'with --renew: its private key')
    .action(tokenCommand);
}

async function tokenCommand(subject: string, o: TokenFlags): Promise<void> {
  if (o.renew) {
    if (!o.x5cCert || !o.x5cKey) throw new CliError('--renew needs --x5c-cert and --x5c-key', 2);
    const { renewTokenFromFiles } = await import('../client/renew-token.js');
    const { requireCaUrl } = await import('../client/defaults.js');
    const token = await renewTokenFromFiles({
      crtFile: o.x5cCert, keyFile: o.x5cKey, caUrl: requireCaUrl(clientFlags(o)), subject, notBefore: o.notBefore, notAfter: o.notAfter,
    });
    process.stdout.write(`${token}\n`);
    return;
  }
  const password = await provisionerPassword(o);
  const { mintToken } = await import('../client/token.js');
  const { ca: resolved, client: c } = await client(o);
  const token = await mintToken({
    client: c, rootPem: resolved.rootPem, subject, sans: o.san, provisioner: o.provisioner ?? o.issuer, kid: o.kid,
    password, notBefore: o.notBefore, notAfter: o.notAfter, revoke: o.revoke,
  });
  process.stdout.write(`${token}\n`);
}

interface CertificateFlags extends ClientOpts, PasswordOpts {
  san: string[]; token?: string; provisioner?: string; issuer?: string; kid?: string; kty: string; curve?: string; crv?: string;
  size?: string; notBefore?: string; notAfter?: string; force?: boolean;
}

function registerCertificate(ca: Command): void {
  withProvisionerFlags(withClientFlags(ca.command('certificate')))
    .description('create a key and get a certificate for it from the CA')
    .argument('<subject>', 'certificate subject (CN)')
    .argument('<crt-file>', 'where to write the certificate chain (leaf, then intermediate)')
    .argument('<key-file>', 'where to write the private key (PKCS#8 PEM, mode 0600)')
    .addOption(sanOption())
    .option('--token <token>', 'one-time token to use instead of minting one')
    .option('--kty <type>', 'key type: EC, RSA or OKP (Ed25519)', 'EC')
    .option('--curve <curve>', 'EC curve: P-256 or P-384 (default P-256)')
    .addOption(stepAlias('--crv <curve>', 'alias of --curve'))
    .option('--size <bits>', 'RSA key size, at least 2048 (default 2048)')
    .option('--not-before <time|duration>', 'start of the certificate validity (RFC 3339 or duration)')
    .option('--not-after <time|duration>', 'end of the certificate validity (RFC 3339 or duration)')
    .option('-f, --force', 'overwrite existing CRT_FILE and KEY_FILE')
    .action(async (subject: string, crtFile: string, keyFile: string, o: CertificateFlags) => {
      const { requestCertificate } = await import('../client/certificate.js');
      const res = await requestCertificate({
        ...clientFlags(o), subject, crtFile, keyFile, sans: o.san, token: o.token, provisioner: o.provisioner ?? o.issuer, kid: o.kid,
        password: o.token ? undefined : await provisionerPassword(o), kty: o.kty, curve: o.curve ?? o.crv, size: o.size,
        notBefore: o.notBefore, notAfter: o.notAfter, force: o.force,
      });
      say(`Your certificate has been saved in ${res.crtFile}.`);
      say(`Your private key has been saved in ${res.keyFile}.`);
    });
}

function registerProvisionerList(ca: Command): void {
  const prov = ca.command('provisioner').description('inspect the CA\'s provisioners');
  withClientFlags(prov.command('list'))
    .description('print the CA\'s provisioners as a JSON array')
    .action(async (o: ClientOpts) => {
      const { listProvisioners } = await import('../client/token.js');
      const list = await listProvisioners((await client(o)).client);
      // step prints json.MarshalIndent(list, "", "   ").
      process.stdout.write(`${JSON.stringify(list, null, 3)}\n`);
    });
}

export function registerCaCommands(program: Command): void {
  const ca = program.command('ca').description('talk to a running CA: bootstrap trust, get tokens and certificates');
  registerBootstrap(ca);
  registerRoots(ca);
  registerHealth(ca);
  registerToken(ca);
  registerCertificate(ca);
  registerRenewCommands(program, ca);
  registerRevokeCommands(ca);
  registerProvisionerList(ca);
}
