// Signs the leaf a certificate template described (cert-template.ts). The CA keeps what it always
// sets: serial, validity, issuer, the request's public key, SKI/AKI and the provisioner extension.
import { AsnConvert } from '@peculiar/asn1-schema';
import * as asn1X509 from '@peculiar/asn1-x509';
import { x509 } from '../pki/x509.js';
import { signLeaf, type Issuer } from './profiles.js';
import { provisionerExtension, type ProvisionerInfo } from './provisioner-extension.js';
import type { TemplatedLeaf } from './cert-template.js';

const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

/** Each attribute type one RDN (Go's encoding), PrintableString where it fits, else UTF8String. */
function subjectName(attrs: TemplatedLeaf['subject']): x509.Name {
  if (!attrs.length) return new x509.Name([]);
  const rdns = attrs.map((a) => new asn1X509.RelativeDistinguishedName(a.values.map((v) => new asn1X509.AttributeTypeAndValue({
    type: a.oid,
    value: new asn1X509.AttributeValue(PRINTABLE.test(v) || a.oid === '2.5.4.6' ? { printableString: v } : { utf8String: v }),
  }))));
  return new x509.Name(AsnConvert.serialize(new asn1X509.Name(rdns)));
}

const KU: Record<string, number> = {
  digitalSignature: x509.KeyUsageFlags.digitalSignature, contentCommitment: x509.KeyUsageFlags.nonRepudiation,
  keyEncipherment: x509.KeyUsageFlags.keyEncipherment, dataEncipherment: x509.KeyUsageFlags.dataEncipherment,
  keyAgreement: x509.KeyUsageFlags.keyAgreement, encipherOnly: x509.KeyUsageFlags.encipherOnly, decipherOnly: x509.KeyUsageFlags.decipherOnly,
};

export interface TemplatedLeafRequest {
  serialHex: string;
  spki: ArrayBuffer;
  notBefore: Date;
  notAfter: Date;
  provisioner: ProvisionerInfo | null;
  crlDistributionPoints: string[];
  ocspServers: string[];
}

export async function createTemplatedLeaf(t: TemplatedLeaf, req: TemplatedLeafRequest, issuer: Issuer): Promise<x509.X509Certificate> {
  const pub = new x509.PublicKey(req.spki);
  const extensions: x509.Extension[] = [];
  if (t.keyUsage?.length) extensions.push(new x509.KeyUsagesExtension(t.keyUsage.reduce((f, k) => f | KU[k]!, 0), true));
  const ekus = [...(t.extKeyUsage ?? []), ...t.unknownExtKeyUsage];
  if (ekus.length) extensions.push(new x509.ExtendedKeyUsageExtension(ekus));
  if (t.basicConstraints) extensions.push(new x509.BasicConstraintsExtension(false, undefined, true));
  extensions.push(await x509.SubjectKeyIdentifierExtension.create(pub), new x509.AuthorityKeyIdentifierExtension(issuer.keyId));
  const ocsp = t.ocspServer ?? req.ocspServers;
  if (ocsp.length || t.issuingCertificateURL.length) {
    extensions.push(new x509.AuthorityInfoAccessExtension({ ...(ocsp.length ? { ocsp } : {}), ...(t.issuingCertificateURL.length ? { caIssuers: t.issuingCertificateURL } : {}) }));
  }
  if (t.sans.length) extensions.push(new x509.SubjectAlternativeNameExtension(t.sans, t.subject.length === 0));
  const cdp = t.crlDistributionPoints ?? req.crlDistributionPoints;
  if (cdp.length) extensions.push(new x509.CRLDistributionPointsExtension(cdp));
  if (t.policyIdentifiers.length) extensions.push(new x509.CertificatePolicyExtension(t.policyIdentifiers));
  for (const e of t.extensions) extensions.push(new x509.Extension(e.id, e.critical, new Uint8Array(e.value)));
  if (req.provisioner) extensions.push(provisionerExtension(req.provisioner));
  return signLeaf(req, subjectName(t.subject), extensions, issuer);
}

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/**
 * Whether a rendered template describes exactly the default leaf (fast-leaf.ts): a subject of at
 * most a common name, digitalSignature (+ keyEncipherment for RSA), serverAuth + clientAuth, and
 * nothing the default does not carry. Such a leaf is signed on the fast path.
 */
export function isDefaultShape(t: TemplatedLeaf, rsa: boolean): boolean {
  const ku = new Set(t.keyUsage ?? []);
  const wantKu = rsa ? ['digitalSignature', 'keyEncipherment'] : ['digitalSignature'];
  const eku = t.extKeyUsage ?? [];
  return t.subject.every((a) => a.oid === '2.5.4.3')
    && ku.size === wantKu.length && wantKu.every((k) => ku.has(k))
    && eku.length === 2 && eku.includes(SERVER_AUTH) && eku.includes(CLIENT_AUTH)
    && t.unknownExtKeyUsage.length === 0 && t.basicConstraints === null && t.ocspServer === null
    && t.issuingCertificateURL.length === 0 && t.crlDistributionPoints === null && t.policyIdentifiers.length === 0
    && t.extensions.length === 0;
}
