// The /sign hot path's CSR reader. @peculiar/x509 spends ~0.7 ms of CPU parsing one small P-256
// CSR and its SAN extension (bench/csrparts.mts); this reads the same fields straight from the
// DER in a few µs. It reads only the common, canonical shape and answers null to anything else —
// non-ASCII strings, unusual attributes, a second SAN extension, other name types — and then
// csr.ts uses the library. test/unit/csr-fast.test.ts holds it equal to the library on generated
// and mutated CSRs.
import { AsnIpConverter } from '@peculiar/asn1-x509';
import { OctetString } from 'asn1js';
import { oid } from './der.js';
import { asciiValue, children, readTlv, valueEquals, type Tlv } from './der-reader.js';
import type { SanType } from './names.js';

export type CsrSignatureAlgorithm =
  | { kind: 'ecdsa' | 'rsa'; hash: 'sha256' | 'sha384' | 'sha512' }
  | { kind: 'ed25519'; hash: null };

export interface FastCsr {
  commonName: string;
  sans: Record<SanType, string[]>;
  /** Offsets of the SubjectPublicKeyInfo in the DER. */
  spki: { start: number; end: number };
  /** A key on a named curve we accept: its uncompressed point (0x04, X, Y), a view into the CSR's DER. */
  ec: { crv: 'P-256' | 'P-384' | 'P-521'; point: Uint8Array } | null;
  tbs: Uint8Array;
  signature: Uint8Array;
  algorithm: CsrSignatureAlgorithm;
}

const body = (dotted: string) => oid(dotted).subarray(2);
const OID = {
  cn: body('2.5.4.3'),
  extensionRequest: body('1.2.840.113549.1.9.14'),
  san: body('2.5.29.17'),
  ecPublicKey: body('1.2.840.10045.2.1'),
};
const CURVES: { oid: Uint8Array; crv: 'P-256' | 'P-384' | 'P-521'; size: number }[] = [
  { oid: body('1.2.840.10045.3.1.7'), crv: 'P-256', size: 32 },
  { oid: body('1.3.132.0.34'), crv: 'P-384', size: 48 },
  { oid: body('1.3.132.0.35'), crv: 'P-521', size: 66 },
];
const ALGORITHMS: { oid: Uint8Array; alg: CsrSignatureAlgorithm }[] = [
  { oid: body('1.2.840.10045.4.3.2'), alg: { kind: 'ecdsa', hash: 'sha256' } },
  { oid: body('1.2.840.10045.4.3.3'), alg: { kind: 'ecdsa', hash: 'sha384' } },
  { oid: body('1.2.840.10045.4.3.4'), alg: { kind: 'ecdsa', hash: 'sha512' } },
  { oid: body('1.2.840.113549.1.1.11'), alg: { kind: 'rsa', hash: 'sha256' } },
  { oid: body('1.2.840.113549.1.1.12'), alg: { kind: 'rsa', hash: 'sha384' } },
  { oid: body('1.2.840.113549.1.1.13'), alg: { kind: 'rsa', hash: 'sha512' } },
  { oid: body('1.3.101.112'), alg: { kind: 'ed25519', hash: null } },
];

type IpAsn = Parameters<typeof AsnIpConverter.fromASN>[0];

const STRING_TAGS = new Set([0x0c, 0x13, 0x16]); // UTF8String, PrintableString, IA5String
const SAN_TAGS: Partial<Record<number, SanType>> = { 0x81: 'email', 0x82: 'dns', 0x86: 'url', 0x87: 'ip' };

/** The CSR's fields, or null when it is not in the shape this reader knows. */
export function readCsrFast(der: Uint8Array): FastCsr | null {
  const top = readTlv(der, 0, der.length);
  if (!top || top.tag !== 0x30 || top.end !== der.length) return null;
  const parts = children(der, top);
  if (!parts || parts.length !== 3) return null;
  const [info, sigAlg, sigBits] = parts as [Tlv, Tlv, Tlv];
  const fields = info.tag === 0x30 ? children(der, info) : null;
  if (!fields || fields.length !== 4) return null;
  const [version, subject, spki, attributes] = fields as [Tlv, Tlv, Tlv, Tlv];
  if (version.tag !== 0x02 || version.end - version.body !== 1 || der[version.body] !== 0) return null;
  if (attributes.tag !== 0xa0) return null;

  const commonName = readCommonName(der, subject);
  const ec = readEcKey(der, spki);
  const sans = readAttributes(der, attributes);
  const algorithm = readAlgorithm(der, sigAlg);
  if (commonName === null || ec === undefined || sans === null || algorithm === null) return null;
  if (sigBits.tag !== 0x03 || sigBits.end - sigBits.body < 2 || der[sigBits.body] !== 0) return null;
  return {
    commonName, sans, ec, algorithm,
    spki: { start: spki.start, end: spki.end },
    tbs: der.subarray(info.start, info.end),
    signature: der.subarray(sigBits.body + 1, sigBits.end),
  };
}

