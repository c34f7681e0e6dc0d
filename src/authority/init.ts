// `stepstone init`: a root and an intermediate CA with encrypted keys, a JWK provisioner whose
// private key is a JWE, and a step-ca-format ca.json — everything a CA home needs.
import { existsSync, mkdirSync } from 'node:fs';
import { isIP } from 'node:net';
import { crlSchema, DEFAULT_CLAIMS, DEFAULT_TLS, stepstoneSchema, type CaConfig } from '../config/schema.js';
import { layout, type Layout } from '../config/layout.js';
import { encryptPrivateKey } from '../pki/encrypted-key.js';
import { generateKeyPair, writeFileAtomic, type KeySpec } from '../pki/keys.js';
import { certToPem } from '../pki/pem.js';
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
}

export interface InitResult { layout: Layout; fingerprint: string; caUrl: string }

const DAY = 86_400_000;

export async function initCa(o: InitOptions): Promise<InitResult> {
  const l = layout(o.home);
  if (existsSync(l.caConfig) && !o.force) throw new Error(`a CA already exists at ${l.home} (use --force to overwrite it)`);
  if (!o.password) throw new Error('the password must not be empty');
  if (!o.dnsNames.length) throw new Error('at least one DNS name or IP is needed (--dns)');
  for (const d of ['config', 'certs', 'secrets', 'db']) mkdirSync(`${l.home}/${d}`, { recursive: true, mode: d === 'secrets' || d === 'db' ? 0o700 : 0o755 });

  const now = new Date();
  const notAfter = new Date(now.getTime() + (o.caLifetimeDays ?? 3650) * DAY);
  const rootKeys = generateKeyPair(o.key);
  const root = await createRootCertificate({ name: `${o.name} Root CA`, key: rootKeys.privateKey, notBefore: now, notAfter });
  const interKeys = generateKeyPair(o.key);
  const inter = await createIntermediateCertificate({
    name: `${o.name} Intermediate CA`, publicKey: interKeys.publicKey, issuer: await makeIssuer(root, rootKeys.privateKey), notBefore: now, notAfter,
  });
  const prov = await createProvisionerKey(o.password, 'EC');

  writeFileAtomic(l.rootKey, await encryptPrivateKey(rootKeys.privateKey, o.password), 0o600);
  writeFileAtomic(l.intermediateKey, await encryptPrivateKey(interKeys.privateKey, o.password), 0o600);
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

export function caUrlFor(dnsName: string, address: string): string {
  const port = address.slice(address.lastIndexOf(':') + 1);
  const host = isIP(dnsName) === 6 ? `[${dnsName}]` : dnsName;
  return port === '443' ? `https://${host}` : `https://${host}:${port}`;
}
