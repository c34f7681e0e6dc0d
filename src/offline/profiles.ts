// The certificates of `stepstone certificate create|sign` and `pki`, by profile, as step's
// templates make them: root-ca, intermediate-ca, leaf, self-signed. Built with @peculiar/x509;
// name constraints with @peculiar/asn1-x509's classes.
import { createHash, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import * as asn1X509 from '@peculiar/asn1-x509';
import { x509 } from '../pki/x509.js';
import { toWebKeyPair } from '../pki/keys.js';
import { classifySan, orderSans, type San } from '../pki/names.js';
import { dn, randomSerialHex, type Issuer } from '../authority/profiles.js';
import { commonNameProblem, sanProblem } from '../authority/name-rules.js';

export type Profile = 'root-ca' | 'intermediate-ca' | 'leaf' | 'self-signed';
export const PROFILES: Profile[] = ['root-ca', 'intermediate-ca', 'leaf', 'self-signed'];

const DAY = 86_400_000;
/** step's defaults: CAs for ten years, leaves for a day. */
export const DEFAULT_LIFETIME: Record<Profile, number> = { 'root-ca': 3650 * DAY, 'intermediate-ca': 3650 * DAY, leaf: DAY, 'self-signed': DAY };

export interface CertificateSpec {
  profile: Profile;
  subject: string;
  /** Names as step takes them (IP, URI, email or DNS by their shape); a leaf without any gets its subject. */
  sans: string[];
  publicKey: KeyObject;
  notBefore: Date;
  notAfter: Date;
  /** root-ca: 1 by default; intermediate-ca: 0. */
  pathLen?: number;
  /** Permitted DNS subtrees (critical name constraints) for a CA profile. */
  permittedDns?: string[];
}

/** `issuer` signs it; self-signed profiles (root-ca, self-signed) pass the subject's own private key instead. */
export async function createProfileCertificate(spec: CertificateSpec, signer: Issuer | KeyObject): Promise<x509.X509Certificate> {
  const ca = spec.profile === 'root-ca' || spec.profile === 'intermediate-ca';
  const spki = new Uint8Array(spec.publicKey.export({ type: 'spki', format: 'der' })).buffer as ArrayBuffer;
  const selfSigned = !('cert' in signer);
  const extensions: x509.Extension[] = [];
  if (ca) {
    extensions.push(new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true));
    extensions.push(new x509.BasicConstraintsExtension(true, spec.pathLen ?? (spec.profile === 'root-ca' ? 1 : 0), true));
  } else {
    const rsa = spec.publicKey.asymmetricKeyType === 'rsa';
    extensions.push(new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | (rsa ? x509.KeyUsageFlags.keyEncipherment : 0), true));
    extensions.push(new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]));
  }
  extensions.push(await x509.SubjectKeyIdentifierExtension.create(new x509.PublicKey(spki)));
  if (!selfSigned) extensions.push(new x509.AuthorityKeyIdentifierExtension(signer.keyId));
  const names = spec.sans.length || ca ? spec.sans : [spec.subject];
  // The online CA's rules (name-rules.ts): an offline certificate is no place for a name it would refuse.
  const nameProblem = commonNameProblem(spec.subject) ?? names.map((n) => sanProblem(classifySan(n))).find((p) => p !== null);
  if (nameProblem) throw new Error(nameProblem);
  const sans = orderSans(names.map(classifySan));
  if (sans.length) extensions.push(new x509.SubjectAlternativeNameExtension(sans as San[]));
  if (spec.permittedDns?.length) {
    if (!ca) throw new Error('name constraints belong on a CA profile (root-ca or intermediate-ca)');
    extensions.push(nameConstraints(spec.permittedDns));
  }
  const common = { serialNumber: randomSerialHex(), notBefore: spec.notBefore, notAfter: spec.notAfter, extensions };
  if (selfSigned) {
    const keys = await toWebKeyPair(signer);
    return x509.X509CertificateGenerator.createSelfSigned({ ...common, name: dn(spec.subject), keys: { privateKey: keys.privateKey, publicKey: keys.publicKey }, signingAlgorithm: keys.signAlg });
  }
  if (!isCa(signer.cert)) throw new Error(`${signer.cert.subject} is not a CA certificate: it cannot sign others`);
  return x509.X509CertificateGenerator.create({
    ...common, subject: dn(spec.subject), issuer: signer.cert.subjectName, publicKey: spki,
    signingKey: signer.key.privateKey, signingAlgorithm: signer.key.signAlg,
  });
}

export function isCa(cert: x509.X509Certificate): boolean {
  return cert.getExtension(x509.BasicConstraintsExtension)?.ca === true;
}

function nameConstraints(dns: string[]): x509.Extension {
  const permitted = new asn1X509.GeneralSubtrees(dns.map((d) => new asn1X509.GeneralSubtree({ base: new asn1X509.GeneralName({ dNSName: d }) })));
  const value = AsnConvert.serialize(new asn1X509.NameConstraints({ permittedSubtrees: permitted }));
  return new x509.Extension(asn1X509.id_ce_nameConstraints, true, value);
}

/** True when `publicKey` is the key `cert` certifies (their SubjectPublicKeyInfo DER compared). */
export function keyMatches(cert: x509.X509Certificate, publicKey: KeyObject): boolean {
  const mine = createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
  return mine === createHash('sha256').update(Buffer.from(cert.publicKey.rawData)).digest('hex');
}
