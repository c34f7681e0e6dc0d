// OCSP responder (RFC 6960): parses an OCSPRequest, answers each CertID good / revoked / unknown
// from the ledger and signs the BasicOCSPResponse with the intermediate itself (so the response
// needs no `certs`). With several issuers, the one the first CertID names signs the response and
// answers for the CertIDs that name it; any other CertID is unknown. Pure: no HTTP, no SQL. Every encoding goes through @peculiar/asn1-ocsp.
import { createHash, sign, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, CRLReason, Certificate } from '@peculiar/asn1-x509';
import {
  BasicOCSPResponse, CertID, CertStatus, OCSPRequest, OCSPResponse, OCSPResponseStatus, ResponderID,
  ResponseBytes, ResponseData, RevokedInfo, SingleResponse, id_pkix_ocsp_basic, id_pkix_ocsp_nonce,
} from '@peculiar/asn1-ocsp';
import type { StoredCertificate } from '../ledger/ledger.js';
import type { Issuer } from './profiles.js';
import type { OcspOutcome } from './observer.js';

/** One of several issuers: `owns` says whether a ledger row is one it signed (absent: every row). */
export interface OcspIssuer {
  issuer: Issuer;
  owns?(stored: StoredCertificate): boolean;
}

export interface OcspDeps {
  /** The issuer that answers when no other one is named (and the only one, without `issuers`). */
  issuer: Issuer;
  /** Every issuer of the CA, when it has several. */
  issuers?: OcspIssuer[];
  lookup(serialDecimal: string): Promise<StoredCertificate | null>;
  now: Date;
  /** How long a response may be relied on (nextUpdate − thisUpdate); 1 hour by default. */
  validityMs?: number;
  /** Told what each answer said (metrics). */
  onAnswer?: (outcome: OcspOutcome) => void;
}

export const DEFAULT_OCSP_VALIDITY_MS = 60 * 60 * 1000;

const HASHES: Record<string, string> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

/** What identifies the intermediate in a CertID, and how it signs; computed once per issuer. */
interface IssuerIds {
  /** Encodings of the subject a client may have hashed (usually just one). */
  names: Uint8Array[];
  /** The subjectPublicKey BIT STRING contents, which CertIDs and ResponderID hash. */
  keyBits: Uint8Array;
  responderKeyHash: Uint8Array;
  /** Per-hash cache of [nameHashes, keyHash], hex. */
  byHash: Map<string, { names: Set<string>; key: string }>;
  digest: string | null;
  signatureAlgorithm: AlgorithmIdentifier;
}

const cache = new WeakMap<Issuer, IssuerIds>();

export async function respondOcsp(requestDer: Uint8Array, deps: OcspDeps): Promise<Uint8Array> {
  const told = (o: OcspOutcome) => deps.onAnswer?.(o);
  const req = parseRequest(requestDer);
  if (!req) {
    told('malformed_request');
    return ocspErrorResponse(OCSPResponseStatus.malformedRequest);
  }
  let ids: IssuerIds;
  let statuses: CertStatus[];
  let signer: OcspIssuer;
  try {
    signer = responderFor(req.tbsRequest.requestList[0]!.reqCert, deps);
    ids = issuerIds(signer.issuer);
    statuses = await Promise.all(req.tbsRequest.requestList.map((r) => statusOf(r.reqCert, ids, deps.lookup, signer.owns)));
  } catch {
    told('internal_error');
    return ocspErrorResponse(OCSPResponseStatus.internalError);
  }
  // GeneralizedTime with fractions is legal but RFC 5280-style whole seconds is what clients expect.
  const now = wholeSeconds(deps.now);
  const next = new Date(now.getTime() + Math.max(1000, deps.validityMs ?? DEFAULT_OCSP_VALIDITY_MS));
  const nonce = req.tbsRequest.requestExtensions?.find((e) => e.extnID === id_pkix_ocsp_nonce);
  const data = new ResponseData({
    responderID: new ResponderID({ byKey: new OctetString(ids.responderKeyHash) }),
    producedAt: now,
    responses: req.tbsRequest.requestList.map((r, i) => new SingleResponse({
      certID: r.reqCert,
      certStatus: statuses[i]!,
      thisUpdate: now,
      nextUpdate: next,
    })),
    ...(nonce ? { responseExtensions: [nonce] } : {}),
  });
  try {
    const tbs = new Uint8Array(AsnConvert.serialize(data));
    const signature = sign(ids.digest, tbs, signer.issuer.signer);
    const basic = new BasicOCSPResponse({
      tbsResponseData: data,
      signatureAlgorithm: ids.signatureAlgorithm,
      signature: toArrayBuffer(signature),
    });
    const der = new Uint8Array(AsnConvert.serialize(new OCSPResponse({
      responseStatus: OCSPResponseStatus.successful,
      responseBytes: new ResponseBytes({ responseType: id_pkix_ocsp_basic, response: new OctetString(AsnConvert.serialize(basic)) }),
    })));
    for (const s of statuses) told(s.good !== undefined ? 'good' : s.revoked ? 'revoked' : 'unknown');
    return der;
  } catch {
    told('internal_error');
    return ocspErrorResponse(OCSPResponseStatus.internalError);
  }
}

