// A PKCS#10 request as the CA sees it: verified self-signature, subject CN, SANs by type and
// an acceptable public key. Anything else in the CSR is ignored, as step-ca's default does.
import { createPublicKey, KeyObject, verify as nodeVerify, webcrypto } from 'node:crypto';
import { x509 } from './x509.js';
import { pemBlocks } from './pem.js';
import type { SanType } from './names.js';
import { readCsrFast, type FastCsr } from './csr-fast.js';
import { verifySignature } from './signature-work.js';
import { readTlv } from './der-reader.js';
import { notCanonicalAs, spkiProblem } from './spki-policy.js';

export interface ParsedCsr {
  der: ArrayBuffer;
  commonName: string;
  sans: Record<SanType, string[]>;
  /** SubjectPublicKeyInfo DER. */
  spki: ArrayBuffer;
  keyType: 'ec' | 'rsa' | 'ed25519';
}

export class CsrError extends Error {}

/** Parses and verifies a PEM CSR; throws CsrError with a reason fit to show the requester. */
export async function parseCsr(pem: string): Promise<ParsedCsr> {
  const der = csrDer(pem);
  const fast = readCsrFast(new Uint8Array(der));
  // Only a success leaves the fast path: every refusal is worded by the reference parse.
  return (fast && await acceptFast(der, fast)) || parseCsrDer(der);
}

/** The reference path: every CSR through @peculiar/x509 (also the fast reader's fallback). */
export async function parseCsrWithLibrary(pem: string): Promise<ParsedCsr> {
  return parseCsrDer(csrDer(pem));
}

// Exactly one block and nothing around it but whitespace; the body canonical base64 (checked below).
const ONE_BLOCK = /^\s*-----BEGIN (NEW )?CERTIFICATE REQUEST-----([A-Za-z0-9+/=\s]*)-----END (NEW )?CERTIFICATE REQUEST-----\s*$/;

function csrDer(pem: string): ArrayBuffer {
  const blocks = [...pemBlocks(pem, 'CERTIFICATE REQUEST'), ...pemBlocks(pem, 'NEW CERTIFICATE REQUEST')];
  if (blocks.length !== 1) throw new CsrError('csr must be one PEM block of type CERTIFICATE REQUEST');
  const m = ONE_BLOCK.exec(pem);
  if (!m || m[1] !== m[3]) throw new CsrError('invalid csr: there is text around its PEM block');
  const body = m[2]!.replace(/\s+/g, '');
  const der = blocks[0]!;
  if (Buffer.from(der).toString('base64') !== body) throw new CsrError('invalid csr: its PEM body is not canonical base64');
  // The library would read the first structure and ignore the rest; a request is its DER, whole.
  const top = readTlv(new Uint8Array(der), 0, der.byteLength);
  if (top && top.end !== der.byteLength) throw new CsrError(`invalid csr: ${der.byteLength - top.end} bytes after its DER`);
  return der;
}

async function acceptFast(der: ArrayBuffer, csr: FastCsr): Promise<ParsedCsr | null> {
  const spki = der.slice(csr.spki.start, csr.spki.end);
  let found: { key: KeyObject; keyType: ParsedCsr['keyType'] };
  try {
    found = csr.ec ? { key: await importPoint(csr.ec), keyType: 'ec' as const } : checkKey(spki);
  } catch {
    return null;
  }
  if (!(await verifiesFast(csr, found.key))) return null;
  return { der, commonName: csr.commonName, sans: csr.sans, spki, keyType: found.keyType };
}

/**
 * A CSR's EC key from its point, through WebCrypto's raw import: with the one verification it is
 * used for, 84 µs per P-256 key against 106 for a JWK import and 240 for SPKI DER under OpenSSL 3
 * (bench/keyimport.mts). The import refuses a point that is not on the curve; every curve we take
 * has cofactor 1, so such a point is a valid key.
 */
async function importPoint(ec: NonNullable<FastCsr['ec']>): Promise<KeyObject> {
  return KeyObject.from(await webcrypto.subtle.importKey('raw', ec.point, { name: 'ECDSA', namedCurve: ec.crv }, false, ['verify']));
}

/** The self-signature, checked where `stepstone.signatures` puts it (signature-work.ts). */
function verifiesFast(csr: FastCsr, key: KeyObject): Promise<boolean> {
  const t = key.asymmetricKeyType;
  const a = csr.algorithm;
  const fits = (a.kind === 'ecdsa' && t === 'ec') || (a.kind === 'rsa' && t === 'rsa') || (a.kind === 'ed25519' && t === 'ed25519');
  if (!fits) return Promise.resolve(false);
  return verifySignature(a.hash, csr.tbs, key, csr.signature);
}

