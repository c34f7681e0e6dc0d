// Certificate templates: root CA, intermediate CA, and the default leaf of step-ca (api.md §3).
// Everything is built with @peculiar/x509; no hand-written ASN.1.
import { randomBytes, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import * as asn1X509 from '@peculiar/asn1-x509';
import { x509 } from '../pki/x509.js';
import { toWebKeyPair, type WebKeyPair } from '../pki/keys.js';
import type { San } from '../pki/names.js';
import { provisionerExtension, type ProvisionerInfo } from './provisioner-extension.js';

/** A CA that can sign: its certificate and key. */
export interface Issuer {
  cert: x509.X509Certificate;
  key: WebKeyPair;
  /** The same private key for node:crypto, which signs CRLs and OCSP responses. */
  signer: KeyObject;
  /** Hex SKI of the issuer, reused as the AKI of everything it signs. */
  keyId: string;
}

/** The digest node:crypto's sign() takes for this issuer's key: 'sha256'…, or null (Ed25519). */
export function issuerDigest(issuer: Pick<Issuer, 'key'>): string | null {
  const hash = (issuer.key.signAlg as { hash?: string | { name: string } }).hash;
  const name = typeof hash === 'string' ? hash : hash?.name;
  return name ? name.replace('-', '').toLowerCase() : null;
}

export async function makeIssuer(cert: x509.X509Certificate, key: KeyObject): Promise<Issuer> {
  const web = await toWebKeyPair(key);
  const pubDer = new Uint8Array(await crypto.subtle.exportKey('spki', web.publicKey));
  if (Buffer.compare(Buffer.from(pubDer), Buffer.from(cert.publicKey.rawData)) !== 0) {
    throw new Error(`the private key does not match the certificate ${cert.subject}`);
  }
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
  const keyId = ski ? ski.keyId : Buffer.from(await cert.publicKey.getKeyIdentifier()).toString('hex');
  return { cert, key: web, signer: key, keyId };
}

/** A 128-bit random serial, hex; uniform in [0, 2^128) like step-ca's. */
export function randomSerialHex(): string {
  return randomBytes(16).toString('hex');
}

const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

/**
 * A subject of just this CN. Built from asn1-x509's classes, not handed to x509.Name as a JSON
 * name: that path reads values like DN strings ('#…' as raw hex DER, quotes and '\' as escapes),
 * which would let a token's sub inject DER. PrintableString when it fits, else UTF8String — the
 * library's own choice, so fast-leaf.ts and this stay byte-identical.
 */
export function dn(cn: string): x509.Name {
  if (!cn) return new x509.Name([]);
  const value = new asn1X509.AttributeValue(PRINTABLE.test(cn) ? { printableString: cn } : { utf8String: cn });
  const rdn = new asn1X509.RelativeDistinguishedName([new asn1X509.AttributeTypeAndValue({ type: '2.5.4.3', value })]);
  return new x509.Name(AsnConvert.serialize(new asn1X509.Name([rdn])));
}

export async function createRootCertificate(opts: { name: string; key: KeyObject; notBefore: Date; notAfter: Date }): Promise<x509.X509Certificate> {
  const keys = await toWebKeyPair(opts.key);
  return x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialHex(),
    name: dn(opts.name),
    notBefore: opts.notBefore,
    notAfter: opts.notAfter,
    keys: { privateKey: keys.privateKey, publicKey: keys.publicKey },
    signingAlgorithm: keys.signAlg,
    extensions: [
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      new x509.BasicConstraintsExtension(true, 1, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
}

export async function createIntermediateCertificate(opts: {
  name: string; publicKey: KeyObject; issuer: Issuer; notBefore: Date; notAfter: Date;
}): Promise<x509.X509Certificate> {
  const spki = opts.publicKey.export({ type: 'spki', format: 'der' });
  return x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: dn(opts.name),
    issuer: opts.issuer.cert.subjectName,
    notBefore: opts.notBefore,
    notAfter: opts.notAfter,
    publicKey: new Uint8Array(spki).buffer as ArrayBuffer,
    signingKey: opts.issuer.key.privateKey,
    signingAlgorithm: opts.issuer.key.signAlg,
    extensions: [
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      new x509.BasicConstraintsExtension(true, 0, true),
      await x509.SubjectKeyIdentifierExtension.create(new x509.PublicKey(new Uint8Array(spki).buffer as ArrayBuffer)),
      new x509.AuthorityKeyIdentifierExtension(opts.issuer.keyId),
    ],
  });
}

export interface LeafRequest {
  serialHex: string;
  /** Subject CN; '' makes an empty subject (then the SAN extension is critical). */
  commonName: string;
  sans: San[];
  /** SubjectPublicKeyInfo DER of the leaf key. */
  spki: ArrayBuffer;
  notBefore: Date;
  notAfter: Date;
  /** RSA leaves also get keyEncipherment, as step-ca's default template does. */
  rsa: boolean;
  provisioner: ProvisionerInfo | null;
  /** CRL distribution point URLs (stepstone.crlDistributionPoints). */
  crlDistributionPoints?: string[];
  /** OCSP responder URLs for the Authority Information Access extension. */
  ocspServers?: string[];
}

/** step-ca's default leaf: KU digitalSignature(+keyEncipherment), EKU server+client auth, SKI/AKI, SAN. */
export async function createLeafCertificate(req: LeafRequest, issuer: Issuer): Promise<x509.X509Certificate> {
  const pub = new x509.PublicKey(req.spki);
  const ku = x509.KeyUsageFlags.digitalSignature | (req.rsa ? x509.KeyUsageFlags.keyEncipherment : 0);
  const extensions: x509.Extension[] = [
    new x509.KeyUsagesExtension(ku, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
    await x509.SubjectKeyIdentifierExtension.create(pub),
    new x509.AuthorityKeyIdentifierExtension(issuer.keyId),
  ];
  // Go's order, which step-ca's certificates follow: AIA before the SAN, CDP after it.
  if (req.ocspServers?.length) extensions.push(new x509.AuthorityInfoAccessExtension({ ocsp: req.ocspServers }));
  if (req.sans.length) extensions.push(new x509.SubjectAlternativeNameExtension(req.sans, req.commonName === ''));
  if (req.crlDistributionPoints?.length) extensions.push(new x509.CRLDistributionPointsExtension(req.crlDistributionPoints));
  if (req.provisioner) extensions.push(provisionerExtension(req.provisioner));
  return signLeaf(req, dn(req.commonName), extensions, issuer);
}

/** A leaf's fields signed by `issuer` (the default profile and templates share it). */
export function signLeaf(
  req: Pick<LeafRequest, 'serialHex' | 'notBefore' | 'notAfter' | 'spki'>, subject: x509.Name, extensions: x509.Extension[], issuer: Issuer,
): Promise<x509.X509Certificate> {
  return x509.X509CertificateGenerator.create({
    serialNumber: req.serialHex,
    subject,
    issuer: issuer.cert.subjectName,
    notBefore: req.notBefore,
    notAfter: req.notAfter,
    publicKey: req.spki,
    signingKey: issuer.key.privateKey,
    signingAlgorithm: issuer.key.signAlg,
    extensions,
  });
}

const AKI_OID = '2.5.29.35';
const SKI_OID = '2.5.29.14';

/**
 * Renewal and rekey (api.md §1.10, §3.4): a copy of `old` — raw subject, every extension in its
 * order (provisioner extension included) — with a new serial and validity, AKI from the issuer,
 * and for rekey a new public key and recomputed SKI.
 */
export async function createRenewedCertificate(
  old: x509.X509Certificate,
  o: { serialHex: string; notBefore: Date; notAfter: Date; newSpki?: ArrayBuffer },
  issuer: Issuer,
): Promise<x509.X509Certificate> {
  const spki = o.newSpki ?? old.publicKey.rawData;
  const newSki = o.newSpki ? await x509.SubjectKeyIdentifierExtension.create(new x509.PublicKey(o.newSpki)) : null;
  const extensions = old.extensions.map((e) => {
    if (e.type === AKI_OID) return new x509.AuthorityKeyIdentifierExtension(issuer.keyId, e.critical);
    if (e.type === SKI_OID && newSki) return newSki;
    return e;
  });
  return x509.X509CertificateGenerator.create({
    serialNumber: o.serialHex,
    subject: old.subjectName,
    issuer: issuer.cert.subjectName,
    notBefore: o.notBefore,
    notAfter: o.notAfter,
    publicKey: spki,
    signingKey: issuer.key.privateKey,
    signingAlgorithm: issuer.key.signAlg,
    extensions,
  });
}
