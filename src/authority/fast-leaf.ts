// The issuance hot path: step-ca's default leaf (profiles.ts createLeafCertificate) assembled from
// a per-issuer template with a minimal DER writer and signed with node:crypto. @peculiar/x509's
// pure-JS ASN.1 costs milliseconds per leaf; this costs tens of microseconds plus the signature.
//
// The house rule forbids hand-written ASN.1 except here, and only because
// test/unit/fast-leaf.test.ts holds the TBSCertificate byte-identical to createLeafCertificate's
// over randomized requests. Every fixed part (version, signature AlgorithmIdentifier, issuer
// Name, KU, EKU, AKI) is sliced out of reference certificates the library builds in create(),
// which also builds one full request both ways and refuses to return a template that disagrees.
//
// Where the reference encodes something wrong, this refuses with a CaError instead of copying
// it (see the test's "refusals" section): non-ASCII in IA5String names (the library keeps only
// the low byte of each UTF-16 unit), IPv6 with an embedded IPv4 or a zone (silently mis-encoded), times outside 1950–9999 (RFC 5280's
// UTCTime range, and garbage in the library), an empty subject without SANs, a zero serial
// (the library swaps in a random one).
import { X509Certificate, createHash, createPublicKey, sign as nodeSign, type KeyObject } from 'node:crypto';
import * as asn1X509 from '@peculiar/asn1-x509';
import { badRequest, internal } from '../errors.js';
import type { San } from '../pki/names.js';
import { oid, readTlv, seq, smallUint, tlv, uint } from '../pki/der.js';
import { readSpki, serialMagnitude, validityTime } from './leaf-fields.js';
import { renewedTbs, type RenewRequest } from './fast-renew.js';
import { signBytes } from '../pki/signature-work.js';
import { createLeafCertificate, issuerDigest, type Issuer, type LeafRequest } from './profiles.js';
import { PROVISIONER_EXTENSION_OID, type ProvisionerInfo } from './provisioner-extension.js';

const OID_CN = oid('2.5.4.3');
const OID_SKI = oid(asn1X509.id_ce_subjectKeyIdentifier);
const OID_SAN = oid(asn1X509.id_ce_subjectAltName);
const OID_CDP = oid(asn1X509.id_ce_cRLDistributionPoints);
const OID_AIA = oid(asn1X509.id_pe_authorityInfoAccess);
const OID_OCSP = oid(asn1X509.id_ad_ocsp);
const OID_PROVISIONER = oid(PROVISIONER_EXTENSION_OID);
const CRITICAL = Buffer.from([0x01, 0x01, 0xff]);
const EMPTY_NAME = Buffer.from([0x30, 0x00]);
const SAN_TAG: Record<San['type'], number> = { email: 0x81, dns: 0x82, url: 0x86, ip: 0x87 };

export interface FastLeaf {
  /** The certificate; like any small Buffer it may be a view into Node's pool (mind byteOffset). */
  der: Buffer<ArrayBuffer>;
  /** The serial as x509.X509Certificate#serialNumber reads it back (lowercase hex, no sign byte). */
  serialHex: string;
}

interface Tlv { tag: number; start: number; end: number; raw: Buffer }

function children(buf: Buffer, start: number, end: number): Tlv[] {
  const out: Tlv[] = [];
  for (let at = start; at < end;) {
    const t = readTlv(buf, at);
    if (!t || t.end > end) throw internal('fast leaf: cannot read the reference certificate');
    out.push({ ...t, raw: buf.subarray(at, t.end) });
    at = t.end;
  }
  return out;
}

/** A Certificate's TBSCertificate, its fields (offsets into `buf`) and the outer signatureAlgorithm. */
function tbsParts(der: ArrayBuffer | Buffer): { buf: Buffer; tbs: Buffer; fields: Tlv[]; outerAlg: Buffer } {
  const buf = Buffer.isBuffer(der) ? der : Buffer.from(der);
  const [cert] = children(buf, 0, buf.length);
  const [tbs, alg] = children(buf, cert!.start, cert!.end);
  return { buf, tbs: tbs!.raw, fields: children(buf, tbs!.start, tbs!.end), outerAlg: alg!.raw };
}

export class LeafTemplate {
  private constructor(
    private readonly version: Buffer,
    private readonly sigAlg: Buffer,
    private readonly issuerName: Buffer,
    /** KeyUsage extension DER: [non-RSA, RSA]. */
    private readonly keyUsage: [Buffer, Buffer],
    private readonly extKeyUsage: Buffer,
    private readonly authorityKeyId: Buffer,
    private readonly hash: string | null,
    private readonly signer: KeyObject,
  ) {}

