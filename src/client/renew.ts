// `ca renew` and `ca rekey` (api.md §1.10-1.12, §3.6): one renewal, start to finish. The old files
// are only ever replaced by a complete, checked new certificate (and key), never edited in place.
import { resolve } from 'node:path';
import { CliError } from '../cli/common.js';
import { generateKeyPair, toWebKeyPair, unencryptedPem, type KeySpec } from '../pki/keys.js';
import { pemBlocks, toPem } from '../pki/pem.js';
import { x509 } from '../pki/x509.js';
import { resolveCa, type ClientFlags } from './defaults.js';
import { assertPair, loadCertFile, loadKeyFile, replaceFile, replacePair, spkiDer, type CertFile, type KeyFile } from './files.js';
import { CaClient, EMPTY_BODY } from './http.js';
import { mintRenewToken } from './renew-token.js';
import { chainFromResponse, type SignResponse } from './sign-response.js';
import { needsRenewal } from './schedule.js';

export interface RenewOptions extends ClientFlags {
  crtFile: string;
  keyFile: string;
  /** Where the new chain goes; default: over crtFile. */
  out?: string;
  force?: boolean;
  /** Threshold in ms; default a third of the lifetime. */
  expiresIn?: number;
  /** false: bearer renew token instead of mTLS (L7 proxies). Expired certificates always use the token. */
  mtls?: boolean;
  now?: () => Date;
}

export type Transport = 'mtls' | 'token';

export interface RenewResult {
  renewed: boolean;
  /** The certificate renewal started from (or found not due). */
  old: x509.X509Certificate;
  /** The new leaf, when renewed. */
  leaf?: x509.X509Certificate;
  outFile: string;
  transport?: Transport;
  /** Time spent talking to the CA, ms. */
  latencyMs?: number;
}

function loadPair(crtFile: string, keyFile: string): { crt: CertFile; key: KeyFile } {
  const crt = loadCertFile(resolve(crtFile));
  const key = loadKeyFile(resolve(keyFile));
  assertPair(crt, key);
  return { crt, key };
}

/** The response's leaf must carry `spki` (the key we hold): never write a cert we have no key for. */
function checkedChain(res: SignResponse, path: string, spki: Buffer): { chain: string[]; leaf: x509.X509Certificate } {
  const chain = chainFromResponse(res, path);
  let leaf: x509.X509Certificate;
  try {
    leaf = new x509.X509Certificate(pemBlocks(chain[0]!, 'CERTIFICATE')[0]!);
  } catch {
    throw new CliError(`the CA answered ${path} with a certificate that cannot be parsed`);
  }
  if (!Buffer.from(leaf.publicKey.rawData).equals(spki)) throw new CliError(`the CA answered ${path} with a certificate for a different key; nothing was written`);
  return { chain, leaf };
}

export async function renew(o: RenewOptions): Promise<RenewResult> {
  const now = (o.now ?? (() => new Date()))();
  const { crt, key } = loadPair(o.crtFile, o.keyFile);
  const outFile = resolve(o.out ?? o.crtFile);
  if (!o.force && !needsRenewal(crt.leaf, now, o.expiresIn)) return { renewed: false, old: crt.leaf, outFile };
  if (now < crt.leaf.notBefore) throw new CliError(`the certificate in ${crt.file} is not valid before ${crt.leaf.notBefore.toISOString()}`);

  const ca = resolveCa(o);
  // The TLS handshake refuses an expired client certificate, so expiry forces the token path.
  const transport: Transport = o.mtls === false || now >= crt.leaf.notAfter ? 'token' : 'mtls';
  const started = performance.now();
  let res: SignResponse;
  if (transport === 'mtls') {
    const client = new CaClient({ caUrl: ca.caUrl, rootPem: ca.rootPem, cert: crt.pem, key: key.pem });
    res = await client.post<SignResponse>('/renew', EMPTY_BODY);
  } else {
    const client = new CaClient({ caUrl: ca.caUrl, rootPem: ca.rootPem });
    const token = await mintRenewToken({ chain: crt.chain, key: key.key, audience: `${client.origin}/1.0/renew` });
    res = await client.post<SignResponse>('/renew', EMPTY_BODY, { authorization: `Bearer ${token}` });
  }
  const latencyMs = performance.now() - started;
  const { chain, leaf } = checkedChain(res, '/renew', spkiDer(key.key));
  replaceFile(outFile, chain.join(''));
  return { renewed: true, old: crt.leaf, leaf, outFile, transport, latencyMs };
}

export interface RekeyOptions extends ClientFlags {
  crtFile: string;
  keyFile: string;
  force?: boolean;
  expiresIn?: number;
  /** Key for the new certificate; default the same type, curve or size as the old key. */
  spec?: KeySpec;
  now?: () => Date;
}

/** The KeySpec of an existing key, so a rekey keeps the algorithm unless told otherwise. */
export function specOf(k: KeyFile): KeySpec {
  const t = k.key.asymmetricKeyType;
  const d = k.key.asymmetricKeyDetails ?? {};
  if (t === 'ec') {
    const curve = ({ prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' } as const)[d.namedCurve as 'prime256v1'];
    if (!curve) throw new CliError(`${k.file}: unsupported EC curve ${d.namedCurve}`);
    return { kty: 'EC', curve };
  }
  if (t === 'rsa') return { kty: 'RSA', size: d.modulusLength ?? 2048 };
  if (t === 'ed25519') return { kty: 'OKP' };
  throw new CliError(`${k.file}: unsupported key type ${t}`);
}

/** A CSR for the new key with an empty subject: /rekey uses only its public key (api.md §1.12). */
async function rekeyCsr(privateKey: import('node:crypto').KeyObject): Promise<string> {
  const keys = await toWebKeyPair(privateKey);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys: { privateKey: keys.privateKey, publicKey: keys.publicKey },
    signingAlgorithm: keys.signAlg,
  });
  return toPem(csr.rawData, 'CERTIFICATE REQUEST');
}

export async function rekey(o: RekeyOptions): Promise<RenewResult> {
  const now = (o.now ?? (() => new Date()))();
  const { crt, key } = loadPair(o.crtFile, o.keyFile);
  if (!o.force && !needsRenewal(crt.leaf, now, o.expiresIn)) return { renewed: false, old: crt.leaf, outFile: crt.file };
  if (now >= crt.leaf.notAfter) throw new CliError(`the certificate in ${crt.file} expired on ${crt.leaf.notAfter.toISOString()}; rekey needs a valid certificate for mTLS`);

  const ca = resolveCa(o);
  const fresh = generateKeyPair(o.spec ?? specOf(key));
  const csr = await rekeyCsr(fresh.privateKey);
  const client = new CaClient({ caUrl: ca.caUrl, rootPem: ca.rootPem, cert: crt.pem, key: key.pem });
  const started = performance.now();
  const res = await client.post<SignResponse>('/rekey', { csr });
  const latencyMs = performance.now() - started;
  const { chain, leaf } = checkedChain(res, '/rekey', spkiDer(fresh.privateKey));
  replacePair({ path: key.file, data: unencryptedPem(fresh.privateKey) }, { path: crt.file, data: chain.join('') });
  return { renewed: true, old: crt.leaf, leaf, outFile: crt.file, transport: 'mtls', latencyMs };
}
