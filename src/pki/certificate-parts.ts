// The outer shape of a DER certificate read with the strict TLV reader: what renewal needs to
// check a presented certificate (signed part, algorithms, signature, serial, validity) without
// node's X509Certificate, whose constructor alone costs ~115 µs here — twice per /renew. Any
// shape this does not read answers null and the caller uses node's parser instead.
import { children, readSignedEnvelope, type Tlv } from './der-reader.js';

export interface CertificateParts {
  /** The DER of the TBSCertificate: what the signature covers. */
  tbs: Uint8Array;
  /** The outer signatureAlgorithm, whole (SEQUENCE included). */
  signatureAlgorithm: Uint8Array;
  /** The signature field inside the TBSCertificate, whole; X.509 requires it to equal the outer one. */
  innerAlgorithm: Uint8Array;
  /** The signature bits (BIT STRING value without its unused-bits byte). */
  signature: Uint8Array;
  /** Lower-case hex of the serial's magnitude, without leading zero bytes ("0" for zero). */
  serialHex: string;
  notBefore: Date;
  notAfter: Date;
}

export function readCertificateParts(der: Uint8Array): CertificateParts | null {
  const envelope = readSignedEnvelope(der);
  if (!envelope) return null;
  const { tbs, alg, sig } = envelope;
  const fields = children(der, tbs);
  if (!fields) return null;
  const at = fields[0]?.tag === 0xa0 ? 1 : 0;
  const [serial, inner, issuer, validity, subject] = fields.slice(at, at + 5);
  if (serial?.tag !== 0x02 || inner?.tag !== 0x30 || issuer?.tag !== 0x30 || validity?.tag !== 0x30 || subject?.tag !== 0x30) return null;
  const serialHex = magnitudeHex(der, serial);
  const times = children(der, validity);
  if (serialHex === null || !times || times.length !== 2) return null;
  const notBefore = readTime(der, times[0]!);
  const notAfter = readTime(der, times[1]!);
  if (!notBefore || !notAfter) return null;
  const bytes = (t: Tlv) => der.subarray(t.start, t.end);
  return {
    tbs: bytes(tbs), signatureAlgorithm: bytes(alg), innerAlgorithm: bytes(inner), signature: der.subarray(sig.body + 1, sig.end),
    serialHex, notBefore, notAfter,
  };
}

/** A non-negative INTEGER's magnitude in hex; null for a negative or non-minimal one. */
export function magnitudeHex(der: Uint8Array, t: Tlv): string | null {
  const len = t.end - t.body;
  if (len === 0 || der[t.body]! & 0x80) return null;
  if (len > 1 && der[t.body] === 0 && !(der[t.body + 1]! & 0x80)) return null;
  const hex = Buffer.from(der.buffer, der.byteOffset + t.body, len).toString('hex').replace(/^(00)+/, '');
  return hex === '' ? '0' : hex;
}

const UTC = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/;
const GENERALIZED = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/;

/** UTCTime or GeneralizedTime in the forms RFC 5280 allows (seconds, Z); null otherwise. */
export function readTime(der: Uint8Array, t: Tlv): Date | null {
  if (t.tag !== 0x17 && t.tag !== 0x18) return null;
  const s = Buffer.from(der.buffer, der.byteOffset + t.body, t.end - t.body).toString('latin1');
  const m = (t.tag === 0x17 ? UTC : GENERALIZED).exec(s);
  if (!m) return null;
  let year = Number(m[1]);
  if (t.tag === 0x17) year += year >= 50 ? 1900 : 2000;
  const [mo, d, h, mi, se] = m.slice(2).map(Number) as [number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59) return null;
  const ms = Date.UTC(year, mo - 1, d, h, mi, se);
  // Date.UTC rolls "Feb 30" over into March; such a date is not one.
  if (new Date(ms).getUTCDate() !== d) return null;
  return new Date(ms);
}