/** An OCSPResponse that is only a status (RFC 6960 §2.3: error responses carry no body). */
export function ocspErrorResponse(status: Exclude<OCSPResponseStatus, OCSPResponseStatus.successful>): Uint8Array {
  return new Uint8Array(AsnConvert.serialize(new OCSPResponse({ responseStatus: status })));
}

/**
 * The earliest nextUpdate of a successful response, for HTTP caching (RFC 5019 §6.2); null for
 * error responses and anything unreadable.
 */
export function ocspNextUpdate(responseDer: Uint8Array): Date | null {
  try {
    const resp = AsnConvert.parse(responseDer, OCSPResponse);
    if (resp.responseStatus !== OCSPResponseStatus.successful || !resp.responseBytes) return null;
    if (resp.responseBytes.responseType !== id_pkix_ocsp_basic) return null;
    const basic = AsnConvert.parse(resp.responseBytes.response.buffer, BasicOCSPResponse);
    const times = basic.tbsResponseData.responses.map((r) => r.nextUpdate?.getTime() ?? NaN);
    const min = Math.min(...times);
    return Number.isFinite(min) ? new Date(min) : null;
  } catch {
    return null;
  }
}

function parseRequest(der: Uint8Array): OCSPRequest | null {
  if (!der || der.byteLength === 0) return null;
  try {
    const req = AsnConvert.parse(der, OCSPRequest);
    const list = req.tbsRequest.requestList;
    if (!Array.isArray(list) || list.length === 0) return null;
    // The schema parser is lenient about what it skips; re-encoding every CertID proves it is whole.
    for (const r of list) {
      if (!r.reqCert?.hashAlgorithm?.algorithm) return null;
      AsnConvert.serialize(r.reqCert);
    }
    for (const e of req.tbsRequest.requestExtensions ?? []) AsnConvert.serialize(e);
    return req;
  } catch {
    return null;
  }
}

/** The issuer a CertID names, among several; the default one when it names none of them. */
function responderFor(id: CertID, deps: OcspDeps): OcspIssuer {
  if (!deps.issuers) return { issuer: deps.issuer };
  return deps.issuers.find((c) => isOurs(id, issuerIds(c.issuer))) ?? deps.issuers.find((c) => c.issuer === deps.issuer) ?? { issuer: deps.issuer };
}

async function statusOf(id: CertID, ids: IssuerIds, lookup: OcspDeps['lookup'], owns?: OcspIssuer['owns']): Promise<CertStatus> {
  const unknown = new CertStatus({ unknown: null });
  if (!isOurs(id, ids)) return unknown;
  const serial = serialDecimal(new Uint8Array(id.serialNumber));
  if (serial === null) return unknown;
  const stored = await lookup(serial);
  // A serial another of our issuers signed is not this issuer's to vouch for.
  if (!stored || (owns && !owns(stored))) return unknown;
  if (!stored.revokedAt) return new CertStatus({ good: null });
  const code = stored.revocationReasonCode;
  return new CertStatus({
    revoked: new RevokedInfo({
      revocationTime: wholeSeconds(stored.revokedAt),
      // RFC 5280 §5.3.1: unspecified (0) is expressed by leaving the reason out.
      ...(code ? { revocationReason: new CRLReason(code) } : {}),
    }),
  });
}

