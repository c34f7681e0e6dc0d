// A ready-made PKI directory in the layout Kubernetes TLS secrets and cert-manager use:
//   DIR/ca/{ca.crt,tls.crt,tls.key}            the CA (tls.* are the CA's own certificate and key)
//   DIR/nodes/NAME/{ca.crt,tls.crt,tls.key}    one per node, an "admin" node made at init
// Directories 0700, keys 0600. Node keys are PEM PKCS#8 in the clear, as those consumers read
// them; the CA key is encrypted when a password is given (then `pki issue` needs it too).
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encryptPrivateKey } from '../pki/encrypted-key.js';
import { generateKeyPair, loadPrivateKey, unencryptedPem, writeFileAtomic, type KeySpec } from '../pki/keys.js';
import { certToPem, parseCertificates } from '../pki/pem.js';
import { makeIssuer } from '../authority/profiles.js';
import { createProfileCertificate, DEFAULT_LIFETIME } from './profiles.js';

const DAY = 86_400_000;
const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export interface PkiPaths { caDir: string; caCert: string; caKey: string; node(name: string): { dir: string; ca: string; cert: string; key: string } }

export function pkiPaths(dir: string): PkiPaths {
  const caDir = join(dir, 'ca');
  return {
    caDir, caCert: join(caDir, 'ca.crt'), caKey: join(caDir, 'tls.key'),
    node: (name) => ({ dir: join(dir, 'nodes', name), ca: join(dir, 'nodes', name, 'ca.crt'), cert: join(dir, 'nodes', name, 'tls.crt'), key: join(dir, 'nodes', name, 'tls.key') }),
  };
}

export async function initPki(dir: string, o: { name: string; key: KeySpec; password?: string; notAfter?: Date }): Promise<PkiPaths> {
  const p = pkiPaths(dir);
  if (existsSync(p.caCert)) throw new Error(`${dir} already holds a PKI (${p.caCert})`);
  mkdirSync(p.caDir, { recursive: true, mode: 0o700 });
  mkdirSync(join(dir, 'nodes'), { recursive: true, mode: 0o700 });
  const now = new Date();
  const keys = generateKeyPair(o.key);
  const ca = await createProfileCertificate({
    profile: 'root-ca', subject: `${o.name} CA`, sans: [], publicKey: keys.publicKey, notBefore: now,
    notAfter: o.notAfter ?? new Date(now.getTime() + DEFAULT_LIFETIME['root-ca']), pathLen: 0,
  }, keys.privateKey);
  const pem = certToPem(ca);
  writeFileAtomic(p.caKey, o.password ? await encryptPrivateKey(keys.privateKey, o.password) : unencryptedPem(keys.privateKey), 0o600);
  writeFileAtomic(p.caCert, pem, 0o644);
  writeFileAtomic(join(p.caDir, 'tls.crt'), pem, 0o644);
  await issueNode(dir, { name: 'admin', sans: ['admin'], key: o.key, password: o.password });
  return p;
}

export async function issueNode(dir: string, o: { name: string; sans: string[]; key: KeySpec; password?: string; notAfter?: Date }): Promise<ReturnType<PkiPaths['node']>> {
  if (!NODE_NAME.test(o.name)) throw new Error(`node name "${o.name}" must be letters, digits, '.', '_' or '-' (it names a directory)`);
  const p = pkiPaths(dir);
  if (!existsSync(p.caCert)) throw new Error(`${dir} holds no PKI: run \`stepstone pki init --pki-directory ${dir}\` first`);
  const node = p.node(o.name);
  if (existsSync(node.cert)) throw new Error(`node ${o.name} already exists in ${dir}`);
  const caPem = readFileSync(p.caCert, 'utf8');
  const issuer = await makeIssuer(parseCertificates(caPem)[0]!, loadPrivateKey(readFileSync(p.caKey, 'utf8'), o.password));
  const keys = generateKeyPair(o.key);
  const now = new Date();
  const cert = await createProfileCertificate({
    profile: 'leaf', subject: o.name, sans: o.sans.length ? o.sans : [o.name], publicKey: keys.publicKey,
    notBefore: now, notAfter: o.notAfter ?? new Date(now.getTime() + 365 * DAY),
  }, issuer);
  mkdirSync(node.dir, { recursive: true, mode: 0o700 });
  writeFileAtomic(node.key, unencryptedPem(keys.privateKey), 0o600);
  writeFileAtomic(node.cert, certToPem(cert), 0o644);
  writeFileAtomic(node.ca, caPem, 0o644);
  return node;
}
