// CRL building, one of the house rule's sanctioned hot-path exceptions to "no hand-written DER".
// @peculiar/x509's X509CrlGenerator checks every entry against every other for duplicate serials
// (O(n²): 6 s for 10 000 entries, ~10 min for 100 000), and even its schema classes alone took
// 22 s for 100 000. Serials in the ledger are unique by construction, so only the revoked list is
// written by hand (pki/der.ts); see buildCrl.
import { sign as nodeSign } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import * as asn1X509 from '@peculiar/asn1-x509';
import type { RevokedEntry } from '../ledger/ledger.js';
import { x509 } from '../pki/x509.js';
import { readTlv, seq, time, uint } from '../pki/der.js';
import { issuerDigest, type Issuer } from './profiles.js';

export interface CrlParams {
  issuer: Issuer;
  number: number;
  thisUpdate: Date;
  nextUpdate: Date;
  entries: RevokedEntry[];
  /** Issuing distribution point; only set it when leaves carry the same URL as their CDP. */
  idpUrl?: string;
}

/** The CRL extensions, in the order the CRL carries them: AKI, CRL number, then IDP. */
export function crlExtensions(p: Pick<CrlParams, 'issuer' | 'number' | 'idpUrl'>): x509.Extension[] {
  const exts: x509.Extension[] = [
    new x509.AuthorityKeyIdentifierExtension(p.issuer.keyId),
    new x509.Extension(asn1X509.id_ce_cRLNumber, false, AsnConvert.serialize(new asn1X509.CRLNumber(p.number))),
  ];
  if (p.idpUrl) {
    const idp = new asn1X509.IssuingDistributionPoint({
      distributionPoint: new asn1X509.DistributionPointName({ fullName: [new asn1X509.GeneralName({ uniformResourceIdentifier: p.idpUrl })] }),
    });
    exts.push(new x509.Extension(asn1X509.id_ce_issuingDistributionPoint, true, AsnConvert.serialize(idp)));
  }
  return exts;
}

/** A serial in decimal as the hex of the positive INTEGER content bytes X.509 wants. */
function serialHex(decimal: string): string {
  let hex = BigInt(decimal).toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  // A high first nibble means the sign bit: a zero byte keeps the number positive.
  return hex.charCodeAt(0) >= 0x38 ? `00${hex}` : hex;
}

const algorithmCache = new WeakMap<Issuer, asn1X509.AlgorithmIdentifier>();

/** The issuer's signature AlgorithmIdentifier, as the library encodes it (learned from an empty CRL). */
async function signatureAlgorithm(issuer: Issuer): Promise<asn1X509.AlgorithmIdentifier> {
  let alg = algorithmCache.get(issuer);
  if (!alg) {
    const probe = await x509.X509CrlGenerator.create({ issuer: issuer.cert.subjectName, signingKey: issuer.key.privateKey, signingAlgorithm: issuer.key.signAlg });
    alg = AsnConvert.parse(probe.rawData, asn1X509.CertificateList).signatureAlgorithm;
    algorithmCache.set(issuer, alg);
  }
  return alg;
}

/**
 * crlEntryExtensions holding only a reasonCode, per code, as the library encodes them. RFC 5280
 * §5.3.1: "unspecified" (0) should be left out rather than stated, so it has none.
 */
const REASON_EXTENSIONS: (Buffer | null)[] = Array.from({ length: 11 }, (_, code) => (code === 0 ? null : Buffer.from(AsnConvert.serialize(new asn1X509.Extensions([
  new asn1X509.Extension({ extnID: asn1X509.id_ce_cRLReasons, critical: false, extnValue: new OctetString(AsnConvert.serialize(new asn1X509.CRLReason(code))) }),
])))));

/** Writes two decimal digits of `v` at `at`. */
function two(out: Buffer, at: number, v: number): void {
  out[at] = 0x30 + ((v / 10) | 0);
  out[at + 1] = 0x30 + (v % 10);
}

/** Bytes of a DER tag and length for `n` value bytes (pki/der.ts's tlv() writes the same). */
function headLength(n: number): number {
  return n < 0x80 ? 2 : n < 0x100 ? 3 : n < 0x10000 ? 4 : n < 0x1000000 ? 5 : 6;
}

function writeHead(out: Buffer, at: number, tag: number, n: number): number {
  const len = headLength(n) - 2;
  out[at++] = tag;
  if (len === 0) {
    out[at++] = n;
    return at;
  }
  out[at++] = 0x80 | len;
  for (let i = len - 1; i >= 0; i--) out[at++] = Math.floor(n / 256 ** i) & 0xff;
  return at;
}

/** What the revoked list will hold, measured before anything is written. */
interface ListPlan {
  serials: string[];
  reasons: (Buffer | null)[];
  /** An entry too long for the short form, encoded the slow way; undefined for the rest. */
  long: (Buffer | undefined)[];
  /** Value bytes of the revokedCertificates SEQUENCE. */
  size: number;
}

function planList(entries: RevokedEntry[]): ListPlan {
  const serials = entries.map((e) => serialHex(e.serial));
  const reasons = entries.map((e) => {
    const reason = REASON_EXTENSIONS[e.reasonCode];
    if (reason === undefined) throw new RangeError(`CRL entry ${e.serial}: reason code ${e.reasonCode} is not 0-10`);
    const y = e.revokedAt.getUTCFullYear();
    if (!(y >= 1950 && y <= 9999)) throw new RangeError(`CRL entry ${e.serial}: revocation date ${e.revokedAt.toISOString()} is outside 1950-9999`);
    return reason;
  });
  const long: (Buffer | undefined)[] = [];
  let size = 0;
  for (let i = 0; i < entries.length; i++) {
    const d = entries[i]!.revokedAt;
    const body = 2 + serials[i]!.length / 2 + (d.getUTCFullYear() < 2050 ? 15 : 17) + (reasons[i]?.length ?? 0);
    if (body <= 0x7f) {
      size += 2 + body;
      continue;
    }
    const serial = uint(Buffer.from(serials[i]!, 'hex'));
    long[i] = reasons[i] ? seq(serial, time(d), reasons[i]!) : seq(serial, time(d));
    size += long[i]!.length;
  }
  return { serials, reasons, long, size };
}