function isOurs(id: CertID, ids: IssuerIds): boolean {
  const alg = HASHES[id.hashAlgorithm.algorithm];
  if (!alg) return false;
  let h = ids.byHash.get(alg);
  if (!h) {
    h = { names: new Set(ids.names.map((n) => hashHex(alg, n))), key: hashHex(alg, ids.keyBits) };
    ids.byHash.set(alg, h);
  }
  const nameHash = Buffer.from(id.issuerNameHash.buffer).toString('hex');
  const keyHash = Buffer.from(id.issuerKeyHash.buffer).toString('hex');
  return h.names.has(nameHash) && h.key === keyHash;
}

/** A CertificateSerialNumber's two's-complement bytes as the ledger's decimal; null if negative or empty. */
function serialDecimal(bytes: Uint8Array): string | null {
  if (bytes.length === 0 || bytes.length > 64 || (bytes[0]! & 0x80) !== 0) return null;
  return BigInt(`0x${Buffer.from(bytes).toString('hex')}`).toString(10);
}

function issuerIds(issuer: Issuer): IssuerIds {
  let ids = cache.get(issuer);
  if (ids) return ids;
  const cert = AsnConvert.parse(issuer.cert.rawData, Certificate);
  const keyBits = new Uint8Array(cert.tbsCertificate.subjectPublicKeyInfo.subjectPublicKey);
  const names = [rawSubject(issuer.cert.rawData), new Uint8Array(AsnConvert.serialize(cert.tbsCertificate.subject))];
  const { digest, algorithm } = signatureAlgorithmFor(issuer.signer);
  ids = {
    names: names.filter((n): n is Uint8Array => n !== null),
    keyBits,
    responderKeyHash: createHash('sha1').update(keyBits).digest(),
    byHash: new Map(),
    digest,
    signatureAlgorithm: algorithm,
  };
  cache.set(issuer, ids);
  return ids;
}

/**
 * The subject exactly as encoded in the certificate: clients hash those bytes, and a re-encoding
 * of the parsed Name could differ for a certificate made elsewhere. The schema keeps only the
 * TBS raw, so asn1js reads the one field out of it.
 */
function rawSubject(certDer: ArrayBuffer): Uint8Array | null {
  try {
    const tbsRaw = AsnConvert.parse(certDer, Certificate).tbsCertificateRaw;
    if (!tbsRaw) return null;
    const tbs = asn1js.fromBER(tbsRaw).result;
    if (!(tbs instanceof asn1js.Sequence)) return null;
    const fields = tbs.valueBlock.value;
    // version [0] is optional; subject follows serial, signature, issuer and validity.
    const subject = fields[fields[0]?.idBlock.tagClass === 3 ? 5 : 4];
    return subject ? new Uint8Array(subject.valueBeforeDecodeView) : null;
  } catch {
    return null;
  }
}

function signatureAlgorithmFor(key: KeyObject): { digest: string | null; algorithm: AlgorithmIdentifier } {
  const t = key.asymmetricKeyType;
  if (t === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    const ec: Record<string, [string, string]> = {
      prime256v1: ['sha256', '1.2.840.10045.4.3.2'],
      secp384r1: ['sha384', '1.2.840.10045.4.3.3'],
      secp521r1: ['sha512', '1.2.840.10045.4.3.4'],
    };
    const m = curve ? ec[curve] : undefined;
    if (!m) throw new Error(`unsupported EC curve ${curve}`);
    return { digest: m[0], algorithm: new AlgorithmIdentifier({ algorithm: m[1] }) };
  }
  // sha256WithRSAEncryption is one of the algorithms whose parameters must be an explicit NULL.
  if (t === 'rsa') return { digest: 'sha256', algorithm: new AlgorithmIdentifier({ algorithm: '1.2.840.113549.1.1.11', parameters: null }) };
  if (t === 'ed25519') return { digest: null, algorithm: new AlgorithmIdentifier({ algorithm: '1.3.101.112' }) };
  if (t === 'ed448') return { digest: null, algorithm: new AlgorithmIdentifier({ algorithm: '1.3.101.113' }) };
  throw new Error(`unsupported key type ${t}`);
}

function hashHex(alg: string, data: Uint8Array): string {
  return createHash(alg).update(data).digest('hex');
}

function wholeSeconds(d: Date): Date {
  return new Date(Math.floor(d.getTime() / 1000) * 1000);
}

function toArrayBuffer(b: Uint8Array): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}
