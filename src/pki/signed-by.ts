import { X509Certificate, createPublicKey, type KeyObject } from 'node:crypto';
import type { x509 } from './x509.js';
import { readCertificateParts } from './certificate-parts.js';
import { verifySignature } from './signature-work.js';

// The issuer's key, imported once: renew and revoke check every presented certificate against
// the same intermediate (an import costs more than the verification under OpenSSL 3).
const issuerKeys = new WeakMap<x509.X509Certificate, KeyObject>();

// The signature algorithms a CA of ours signs with, as whole AlgorithmIdentifier DER, with the
// digest node:crypto verifies them with and the key type they need. Anything else goes to
// node's X509Certificate.verify.
const ALGORITHMS = new Map<string, { digest: string | null; keyType: string }>([
  ['300a06082a8648ce3d040302', { digest: 'sha256', keyType: 'ec' }], // ecdsa-with-SHA256
  ['300a06082a8648ce3d040303', { digest: 'sha384', keyType: 'ec' }],
  ['300a06082a8648ce3d040304', { digest: 'sha512', keyType: 'ec' }],
  ['300d06092a864886f70d01010b0500', { digest: 'sha256', keyType: 'rsa' }], // sha256WithRSAEncryption
  ['300d06092a864886f70d01010c0500', { digest: 'sha384', keyType: 'rsa' }],
  ['300d06092a864886f70d01010d0500', { digest: 'sha512', keyType: 'rsa' }],
  ['300506032b6570', { digest: null, keyType: 'ed25519' }],
]);

/** True when `issuer`'s key signed `cert` (dates not considered); false on any failure. */
export async function signedBy(cert: Pick<x509.X509Certificate, 'rawData'>, issuer: x509.X509Certificate): Promise<boolean> {
  let key: KeyObject;
  try {
    key = issuerKey(issuer);
  } catch {
    return false;
  }
  const der = new Uint8Array(cert.rawData);
  const parts = readCertificateParts(der);
  return (parts && verifySignedParts(parts, key)) ?? nativeSignedBy(der, key);
}

/** The signed part, both algorithm fields and the signature of a certificate or CRL. */
export interface SignedParts { tbs: Uint8Array; signatureAlgorithm: Uint8Array; innerAlgorithm: Uint8Array; signature: Uint8Array }

/**
 * Whether `key` made the signature (where signature-work.ts puts it); null when the algorithm is not one of ours
 * or not one `key` can make (the caller then asks a full implementation).
 */
export function verifySignedParts(parts: SignedParts, key: KeyObject): Promise<boolean> | null {
  const alg = ALGORITHMS.get(Buffer.from(parts.signatureAlgorithm).toString('hex'));
  if (!alg || alg.keyType !== key.asymmetricKeyType) return null;
  // X509_verify (and X509_CRL_verify) refuse a structure whose two algorithm fields differ; so does this.
  if (!Buffer.from(parts.innerAlgorithm).equals(parts.signatureAlgorithm)) return Promise.resolve(false);
  return verifySignature(alg.digest, parts.tbs, key, parts.signature);
}

/** node's native check of the signature alone, as the library's signatureOnly was. */
export function nativeSignedBy(der: Uint8Array, key: KeyObject): boolean {
  try {
    return new X509Certificate(der).verify(key);
  } catch {
    return false;
  }
}

export function issuerKey(issuer: x509.X509Certificate): KeyObject {
  let key = issuerKeys.get(issuer);
  if (!key) {
    key = createPublicKey({ key: Buffer.from(issuer.publicKey.rawData), format: 'der', type: 'spki' });
    issuerKeys.set(issuer, key);
  }
  return key;
}