  static async create(issuer: Issuer): Promise<LeafTemplate> {
    const base: LeafRequest = {
      serialHex: '01', commonName: 'probe', sans: [], spki: issuer.cert.publicKey.rawData,
      notBefore: new Date('2020-01-01T00:00:00Z'), notAfter: new Date('2021-01-01T00:00:00Z'), rsa: false, provisioner: null,
    };
    const plain = tbsParts((await createLeafCertificate(base, issuer)).rawData);
    const rsa = tbsParts((await createLeafCertificate({ ...base, rsa: true }, issuer)).rawData);
    const [version, , sigAlg, issuerName, , , , extsWrap] = plain.fields;
    const exts = children(plain.buf, extsWrap!.start, extsWrap!.end);
    const [ku, eku, , aki] = children(plain.buf, exts[0]!.start, exts[0]!.end);
    const rsaExts = children(rsa.buf, rsa.fields[7]!.start, rsa.fields[7]!.end);
    const [rsaKu] = children(rsa.buf, rsaExts[0]!.start, rsaExts[0]!.end);
    if (version?.tag !== 0xa0 || extsWrap?.tag !== 0xa3 || !sigAlg!.raw.equals(plain.outerAlg) || !ku || !eku || !aki || !rsaKu) {
      throw internal('fast leaf: the reference certificate has an unexpected shape');
    }
    const copy = (t: Tlv) => Buffer.from(t.raw);
    const template = new LeafTemplate(copy(version), copy(sigAlg!), copy(issuerName!), [copy(ku), copy(rsaKu)], copy(eku), copy(aki), issuerDigest(issuer), issuer.signer);

    // Self-check on start-up: one request touching every part of the writer, built both ways.
    const full: LeafRequest = {
      ...base, serialHex: '80ff', commonName: 'probe é', rsa: true,
      sans: [{ type: 'dns', value: 'a.example' }, { type: 'ip', value: '10.0.0.1' }, { type: 'ip', value: '2001:db8::1' }, { type: 'email', value: 'a@example.com' }, { type: 'url', value: 'spiffe://example/x' }],
      notAfter: new Date('2051-01-01T00:00:00Z'), provisioner: { type: 1, name: 'probe', credentialId: 'kid' },
      crlDistributionPoints: ['http://example/crl'], ocspServers: ['http://example/ocsp'],
    };
    const ours = template.build(full);
    const reference = tbsParts((await createLeafCertificate(full, issuer)).rawData).tbs;
    if (!tbsParts(ours.der).tbs.equals(reference)) throw internal('fast leaf: the template disagrees with @peculiar/x509 on the probe certificate');
    if (!new X509Certificate(ours.der).verify(createPublicKey(issuer.signer))) throw internal('fast leaf: the probe certificate does not verify');
    return template;
  }

  /** Builds and signs one leaf (synchronous: the signature runs on the calling thread). */
  build(req: LeafRequest): FastLeaf {
    const { tbs, serialHex } = this.tbs(req);
    return { der: this.wrap(tbs, nodeSign(this.hash, tbs, this.signer)), serialHex };
  }

  /** The same, with the signature made where `stepstone.signatures` puts it (signature-work.ts). */
  buildAsync(req: LeafRequest): Promise<FastLeaf> {
    const { tbs, serialHex } = this.tbs(req);
    return this.signPlaced(tbs, serialHex);
  }

  /** createRenewedCertificate's output for our own leaf `old`, or null when the library must build it. */
  renew(old: Uint8Array, o: RenewRequest): FastLeaf | null {
    const built = this.renewedTbs(old, o);
    return built && { der: this.wrap(built.tbs, nodeSign(this.hash, built.tbs, this.signer)), serialHex: built.serialHex };
  }

  /** renew's output with the signature made as buildAsync's; null as renew. */
  renewAsync(old: Uint8Array, o: RenewRequest): Promise<FastLeaf> | null {
    const built = this.renewedTbs(old, o);
    return built && this.signPlaced(built.tbs, built.serialHex);
  }

  private renewedTbs(old: Uint8Array, o: RenewRequest): ReturnType<typeof renewedTbs> {
    const { version, sigAlg, issuerName, authorityKeyId } = this;
    return renewedTbs(old, o, { version, sigAlg, issuerName, authorityKeyId });
  }

  private async signPlaced(tbs: Buffer, serialHex: string): Promise<FastLeaf> {
    return { der: this.wrap(tbs, await signBytes(this.hash, tbs, this.signer)), serialHex };
  }

  private wrap(tbs: Buffer, sig: Buffer): Buffer<ArrayBuffer> {
    return seq(tbs, this.sigAlg, tlv(0x03, Buffer.from([0]), sig));
  }