async function parseCsrDer(der: ArrayBuffer): Promise<ParsedCsr> {
  try {
    // The library decodes lazily: the public key, names and extensions are parsed on first
    // access, so a malformed part throws from any of these lines, not only the constructor.
    const csr = new x509.Pkcs10CertificateRequest(der);
    const { key, keyType } = checkKey(csr.publicKey.rawData);
    if (!(await verifies(csr, key))) throw new CsrError('invalid csr: its signature does not verify');
    return { der, commonName: csr.subjectName.getField('CN')[0] ?? '', sans: readSans(csr), spki: csr.publicKey.rawData, keyType };
  } catch (e) {
    if (e instanceof CsrError) throw e;
    throw new CsrError('invalid csr: cannot parse it');
  }
}

/**
 * The CSR's self-signature. The library parses; node:crypto verifies with the key already made for
 * the key policy — ~4x cheaper than the library's WebCrypto import per request (/sign hot path).
 * Algorithms node is not told how to verify here (RSA-PSS) go to the library.
 */
async function verifies(csr: x509.Pkcs10CertificateRequest, key: KeyObject): Promise<boolean> {
  const alg = csr.signatureAlgorithm as { name: string; hash?: { name: string } };
  const hash = alg.hash?.name.replace('-', '').toLowerCase();
  // The raw CertificationRequestInfo the library keeps from parsing (typed private in 2.2.0).
  const raw = (csr as unknown as { tbs?: ArrayBuffer }).tbs;
  if (!raw) return csr.verify().catch(() => false);
  const tbs = Buffer.from(raw);
  const sig = Buffer.from(csr.signature);
  try {
    if (alg.name === 'ECDSA' && hash && key.asymmetricKeyType === 'ec') return nodeVerify(hash, tbs, key, sig);
    if (alg.name === 'RSASSA-PKCS1-v1_5' && hash && key.asymmetricKeyType === 'rsa') return nodeVerify(hash, tbs, key, sig);
    if (alg.name === 'Ed25519' && key.asymmetricKeyType === 'ed25519') return nodeVerify(null, tbs, key, sig);
    return await csr.verify();
  } catch {
    return false;
  }
}

/**
 * The key policy: a type and size we issue for, in the one canonical encoding (spki-policy.ts).
 * The fast reader's EC keys skip this: it takes only a named curve and an uncompressed point of
 * the curve's size in strict DER, which is that encoding.
 */
function checkKey(spki: ArrayBuffer): { key: KeyObject; keyType: ParsedCsr['keyType'] } {
  const problem = spkiProblem(spki);
  if (problem) throw new CsrError(`invalid csr: ${problem}`);
  const found = importKey(spki);
  const encoding = notCanonicalAs(spki, found.key);
  if (encoding) throw new CsrError(`invalid csr: ${encoding}`);
  return found;
}

function importKey(spki: ArrayBuffer): { key: KeyObject; keyType: ParsedCsr['keyType'] } {
  let key;
  try {
    key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch {
    throw new CsrError('invalid csr: unsupported public key');
  }
  const t = key.asymmetricKeyType;
  if (t === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 2048) throw new CsrError(`invalid csr: RSA keys must be at least 2048 bits, this one has ${bits}`);
    return { key, keyType: 'rsa' };
  }
  if (t === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (!['prime256v1', 'secp384r1', 'secp521r1'].includes(curve ?? '')) throw new CsrError(`invalid csr: unsupported EC curve ${curve}`);
    return { key, keyType: 'ec' };
  }
  if (t === 'ed25519') return { key, keyType: 'ed25519' };
  throw new CsrError(`invalid csr: unsupported key type ${t}`);
}

function readSans(csr: x509.Pkcs10CertificateRequest): Record<SanType, string[]> {
  const out: Record<SanType, string[]> = { dns: [], ip: [], email: [], url: [] };
  const ext = csr.getExtension('2.5.29.17');
  if (!ext) return out;
  let names;
  try {
    names = new x509.SubjectAlternativeNameExtension(ext.rawData).names.items;
  } catch {
    throw new CsrError('invalid csr: unreadable subject alternative names');
  }
  for (const n of names) {
    if (n.type === 'dns' || n.type === 'ip' || n.type === 'email' || n.type === 'url') out[n.type].push(n.value);
    else throw new CsrError(`invalid csr: unsupported subject alternative name type ${n.type}`);
  }
  return out;
}
