// What renewal, rekey and mTLS revocation need of a presented certificate, read by node's
// native parser: @peculiar/x509 spends ~0.4 ms decoding every field and extension of a leaf
// that renewal only looks at the serial, dates and raw bytes of. The library's
// X509Certificate has the same shape, so either can be passed where a view is asked for.
import { X509Certificate } from 'node:crypto';

export interface CertificateView {
  readonly rawData: ArrayBuffer;
  /** Hex; compare through serialToDecimal. */
  readonly serialNumber: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** For messages: "CN=..., O=...". */
  readonly subject: string;
}

/** Throws when the DER is not a certificate. */
export function viewCertificate(der: ArrayBuffer): CertificateView {
  const c = new X509Certificate(Buffer.from(der));
  return {
    rawData: der,
    serialNumber: c.serialNumber.toLowerCase(),
    notBefore: new Date(c.validFrom),
    notAfter: new Date(c.validTo),
    subject: c.subject.split('\n').join(', '),
  };
}