/** The first CN as the library prints it ('' when none); null for shapes left to the library. */
function readCommonName(der: Uint8Array, subject: Tlv): string | null {
  if (subject.tag !== 0x30) return null;
  const rdns = children(der, subject);
  if (!rdns) return null;
  let cn: string | undefined;
  for (const rdn of rdns) {
    const atvs = rdn.tag === 0x31 ? children(der, rdn) : null;
    if (!atvs || atvs.length === 0) return null;
    for (const atv of atvs) {
      const pair = atv.tag === 0x30 ? children(der, atv) : null;
      if (!pair || pair.length !== 2 || pair[0]!.tag !== 0x06) return null;
      if (!valueEquals(der, pair[0]!, OID.cn)) continue;
      if (!STRING_TAGS.has(pair[1]!.tag)) return null;
      const value = asciiValue(der, pair[1]!);
      if (value === null) return null;
      cn ??= value;
    }
  }
  return cn ?? '';
}

/** The EC point for a raw import; null for other keys (csr.ts imports those from DER); undefined when malformed. */
function readEcKey(der: Uint8Array, spki: Tlv): FastCsr['ec'] | undefined {
  const parts = spki.tag === 0x30 ? children(der, spki) : null;
  if (!parts || parts.length !== 2 || parts[0]!.tag !== 0x30 || parts[1]!.tag !== 0x03) return undefined;
  const alg = children(der, parts[0]!);
  if (!alg || alg.length < 1 || alg[0]!.tag !== 0x06) return undefined;
  if (!valueEquals(der, alg[0]!, OID.ecPublicKey)) return null;
  if (alg.length !== 2 || alg[1]!.tag !== 0x06) return null;
  const curve = CURVES.find((c) => valueEquals(der, alg[1]!, c.oid));
  const bits = parts[1]!;
  if (!curve || bits.end - bits.body !== 2 + 2 * curve.size || der[bits.body] !== 0 || der[bits.body + 1] !== 0x04) return null;
  return { crv: curve.crv, point: der.subarray(bits.body + 1, bits.end) };
}

/** SANs from the one extensionRequest attribute, if any; null for shapes left to the library. */
function readAttributes(der: Uint8Array, attributes: Tlv): Record<SanType, string[]> | null {
  const sans: Record<SanType, string[]> = { dns: [], ip: [], email: [], url: [] };
  const attrs = children(der, attributes);
  if (!attrs) return null;
  let seenRequest = false;
  for (const attr of attrs) {
    const pair = attr.tag === 0x30 ? children(der, attr) : null;
    if (!pair || pair.length !== 2 || pair[0]!.tag !== 0x06 || pair[1]!.tag !== 0x31) return null;
    if (!valueEquals(der, pair[0]!, OID.extensionRequest)) continue;
    if (seenRequest) return null;
    seenRequest = true;
    const values = children(der, pair[1]!);
    if (!values || values.length !== 1 || values[0]!.tag !== 0x30) return null;
    const extensions = children(der, values[0]!);
    if (!extensions) return null;
    let seenSan = false;
    for (const ext of extensions) {
      const f = ext.tag === 0x30 ? children(der, ext) : null;
      if (!f || f.length < 2 || f.length > 3 || f[0]!.tag !== 0x06 || f[f.length - 1]!.tag !== 0x04) return null;
      if (f.length === 3 && (f[1]!.tag !== 0x01 || f[1]!.end - f[1]!.body !== 1)) return null;
      if (!valueEquals(der, f[0]!, OID.san)) continue;
      if (seenSan || !readGeneralNames(der, f[f.length - 1]!, sans)) return null;
      seenSan = true;
    }
  }
  return sans;
}

function readGeneralNames(der: Uint8Array, octets: Tlv, out: Record<SanType, string[]>): boolean {
  const seq = readTlv(der, octets.body, octets.end);
  if (!seq || seq.tag !== 0x30 || seq.end !== octets.end) return false;
  const names = children(der, seq);
  if (!names) return false;
  for (const n of names) {
    const type = SAN_TAGS[n.tag];
    if (!type) return false;
    if (type === 'ip') {
      const len = n.end - n.body;
      if (len !== 4 && len !== 16) return false;
      // The library's own IP formatting, so the strings match its parse exactly.
      out.ip.push(AsnIpConverter.fromASN(new OctetString({ valueHex: der.slice(n.body, n.end) }) as unknown as IpAsn));
      continue;
    }
    const value = asciiValue(der, n);
    if (value === null) return false;
    out[type].push(value);
  }
  return true;
}

function readAlgorithm(der: Uint8Array, sigAlg: Tlv): CsrSignatureAlgorithm | null {
  const parts = sigAlg.tag === 0x30 ? children(der, sigAlg) : null;
  if (!parts || parts.length < 1 || parts.length > 2 || parts[0]!.tag !== 0x06) return null;
  const found = ALGORITHMS.find((a) => valueEquals(der, parts[0]!, a.oid));
  if (!found) return null;
  const params = parts[1];
  if (params && !(found.alg.kind === 'rsa' && params.tag === 0x05 && params.end === params.body)) return null;
  return found.alg;
}
