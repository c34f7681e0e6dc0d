// `stepstone init`: a root and an intermediate CA with encrypted keys, a JWK provisioner whose
// private key is a JWE, and a step-ca-format ca.json — everything a CA home needs.
import { existsSync, mkdirSync } from 'node:fs';
import { isIP } from 'node:net';
import { crlSchema, DEFAULT_CLAIMS, DEFAULT_TLS, stepstoneSchema, type CaConfig } from '../config/schema.js';
import { layout, type Layout } from '../config/layout.js';
import { encryptPrivateKey } from '../pki/encrypted-key.js';
import type { KeyObject } from 'node:crypto';
import { generateKeyPair, loadPrivateKey, writeFileAtomic, type KeySpec } from '../pki/keys.js';
import { signedBy } from '../pki/signed-by.js';
import { x509 } from '../pki/x509.js';
import { classifySan } from '../pki/names.js';
import { sanProblem } from './name-rules.js';
import { certToPem, parseCertificates } from '../pki/pem.js';
import { sha256Hex } from '../pki/fingerprint.js';
import { createProvisionerKey } from '../pki/provisioner-key.js';
import { createIntermediateCertificate, createRootCertificate, makeIssuer } from './profiles.js';

export interface InitOptions {
  home: string;
  name: string;
  dnsNames: string[];
  address: string;
  provisioner: string;
  password: string;
  key?: KeySpec;
  force?: boolean;
  /** Lifetime of both CA certificates; step uses 10 years. */
  caLifetimeDays?: number;
  /**
   * Bring your own CA: serve an intermediate made offline (the root's key never comes here).
   * PEM texts; the key is re-encrypted with `password`.
   */
  existing?: { rootPem: string; intermediatePem: string; intermediateKeyPem: string; keyPassword?: string };
}

export interface InitResult { layout: Layout; fingerprint: string; caUrl: string }

const DAY = 86_400_000;

export async function initCa(o: InitOptions): Promise<InitResult> {
  const l = layout(o.home);
  if (existsSync(l.caConfig) && !o.force) throw new Error(`a CA already exists at ${l.home} (use --force to overwrite it)`);
  if (!o.password) throw new Error('the password must not be empty');
  if (!o.dnsNames.length) throw new Error('at least one DNS name or IP is needed (--dns)');
  for (const n of o.dnsNames) {
    const problem = sanProblem(classifySan(n));
    if (problem) throw new Error(`--dns: ${problem}`);
  }

  const { root, inter, interKey, rootKey } = o.existing ? await broughtCa(o.existing) : await newCa(o);
  // Only now, with the CA checked: a refused --root/--intermediate/--key leaves nothing behind.
  for (const d of ['config', 'certs', 'secrets', 'db']) mkdirSync(`${l.home}/${d}`, { recursive: true, mode: d === 'secrets' || d === 'db' ? 0o700 : 0o755 });
  const prov = await createProvisionerKey(o.password, 'EC');

  if (rootKey) writeFileAtomic(l.rootKey, await encryptPrivateKey(rootKey, o.password), 0o600);
  writeFileAtomic(l.intermediateKey, await encryptPrivateKey(interKey, o.password), 0o600);
  writeFileAtomic(l.rootCert, certToPem(root), 0o644);
  writeFileAtomic(l.intermediateCert, certToPem(inter), 0o644);

  const config: CaConfig = {
    root: l.rootCert,
    federatedRoots: null,
    crt: l.intermediateCert,
    key: l.intermediateKey,
    address: o.address,
    dnsNames: o.dnsNames,
    db: { type: 'sqlite', dataSource: l.ledger },
    authority: {
      provisioners: [{ type: 'JWK', name: o.provisioner, key: prov.publicJwk as CaConfig['authority']['provisioners'][number]['key'], encryptedKey: prov.encryptedKey }],
      claims: { ...DEFAULT_CLAIMS },
      backdate: '1m0s',
    },
    tls: { ...DEFAULT_TLS },
    commonName: `${o.name} Online CA`,
    crl: crlSchema.parse({}),
    // Every Stepstone setting with its default, so the file shows what can be tuned.
    stepstone: stepstoneSchema.parse({}),
  };
  writeFileAtomic(l.caConfig, `${JSON.stringify(config, null, 2)}\n`, 0o644);

  const fingerprint = sha256Hex(root.rawData);
  const caUrl = caUrlFor(o.dnsNames[0]!, o.address);
  writeFileAtomic(l.defaults, `${JSON.stringify({ 'ca-url': caUrl, fingerprint, root: l.rootCert }, null, 2)}\n`, 0o644);
  return { layout: l, fingerprint, caUrl };
}

interface CaPair { root: x509.X509Certificate; inter: x509.X509Certificate; interKey: KeyObject; rootKey: KeyObject | null }

async function newCa(o: InitOptions): Promise<CaPair> {
  const now = new Date();
  const notAfter = new Date(now.getTime() + (o.caLifetimeDays ?? 3650) * DAY);
  const rootKeys = generateKeyPair(o.key);
  const root = await createRootCertificate({ name: `${o.name} Root CA`, key: rootKeys.privateKey, notBefore: now, notAfter });
  const interKeys = generateKeyPair(o.key);
  const inter = await createIntermediateCertificate({
    name: `${o.name} Intermediate CA`, publicKey: interKeys.publicKey, issuer: await makeIssuer(root, rootKeys.privateKey), notBefore: now, notAfter,
  });
  return { root, inter, interKey: interKeys.privateKey, rootKey: rootKeys.privateKey };
}

/** An offline-made root and intermediate, checked to belong together before anything is written. */
async function broughtCa(e: NonNullable<InitOptions['existing']>): Promise<CaPair> {
  const [root] = parseCertificates(e.rootPem);
  const [inter] = parseCertificates(e.intermediatePem);
  if (!root) throw new Error('--root holds no PEM certificate');
  if (!inter) throw new Error('--intermediate holds no PEM certificate');
  for (const [c, what] of [[root, 'root'], [inter, 'intermediate']] as const) {
    if (c.getExtension(x509.BasicConstraintsExtension)?.ca !== true) throw new Error(`the ${what} certificate ${c.subject} is not a CA certificate`);
    if (new Date() > c.notAfter) throw new Error(`the ${what} certificate ${c.subject} expired on ${c.notAfter.toISOString()}`);
  }
  if (!(await signedBy(inter, root))) throw new Error(`the intermediate ${inter.subject} is not signed by the root ${root.subject}`);
  const interKey = loadPrivateKey(e.intermediateKeyPem, e.keyPassword);
  await makeIssuer(inter, interKey); // throws when the key is not the intermediate's
  return { root, inter, interKey, rootKey: null };
}

export function caUrlFor(dnsName: string, address: string): string {
  const port = address.slice(address.lastIndexOf(':') + 1);
  const host = isIP(dnsName) === 6 ? `[${dnsName}]` : dnsName;
  return port === '443' ? `https://${host}` : `https://${host}:${port}`;
}
