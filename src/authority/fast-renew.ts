// The renewal hot path: profiles.ts createRenewedCertificate's TBSCertificate, built from the
// presented certificate's own DER. A renewal keeps the subject, the key (rekey: the new one) and
// every extension, with the authority key id of today's issuer (rekey: a new subject key id);
// so those parts are copied byte for byte and only serial, issuer, validity and AKI are new.
// Anything not in the shape our own leaves have — unique ids, a critical AKI or SKI, a version
// other than v3 — answers null and goes to the library. test/unit/fast-renew.test.ts holds the
// output byte-identical to createRenewedCertificate's.
import { createHash } from 'node:crypto';
import * as asn1X509 from '@peculiar/asn1-x509';
import { children, readTlv, valueEquals, type Tlv } from '../pki/der-reader.js';
import { oid, seq, tlv, uint } from '../pki/der.js';
import { readSpki, serialMagnitude, validityTime } from './leaf-fields.js';

export interface RenewRequest { serialHex: string; notBefore: Date; notAfter: Date; newSpki?: ArrayBuffer }

/** The issuer's fixed TBS parts, from the leaf template. */
export interface IssuerParts { version: Buffer; sigAlg: Buffer; issuerName: Buffer; authorityKeyId: Buffer }

const V3 = Buffer.from([0xa0, 0x03, 0x02, 0x01, 0x02]);
const OID_SKI = oid(asn1X509.id_ce_subjectKeyIdentifier);
const OID_AKI = oid(asn1X509.id_ce_authorityKeyIdentifier);

export function renewedTbs(old: Uint8Array, o: RenewRequest, issuer: IssuerParts): { tbs: Buffer; serialHex: string } | null {
  const top = readTlv(old, 0, old.length);
  const parts = top && top.tag === 0x30 && top.end === old.length ? children(old, top) : null;
  const fields = parts?.length === 3 && parts[0]!.tag === 0x30 ? children(old, parts[0]!) : null;
  if (!fields || fields.length !== 8) return null;
  const [version, , , , , subject, spki, extsWrap] = fields as [Tlv, Tlv, Tlv, Tlv, Tlv, Tlv, Tlv, Tlv];
  if (!Buffer.from(old.subarray(version.start, version.end)).equals(V3) || subject.tag !== 0x30 || spki.tag !== 0x30 || extsWrap.tag !== 0xa3) return null;
  const extsSeq = children(old, extsWrap);
  const exts = extsSeq?.length === 1 && extsSeq[0]!.tag === 0x30 ? children(old, extsSeq[0]!) : null;
  if (!exts) return null;
  const newKey = o.newSpki ? readSpki(o.newSpki) : null;
  const out: Uint8Array[] = [];
  for (const ext of exts) {
    const f = ext.tag === 0x30 ? children(old, ext) : null;
    if (!f || f.length < 2 || f[0]!.tag !== 0x06) return null;
    const raw = old.subarray(ext.start, ext.end);
    const isAki = valueEquals(old, f[0]!, OID_AKI.subarray(2));
    const isSki = valueEquals(old, f[0]!, OID_SKI.subarray(2));
    if ((isAki || (isSki && newKey)) && f.length !== 2) return null; // critical: the library's own shape is not
    if (isAki) out.push(issuer.authorityKeyId);
    else if (isSki && newKey) out.push(seq(OID_SKI, tlv(0x04, tlv(0x04, createHash('sha1').update(newKey.key).digest()))));
    else out.push(raw);
  }
  const serial = serialMagnitude(o.serialHex);
  const tbs = seq(
    issuer.version, uint(serial), issuer.sigAlg, issuer.issuerName,
    seq(validityTime(o.notBefore), validityTime(o.notAfter)),
    old.subarray(subject.start, subject.end),
    newKey ? newKey.der : old.subarray(spki.start, spki.end),
    tlv(0xa3, seq(...out)),
  );
  return { tbs, serialHex: serial.toString('hex') };
}