  private tbs(req: LeafRequest): { tbs: Buffer; serialHex: string } {
    const serial = serialMagnitude(req.serialHex);
    if (req.commonName === '' && req.sans.length === 0) throw badRequest('a certificate with an empty subject needs at least one subject alternative name');
    const { der: spki, key } = readSpki(req.spki);
    const exts: Buffer[] = [
      this.keyUsage[req.rsa ? 1 : 0],
      this.extKeyUsage,
      seq(OID_SKI, tlv(0x04, tlv(0x04, createHash('sha1').update(key).digest()))),
      this.authorityKeyId,
    ];
    if (req.ocspServers?.length) exts.push(seq(OID_AIA, tlv(0x04, seq(...req.ocspServers.map((u) => seq(OID_OCSP, ia5(0x86, u, 'OCSP URL')))))));
    if (req.sans.length) {
      const names = seq(...req.sans.map(generalName));
      exts.push(req.commonName === '' ? seq(OID_SAN, CRITICAL, tlv(0x04, names)) : seq(OID_SAN, tlv(0x04, names)));
    }
    if (req.crlDistributionPoints?.length) {
      exts.push(seq(OID_CDP, tlv(0x04, seq(...req.crlDistributionPoints.map((u) => seq(tlv(0xa0, tlv(0xa0, ia5(0x86, u, 'CRL URL')))))))));
    }
    if (req.provisioner) exts.push(provisionerExtension(req.provisioner));
    const tbs = seq(
      this.version, uint(serial), this.sigAlg, this.issuerName,
      seq(validityTime(req.notBefore), validityTime(req.notAfter)),
      subjectName(req.commonName), spki, tlv(0xa3, seq(...exts)),
    );
    return { tbs, serialHex: serial.toString('hex') };
  }
}

const templates = new WeakMap<Issuer, Promise<LeafTemplate>>();

/** createLeafCertificate's output as DER, from a template cached per issuer. */
export async function buildLeafFast(req: LeafRequest, issuer: Issuer): Promise<FastLeaf> {
  let t = templates.get(issuer);
  if (!t) {
    t = LeafTemplate.create(issuer);
    templates.set(issuer, t);
    t.catch(() => templates.delete(issuer));
  }
  return (await t).build(req);
}

const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** CN only, PrintableString when it fits and UTF8String otherwise, as @peculiar/x509's Name does. */
function subjectName(cn: string): Buffer {
  if (cn === '') return EMPTY_NAME;
  if (LONE_SURROGATE.test(cn)) throw badRequest('the common name is not valid Unicode');
  const value = PRINTABLE.test(cn) ? tlv(0x13, Buffer.from(cn, 'latin1')) : tlv(0x0c, Buffer.from(cn, 'utf8'));
  return seq(tlv(0x31, seq(OID_CN, value)));
}

function ia5(tag: number, s: string, what: string): Buffer {
  if (/[^\x00-\x7f]/.test(s)) throw badRequest(`${what} ${JSON.stringify(s)} is not ASCII`);
  return tlv(tag, Buffer.from(s, 'latin1'));
}

function generalName(san: San): Buffer {
  const tag = SAN_TAG[san.type];
  if (tag === undefined) throw badRequest(`unsupported subject alternative name type ${String(san.type)}`);
  return san.type === 'ip' ? tlv(tag, ipBytes(san.value)) : ia5(tag, san.value, 'subject alternative name');
}

/** IPv4 dotted decimal or IPv6 hex groups with at most one '::'; nothing else (no zone, no embedded IPv4). */
function ipBytes(ip: string): Buffer {
  const bad = () => badRequest(`invalid IP address ${JSON.stringify(ip)}`);
  if (/^(\d{1,3}\.){3}\d{1,3}$/.test(ip)) {
    const parts = ip.split('.').map((p) => parseInt(p, 10));
    if (parts.some((n) => n > 255)) throw bad();
    return Buffer.from(parts);
  }
  const halves = ip.split('::');
  if (halves.length > 2) throw bad();
  const groups = (h: string | undefined) => (h ? h.split(':') : []);
  let all = groups(halves[0]);
  if (halves.length === 2) {
    const right = groups(halves[1]);
    const missing = 8 - all.length - right.length;
    if (missing < 0) throw bad();
    all = [...all, ...Array<string>(missing).fill('0'), ...right];
  }
  if (all.length !== 8) throw bad();
  const out = Buffer.alloc(16);
  all.forEach((g, i) => {
    const v = /^[0-9a-f]+$/i.test(g) ? parseInt(g, 16) : NaN;
    if (!(v <= 0xffff)) throw bad();
    out.writeUInt16BE(v, 2 * i);
  });
  return out;
}

function provisionerExtension(p: ProvisionerInfo): Buffer {
  const value = seq(smallUint(p.type), tlv(0x04, Buffer.from(p.name, 'utf8')), tlv(0x04, Buffer.from(p.credentialId, 'utf8')));
  return seq(OID_PROVISIONER, tlv(0x04, value));
}

