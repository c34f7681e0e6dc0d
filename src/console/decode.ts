// A certificate's fields for the detail page, read from its PEM with @peculiar/x509. What cannot be
// parsed is said so in a field, never thrown: a malformed row must not take the page down.
import { x509 } from '../pki/x509.js';

export interface DecodedField { label: string; value: string | string[] }

const EKU: Record<string, string> = {
  '1.3.6.1.5.5.7.3.1': 'serverAuth', '1.3.6.1.5.5.7.3.2': 'clientAuth', '1.3.6.1.5.5.7.3.3': 'codeSigning',
  '1.3.6.1.5.5.7.3.4': 'emailProtection', '1.3.6.1.5.5.7.3.8': 'timeStamping', '1.3.6.1.5.5.7.3.9': 'OCSPSigning',
};

const EXTENSIONS: Record<string, string> = {
  '2.5.29.14': 'subjectKeyIdentifier', '2.5.29.15': 'keyUsage', '2.5.29.17': 'subjectAltName', '2.5.29.19': 'basicConstraints',
  '2.5.29.31': 'cRLDistributionPoints', '2.5.29.32': 'certificatePolicies', '2.5.29.35': 'authorityKeyIdentifier', '2.5.29.37': 'extKeyUsage',
  '1.3.6.1.5.5.7.1.1': 'authorityInfoAccess', '1.3.6.1.4.1.37476.9000.64.1': 'step provisioner',
};

const KEY_USAGES: [number, string][] = [
  [x509.KeyUsageFlags.digitalSignature, 'digitalSignature'], [x509.KeyUsageFlags.nonRepudiation, 'nonRepudiation'],
  [x509.KeyUsageFlags.keyEncipherment, 'keyEncipherment'], [x509.KeyUsageFlags.dataEncipherment, 'dataEncipherment'],
  [x509.KeyUsageFlags.keyAgreement, 'keyAgreement'], [x509.KeyUsageFlags.keyCertSign, 'keyCertSign'], [x509.KeyUsageFlags.cRLSign, 'cRLSign'],
];

export function decodeCertificate(pem: string): DecodedField[] {
  let c: x509.X509Certificate;
  try {
    c = new x509.X509Certificate(pem);
  } catch (e) {
    return [{ label: 'Decoding', value: `the stored PEM could not be parsed: ${(e as Error).message}` }];
  }
  const fields: DecodedField[] = [
    { label: 'Subject', value: c.subject || '(empty)' },
    { label: 'Issuer', value: c.issuer },
    { label: 'Serial (hex)', value: c.serialNumber.toLowerCase() },
    { label: 'Not before', value: c.notBefore.toISOString() },
    { label: 'Not after', value: c.notAfter.toISOString() },
    { label: 'Public key', value: keyDescription(c.publicKey.algorithm) },
    { label: 'Signature algorithm', value: [c.signatureAlgorithm.name, (c.signatureAlgorithm as { hash?: { name?: string } }).hash?.name].filter(Boolean).join(' with ') },
  ];
  const san = c.getExtension(x509.SubjectAlternativeNameExtension);
  if (san) fields.push({ label: 'Subject alternative names', value: san.names.items.map((n) => `${n.type}: ${n.value}`) });
  const ku = c.getExtension(x509.KeyUsagesExtension);
  if (ku) fields.push({ label: 'Key usage', value: KEY_USAGES.filter(([f]) => (ku.usages & f) !== 0).map(([, n]) => n).join(', ') });
  const eku = c.getExtension(x509.ExtendedKeyUsageExtension);
  if (eku) fields.push({ label: 'Extended key usage', value: eku.usages.map((u) => EKU[String(u)] ?? String(u)).join(', ') });
  const bc = c.getExtension(x509.BasicConstraintsExtension);
  if (bc) fields.push({ label: 'Basic constraints', value: bc.ca ? 'CA' : 'not a CA' });
  fields.push({ label: 'Extensions', value: c.extensions.map((e) => `${EXTENSIONS[e.type] ? `${EXTENSIONS[e.type]} (${e.type})` : e.type}${e.critical ? ', critical' : ''}`) });
  return fields;
}

function keyDescription(a: Algorithm): string {
  const k = a as Algorithm & { namedCurve?: string; modulusLength?: number };
  return [k.name, k.namedCurve, k.modulusLength ? `${k.modulusLength} bits` : undefined].filter(Boolean).join(' ');
}
