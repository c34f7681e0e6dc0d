// `certificate inspect --short` in step's form (smallstep/certinfo's certificateShort), since
// scripts written for step parse it:
//   X.509v3 TLS Certificate (ECDSA P-256) [Serial: 1234...5678]
//     Subject:     web.example.com
//                  10.0.0.7
//     Issuer:      Example Intermediate CA
//     Provisioner: admin [ID: abcd...wxyz]
//     Valid from:  2026-01-01T00:00:00Z
//             to:  2026-01-02T00:00:00Z
import { createPublicKey, X509Certificate } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { readProvisionerExtension } from '../authority/provisioner-extension.js';
import { x509 } from './x509.js';

/** step shortens anything over 8 characters to its first and last four. */
function abbreviated(s: string): string {
  return s.length <= 8 ? s : `${s.slice(0, 4)}...${s.slice(-4)}`;
}

/** Go's PublicKeyAlgorithm name and its size: "ECDSA P-256", "RSA 2048", "Ed25519 256". */
function keyAlgorithm(spki: ArrayBuffer): string {
  try {
    const k = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
    const d = k.asymmetricKeyDetails ?? {};
    if (k.asymmetricKeyType === 'ec') return `ECDSA ${({ prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' } as Record<string, string>)[d.namedCurve ?? ''] ?? 'unknown'}`;
    if (k.asymmetricKeyType === 'rsa' || k.asymmetricKeyType === 'rsa-pss') return `RSA ${d.modulusLength}`;
    if (k.asymmetricKeyType === 'ed25519') return 'Ed25519 256';
    return `${k.asymmetricKeyType} unknown`;
  } catch {
    return 'unknown';
  }
}

const commonName = (name: x509.Name) => name.getField('CN')[0] ?? '';

/** Go prints an IP compressed (2001:db8::1); the library may not. */
function ipText(ip: string): string {
  return isIPv6(ip) ? new URL(`http://[${ip}]`).hostname.slice(1, -1) : ip;
}

/** The SANs in Go's order (DNS, IP, email, URI), without the one equal to the CN. */
function sansBesides(cn: string, ext: x509.SubjectAlternativeNameExtension | null): string[] {
  const items = ext?.names.items ?? [];
  const of = (type: string, f = (v: string) => v) => items.filter((n) => n.type === type).map((n) => f(n.value));
  return [...of('dns'), ...of('ip', ipText), ...of('email'), ...of('url')].filter((s) => s !== cn);
}

function subjectLines(cn: string, sans: string[]): string[] {
  const names = cn ? [cn, ...sans] : sans;
  if (names.length === 0) return ['  Subject: '];
  return names.map((n, i) => (i === 0 ? `  Subject:     ${n}` : `               ${n}`));
}

/** RFC 3339 as Go formats a UTC time: no fractional seconds. */
const rfc3339 = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

export function certificateShort(cert: x509.X509Certificate): string {
  const isCa = cert.getExtension(x509.BasicConstraintsExtension)?.ca === true;
  let type = 'TLS';
  if (isCa) {
    const node = new X509Certificate(Buffer.from(cert.rawData));
    type = node.verify(node.publicKey) ? 'Root CA' : 'Intermediate CA';
  }
  const cn = commonName(cert.subjectName);
  const lines = [`X.509v3 ${type} Certificate (${keyAlgorithm(cert.publicKey.rawData)}) [Serial: ${abbreviated(BigInt(`0x${cert.serialNumber || '0'}`).toString(10))}]`];
  lines.push(...subjectLines(cn, sansBesides(cn, cert.getExtension(x509.SubjectAlternativeNameExtension))));
  lines.push(`  Issuer:      ${commonName(cert.issuerName)}`);
  const prov = readProvisioner(cert);
  if (prov) lines.push(prov.credentialId ? `  Provisioner: ${prov.name} [ID: ${abbreviated(prov.credentialId)}]` : `  Provisioner: ${prov.name}`);
  lines.push(`  Valid from:  ${rfc3339(cert.notBefore)}`, `          to:  ${rfc3339(cert.notAfter)}`);
  return `${lines.join('\n')}\n`;
}

/** step leaves the line out when the extension does not parse; so do we. */
function readProvisioner(cert: x509.X509Certificate) {
  try {
    return readProvisionerExtension(cert);
  } catch {
    return null;
  }
}

export function csrShort(csr: x509.Pkcs10CertificateRequest): string {
  const cn = commonName(csr.subjectName);
  const lines = [`X.509v3 Certificate Signing Request (${keyAlgorithm(csr.publicKey.rawData)})`];
  const san = csr.extensions.find((e) => e.type === '2.5.29.17');
  lines.push(...subjectLines(cn, sansBesides(cn, san ? new x509.SubjectAlternativeNameExtension(san.rawData) : null)));
  return `${lines.join('\n')}\n`;
}
