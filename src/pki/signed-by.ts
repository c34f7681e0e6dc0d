import { X509Certificate, createPublicKey, type KeyObject } from 'node:crypto';
import type { x509 } from './x509.js';

// The issuer's key, imported once: renew and revoke check every presented certificate against
// the same intermediate (an import costs more than the verification under OpenSSL 3).
const issuerKeys = new WeakMap<x509.X509Certificate, KeyObject>();

/** True when `issuer`'s key signed `cert` (dates not considered); false on any failure. */
export async function signedBy(cert: Pick<x509.X509Certificate, 'rawData'>, issuer: x509.X509Certificate): Promise<boolean> {
  try {
    let key = issuerKeys.get(issuer);
    if (!key) {
      key = createPublicKey({ key: Buffer.from(issuer.publicKey.rawData), format: 'der', type: 'spki' });
      issuerKeys.set(issuer, key);
    }
    // node's native check of the signature alone, as the library's signatureOnly was.
    return new X509Certificate(Buffer.from(cert.rawData)).verify(key);
  } catch {
    return false;
  }
}
