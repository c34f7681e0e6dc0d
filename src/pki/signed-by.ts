import type { x509 } from './x509.js';

/** True when `issuer`'s key signed `cert` (dates not considered); false on any failure. */
export function signedBy(cert: x509.X509Certificate, issuer: x509.X509Certificate): Promise<boolean> {
  return cert.verify({ publicKey: issuer.publicKey, signatureOnly: true }).catch(() => false);
}
