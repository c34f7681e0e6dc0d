// Fields of a leaf's TBSCertificate encoded the way @peculiar/x509 encodes them: the serial, the
// validity times and the subject public key. Shared by the fast leaf (fast-leaf.ts) and the fast
// renewal (fast-renew.ts); both are held byte-identical to the library by their tests.
import { AsnConvert } from '@peculiar/asn1-schema';
import * as asn1X509 from '@peculiar/asn1-x509';
import { badRequest, internal } from '../errors.js';
import { readTlv, time } from '../pki/der.js';

/** The serial's magnitude bytes, as the library reads a hex serial (whitespace dropped, odd length padded). */
export function serialMagnitude(hex: string): Buffer {
  let s = hex.replace(/[\n\r\t ]/g, '');
  if (!/^[0-9a-f]+$/i.test(s)) throw internal(`fast leaf: the serial is not hex: ${hex}`);
  if (s.length % 2) s = `0${s}`;
  const bytes = Buffer.from(s, 'hex');
  const first = bytes.findIndex((b) => b !== 0);
  if (first < 0) throw internal('fast leaf: the serial must be positive');
  return bytes.subarray(first);
}

export function validityTime(d: Date): Buffer {
  const y = d instanceof Date ? d.getUTCFullYear() : NaN;
  if (!(y >= 1950 && y <= 9999)) throw badRequest(`validity time out of range: ${String(d)}`);
  return time(d);
}

/**
 * The SPKI as the library would re-encode it, and its subjectPublicKey bits (what the SKI hashes).
 * DER input is used as is; anything else is canonicalized through @peculiar/asn1-x509 once.
 */
export function readSpki(spki: ArrayBuffer): { der: Uint8Array; key: Uint8Array } {
  const raw = new Uint8Array(spki);
  const direct = strictSpki(raw);
  if (direct) return direct;
  let again: ReturnType<typeof strictSpki> = null;
  try {
    again = strictSpki(new Uint8Array(AsnConvert.serialize(AsnConvert.parse(raw, asn1X509.SubjectPublicKeyInfo))));
  } catch {
    again = null;
  }
  if (!again) throw badRequest('invalid public key');
  return again;
}

function strictSpki(raw: Uint8Array): { der: Uint8Array; key: Uint8Array } | null {
  const outer = readTlv(raw, 0);
  if (!outer || outer.tag !== 0x30 || outer.end !== raw.length) return null;
  const alg = readTlv(raw, outer.start);
  if (!alg || alg.tag !== 0x30) return null;
  const id = readTlv(raw, alg.start);
  if (!id || id.tag !== 0x06 || id.end > alg.end || !minimalOid(raw.subarray(id.start, id.end))) return null;
  if (id.end !== alg.end) {
    const params = readTlv(raw, id.end);
    if (!params || params.end !== alg.end || (params.tag & 0x1f) === 0x1f) return null;
  }
  const bits = readTlv(raw, alg.end);
  if (!bits || bits.tag !== 0x03 || bits.end !== outer.end || bits.end - bits.start < 2 || raw[bits.start] !== 0) return null;
  return { der: raw, key: raw.subarray(bits.start + 1, bits.end) };
}

function minimalOid(v: Uint8Array): boolean {
  if (v.length === 0 || v[v.length - 1]! & 0x80) return false;
  for (let i = 0; i < v.length; i++) if (v[i] === 0x80 && (i === 0 || !(v[i - 1]! & 0x80))) return false;
  return true;
}
