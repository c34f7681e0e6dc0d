// A CRL read with the strict TLV reader, for `ca crl`: @peculiar/x509 (asn1js) took 11.7 s to
// parse a 100 000-entry CRL, most of it building an object per node of the revoked list. This
// reads the list's entries (serial, date, reason) straight from the bytes and hands the library
// a "skeleton" — the same CRL without its list — for the names, dates and extensions, which are
// small. The skeleton's signature no longer matches, so the caller verifies the real TBS bytes.
// Any shape this does not read answers null and the caller uses the library on the whole CRL;
// test/unit/crl.test.ts holds it equal to the library and to `openssl crl` on the same bytes.
import { children, readSignedEnvelope, readTlv, valueEquals, type Tlv } from './der-reader.js';
import { magnitudeHex, readTime } from './certificate-parts.js';
import { seq, tlv } from './der.js';

export interface CrlEntry {
  /** Lower-case hex of the serial's magnitude, without leading zero bytes. */
  serialHex: string;
  revocationDate: Date;
  /** The CRLReason code, or null when the entry states none. */
  reason: number | null;
}

export interface CrlParts {
  /** The DER of the TBSCertList: what the signature covers. */
  tbs: Uint8Array;
  /** The outer signatureAlgorithm, whole. */
  signatureAlgorithm: Uint8Array;
  /** The signature field inside the TBSCertList, whole; X.509 requires it to equal the outer one. */
  innerAlgorithm: Uint8Array;
  /** The signature bits (BIT STRING value without its unused-bits byte). */
  signature: Uint8Array;
  /** How many revokedCertificates entries, each already checked for shape. */
  entryCount: number;
  /** The entries as values (built on demand: `ca crl` needs only the count). */
  entries(): CrlEntry[];
  /** The same CRL without revokedCertificates (its signature no longer covers it). */
  skeleton: Uint8Array;
}

/** OID 2.5.29.21 (id-ce-cRLReasons), value bytes. */
const REASON_OID = Buffer.from([0x55, 0x1d, 0x15]);

export function readCrlParts(der: Uint8Array): CrlParts | null {
  const envelope = readSignedEnvelope(der);
  if (!envelope) return null;
  const { tbs, alg, sig } = envelope;
  const fields = children(der, tbs);
  // version (v2, required when there are extensions or entries with them), signature, issuer,
  // thisUpdate, [nextUpdate], [revokedCertificates], [0] crlExtensions.
  if (!fields || fields[0]?.tag !== 0x02) return null;
  const [, inner, issuer] = fields as [Tlv, Tlv | undefined, Tlv | undefined];
  if (inner?.tag !== 0x30 || issuer?.tag !== 0x30) return null;
  let at = 3;
  if (!fields[at] || !readTime(der, fields[at]!)) return null;
  at++;
  if (fields[at] && (fields[at]!.tag === 0x17 || fields[at]!.tag === 0x18)) {
    if (!readTime(der, fields[at]!)) return null;
    at++;
  }
  let list: Tlv | undefined;
  if (fields[at]?.tag === 0x30) list = fields[at++];
  if (fields[at]?.tag === 0xa0) at++;
  if (at !== fields.length) return null;
  const entryCount = list ? walkEntries(der, list) : 0;
  if (entryCount === null) return null;
  const bytes = (t: Tlv) => der.subarray(t.start, t.end);
  const kept = fields.filter((f) => f !== list).map(bytes);
  return {
    tbs: bytes(tbs), signatureAlgorithm: bytes(alg), innerAlgorithm: bytes(inner), signature: der.subarray(sig.body + 1, sig.end),
    entryCount,
    entries: () => {
      const out: CrlEntry[] = [];
      if (list) walkEntries(der, list, (serial, revocationDate, reason) => out.push({ serialHex: magnitudeHex(der, serial)!, revocationDate, reason }));
      return out;
    },
    skeleton: seq(tlv(0x30, ...kept), bytes(alg), bytes(sig)),
  };
}

