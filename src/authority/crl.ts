// CRL building. @peculiar/x509's X509CrlGenerator checks every entry against every other for
// duplicate serials — O(n²): 6 s for 10 000 entries, ~10 min for 100 000. Serials in the ledger
// are unique by construction, so the CRL is assembled here from @peculiar/asn1-x509's own schema
// classes (no hand-written DER) and its TBS signed with node:crypto. test/unit/crl.test.ts holds
// the output byte-identical (TBS) to X509CrlGenerator's.
import { sign as nodeSign } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import * as asn1X509 from '@peculiar/asn1-x509';
import type { RevokedEntry } from '../ledger/ledger.js';
import { x509 } from '../pki/x509.js';
import type { Issuer } from './profiles.js';

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

/** A serial in decimal as the positive INTEGER content bytes X.509 wants. */
export function serialOctets(decimal: string): ArrayBuffer {
  let hex = BigInt(decimal).toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  if (parseInt(hex.slice(0, 2), 16) > 0x7f) hex = `00${hex}`;
  return new Uint8Array(Buffer.from(hex, 'hex')).buffer;
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

function nodeHash(issuer: Issuer): string | null {
  const hash = (issuer.key.signAlg as { hash?: string | { name: string } }).hash;
  const name = typeof hash === 'string' ? hash : hash?.name;
  return name ? name.replace('-', '').toLowerCase() : null;
}

export async function buildCrl(p: CrlParams): Promise<ArrayBuffer> {
  const signature = await signatureAlgorithm(p.issuer);
  const tbs = new asn1X509.TBSCertList({
    version: asn1X509.Version.v2,
    signature,
    issuer: AsnConvert.parse(p.issuer.cert.subjectName.toArrayBuffer(), asn1X509.Name),
    thisUpdate: new asn1X509.Time(p.thisUpdate),
    nextUpdate: new asn1X509.Time(p.nextUpdate),
    crlExtensions: crlExtensions(p).map((e) => AsnConvert.parse(e.rawData, asn1X509.Extension)),
  });
  if (p.entries.length) {
    tbs.revokedCertificates = p.entries.map((e) => new asn1X509.RevokedCertificate({
      userCertificate: serialOctets(e.serial),
      revocationDate: new asn1X509.Time(e.revokedAt),
      // RFC 5280 §5.3.1: "unspecified" (0) should be left out rather than stated.
      crlEntryExtensions: e.reasonCode ? [new asn1X509.Extension({
        extnID: asn1X509.id_ce_cRLReasons,
        critical: false,
        extnValue: new OctetString(AsnConvert.serialize(new asn1X509.CRLReason(e.reasonCode))),
      })] : [],
    }));
  }
  const tbsDer = Buffer.from(AsnConvert.serialize(tbs));
  const sig = nodeSign(nodeHash(p.issuer), tbsDer, p.issuer.signer);
  const list = new asn1X509.CertificateList({ tbsCertList: tbs, signatureAlgorithm: signature, signature: new Uint8Array(sig).buffer });
  return AsnConvert.serialize(list);
}
