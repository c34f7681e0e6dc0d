// What the ledger records of a certificate just built. The fast path knows every fact already;
// only library-built certificates (renew, rekey) are read back.
import { x509 } from '../pki/x509.js';

/** What the ledger needs of a certificate just built, known without parsing it again. */
export interface IssuedFacts { der: Uint8Array; serialHex: string; subject: string; sans: string[]; notBefore: Date; notAfter: Date }

/** Certificates carry whole seconds; the ledger should hold the same instants. */
export function certificateTimes(v: { notBefore: Date; notAfter: Date }): { notBefore: Date; notAfter: Date } {
  const s = (d: Date) => new Date(Math.floor(d.getTime() / 1000) * 1000);
  return { notBefore: s(v.notBefore), notAfter: s(v.notAfter) };
}

/** Facts of a library-built certificate (renew, rekey), read back from it. */
export function factsOf(c: x509.X509Certificate): IssuedFacts {
  const san = c.getExtension(x509.SubjectAlternativeNameExtension);
  return {
    der: new Uint8Array(c.rawData), serialHex: c.serialNumber, subject: c.subjectName.getField('CN')[0] ?? '',
    sans: san ? san.names.items.map((n) => n.value) : [], notBefore: c.notBefore, notAfter: c.notAfter,
  };
}