/**
 * Checks every entry's shape (a positive minimal INTEGER, a time, at most a reason) and counts
 * them; null at the first it cannot read. Sequential TLV reads, no per-entry arrays or strings:
 * this runs 100 000 times per CRL.
 */
function walkEntries(der: Uint8Array, list: Tlv, each?: (serial: Tlv, date: Date, reason: number | null) => void): number | null {
  let n = 0;
  for (let pos = list.body; pos < list.end; n++) {
    const entry = readTlv(der, pos, list.end);
    if (!entry || entry.tag !== 0x30) return null;
    pos = entry.end;
    const serial = readTlv(der, entry.body, entry.end);
    if (!serial || serial.tag !== 0x02 || !positiveMinimal(der, serial)) return null;
    const time = readTlv(der, serial.end, entry.end);
    const date = time && timeOf(der, time);
    if (!date) return null;
    let reason: number | null = null;
    if (time!.end !== entry.end) {
      const exts = readTlv(der, time!.end, entry.end);
      reason = exts && exts.end === entry.end ? readReason(der, exts) : null;
      if (reason === null) return null;
    }
    each?.(serial, date, reason);
  }
  return n;
}

/** magnitudeHex's conditions without its string: not empty, not negative, no needless leading zero. */
function positiveMinimal(der: Uint8Array, t: Tlv): boolean {
  const len = t.end - t.body;
  if (len === 0 || der[t.body]! & 0x80) return false;
  return !(len > 1 && der[t.body] === 0 && !(der[t.body + 1]! & 0x80));
}

/** Two ASCII digits at `at` as a number, or NaN. */
function digits2(der: Uint8Array, at: number): number {
  const a = der[at]! - 0x30;
  const b = der[at + 1]! - 0x30;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : NaN;
}

/**
 * certificate-parts.ts's readTime without its regular expression and strings: the same forms
 * (RFC 5280's UTCTime and GeneralizedTime, whole seconds, Z), 100 000 times per CRL.
 */
function timeOf(der: Uint8Array, t: Tlv): Date | null {
  const n = t.end - t.body;
  let at = t.body;
  let year: number;
  if (t.tag === 0x17 && n === 13) {
    const yy = digits2(der, at);
    year = yy + (yy >= 50 ? 1900 : 2000);
    at += 2;
  } else if (t.tag === 0x18 && n === 15) {
    year = digits2(der, at) * 100 + digits2(der, at + 2);
    at += 4;
  } else {
    return null;
  }
  if (der[t.end - 1] !== 0x5a) return null;
  const mo = digits2(der, at);
  const d = digits2(der, at + 2);
  const h = digits2(der, at + 4);
  const mi = digits2(der, at + 6);
  const se = digits2(der, at + 8);
  // NaN fails every comparison below, so a non-digit anywhere is refused.
  if (!(mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h <= 23 && mi <= 59 && se <= 59 && year >= 1000)) return null;
  const ms = Date.UTC(year, mo - 1, d, h, mi, se);
  const date = new Date(ms);
  // Date.UTC rolls "Feb 30" over into March; such a date is not one.
  return date.getUTCDate() === d ? date : null;
}

/**
 * crlEntryExtensions holding exactly one non-critical reasonCode, as our CA writes them; null for
 * anything else (the caller then asks the library, which knows every extension).
 */
function readReason(der: Uint8Array, t: Tlv): number | null {
  const exts = t.tag === 0x30 ? children(der, t) : null;
  if (exts?.length !== 1 || exts[0]!.tag !== 0x30) return null;
  const f = children(der, exts[0]!);
  if (f?.length !== 2 || f[0]!.tag !== 0x06 || f[1]!.tag !== 0x04) return null;
  if (!valueEquals(der, f[0]!, REASON_OID)) return null;
  const e = readTlv(der, f[1]!.body, f[1]!.end);
  if (!e || e.tag !== 0x0a || e.end !== f[1]!.end || e.end - e.body !== 1) return null;
  const code = der[e.body]!;
  return code <= 10 ? code : null;
}
