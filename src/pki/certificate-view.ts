// What renewal, rekey and mTLS revocation need of a presented certificate: the serial, dates and
// raw bytes. Read by the strict DER reader (certificate-parts.ts), else by node's native parser;
// @peculiar/x509 would spend ~0.4 ms decoding every field. The subject is for messages only and
// is read, natively, on first use. The library's X509Certificate has the same shape, so either
// can be passed where a view is asked for.
import { X509Certificate } from 'node:crypto';
import { readCertificateParts } from './certificate-parts.js';

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
  const parts = readCertificateParts(new Uint8Array(der));
  if (!parts) return nativeView(der);
  let subject: string | undefined;
  return {
    rawData: der,
    serialNumber: parts.serialHex,
    notBefore: parts.notBefore,
    notAfter: parts.notAfter,
    get subject() {
      return (subject ??= nativeSubject(new X509Certificate(Buffer.from(der))));
    },
  };
}

/** node's parser alone: the reference the fast reading is tested against. */
export function nativeView(der: ArrayBuffer): CertificateView {
  const c = new X509Certificate(Buffer.from(der));
  return {
    rawData: der,
    serialNumber: c.serialNumber.toLowerCase(),
    notBefore: new Date(c.validFrom),
    notAfter: new Date(c.validTo),
    subject: nativeSubject(c),
  };
}

const nativeSubject = (c: X509Certificate) => c.subject.split('\n').join(', ');