/**
 * Writes the revoked entries (userCertificate, revocationDate, the reason if any) at `at`: the
 * encodings of pki/der.ts's seq(), uint() and time(), straight into the CRL's one buffer, since
 * this is all that grows with the CRL.
 */
function writeList(out: Buffer, at: number, entries: RevokedEntry[], plan: ListPlan): number {
  for (let i = 0; i < entries.length; i++) {
    const long = plan.long[i];
    if (long) {
      at += long.copy(out, at);
      continue;
    }
    const hex = plan.serials[i]!;
    const serialLen = hex.length / 2;
    const reason = plan.reasons[i];
    const d = entries[i]!.revokedAt;
    const year = d.getUTCFullYear();
    out[at++] = 0x30;
    out[at++] = 2 + serialLen + (year < 2050 ? 15 : 17) + (reason?.length ?? 0);
    out[at++] = 0x02;
    out[at++] = serialLen;
    at += out.write(hex, at, 'hex');
    if (year < 2050) {
      out[at++] = 0x17;
      out[at++] = 13;
      two(out, at, year % 100);
      at += 2;
    } else {
      out[at++] = 0x18;
      out[at++] = 15;
      two(out, at, (year / 100) | 0);
      two(out, at + 2, year % 100);
      at += 4;
    }
    two(out, at, d.getUTCMonth() + 1);
    two(out, at + 2, d.getUTCDate());
    two(out, at + 4, d.getUTCHours());
    two(out, at + 6, d.getUTCMinutes());
    two(out, at + 8, d.getUTCSeconds());
    out[at + 10] = 0x5a; // 'Z'
    at += 11;
    if (reason) at += reason.copy(out, at);
  }
  return at;
}

/** Room kept after the TBS for signatureAlgorithm and the signature (RSA-16384 fits). */
const TAIL_ROOM = 4096;

/**
 * The signed CRL, as one buffer of its own (not a view into Node's pool, so its ArrayBuffer can
 * be transferred). Everything but the revoked list (version, algorithm, issuer, times,
 * extensions) is encoded by @peculiar/asn1-x509; the list, which is all that grows, is written
 * by hand into the CRL's only large allocation: the library's schema objects took 22 s for
 * 100 000 entries, and in a VM every extra copy of megabytes costs page faults.
 * test/unit/crl.test.ts holds the result byte-identical to X509CrlGenerator's.
 */
export async function buildCrl(p: CrlParams): Promise<Buffer<ArrayBuffer>> {
  const signature = await signatureAlgorithm(p.issuer);
  const head = new asn1X509.TBSCertList({
    version: asn1X509.Version.v2,
    signature,
    issuer: AsnConvert.parse(p.issuer.cert.subjectName.toArrayBuffer(), asn1X509.Name),
    thisUpdate: new asn1X509.Time(p.thisUpdate),
    nextUpdate: new asn1X509.Time(p.nextUpdate),
    crlExtensions: crlExtensions(p).map((e) => AsnConvert.parse(e.rawData, asn1X509.Extension)),
  });
  const headDer = Buffer.from(AsnConvert.serialize(head));
  const outer = readTlv(headDer, 0);
  const fields: Buffer[] = [];
  for (let at = outer!.start; at < outer!.end;) {
    const t = readTlv(headDer, at)!;
    fields.push(headDer.subarray(at, t.end));
    at = t.end;
  }
  // version, signature, issuer, thisUpdate, nextUpdate, [0] crlExtensions: the list goes before [0].
  if (outer?.tag !== 0x30 || fields.length !== 6 || fields[5]![0] !== 0xa0) throw new Error('CRL: the library encoded an unexpected TBSCertList');
  const sigAlg = fields[1]!;
  const plan = p.entries.length ? planList(p.entries) : null;
  const listTlv = plan ? headLength(plan.size) + plan.size : 0;
  const tbsBody = outer.end - outer.start + listTlv;
  const tbsLen = headLength(tbsBody) + tbsBody;
  // The outer SEQUENCE's head is at most 6 bytes; it is written once the signature's length is known.
  const buf = Buffer.allocUnsafeSlow(6 + tbsLen + sigAlg.length + TAIL_ROOM);
  let at = writeHead(buf, 6, 0x30, tbsBody);
  for (const f of fields.slice(0, 5)) at += f.copy(buf, at);
  if (plan) {
    at = writeHead(buf, at, 0x30, plan.size);
    at = writeList(buf, at, p.entries, plan);
  }
  at += fields[5]!.copy(buf, at);
  if (at !== 6 + tbsLen) throw new Error('CRL: the revoked list came out a different size than planned');
  const sig = nodeSign(issuerDigest(p.issuer), buf.subarray(6, at), p.issuer.signer);
  if (sigAlg.length + 6 + sig.length > TAIL_ROOM) throw new Error('CRL: the signature does not fit');
  at += sigAlg.copy(buf, at);
  at = writeHead(buf, at, 0x03, sig.length + 1);
  buf[at++] = 0;
  at += sig.copy(buf, at);
  const total = at - 6;
  const begin = 6 - headLength(total);
  writeHead(buf, begin, 0x30, total);
  return Buffer.from(buf.buffer, begin, at - begin);
}
