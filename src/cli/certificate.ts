// Offline certificate tools: `certificate inspect` and `certificate fingerprint`. Other verbs of
// the group (create, needs-renewal, p12) register on the same `certificate` command.
import { readFileExplained } from '../util/read-file.js';
import { createPublicKey } from 'node:crypto';
import type { Command } from 'commander';
import { sha256Hex } from '../pki/fingerprint.js';
import type { x509 } from '../pki/x509.js';
import { CliError } from './common.js';

type X509 = typeof x509;

/** Loaded on use: @peculiar/x509 costs ~150 ms, which every other verb should not pay. */
async function libs(): Promise<{ X: X509; pem: typeof import('../pki/pem.js') }> {
  const [{ x509: X }, pem] = await Promise.all([import('../pki/x509.js'), import('../pki/pem.js')]);
  return { X, pem };
}

interface Inspected {
  type: 'certificate' | 'csr';
  subject: string;
  issuer?: string;
  serial?: { decimal: string; hex: string };
  validity?: { notBefore: string; notAfter: string };
  sans: string[];
  publicKey: string;
  keyUsage: string[];
  extKeyUsage: string[];
  isCA?: boolean;
  signatureAlgorithm: string;
  fingerprint: string;
}

const KU_NAMES: [number, string][] = [
  [1, 'digitalSignature'], [2, 'nonRepudiation'], [4, 'keyEncipherment'], [8, 'dataEncipherment'], [16, 'keyAgreement'],
  [32, 'keyCertSign'], [64, 'cRLSign'], [128, 'encipherOnly'], [256, 'decipherOnly'],
];
const EKU_NAMES: Record<string, string> = {
  '1.3.6.1.5.5.7.3.1': 'serverAuth', '1.3.6.1.5.5.7.3.2': 'clientAuth', '1.3.6.1.5.5.7.3.3': 'codeSigning',
  '1.3.6.1.5.5.7.3.4': 'emailProtection', '1.3.6.1.5.5.7.3.8': 'timeStamping', '1.3.6.1.5.5.7.3.9': 'OCSPSigning',
};
const SAN_LABEL: Record<string, string> = { dns: 'DNS', ip: 'IP', email: 'email', url: 'URI', dn: 'DirName', guid: 'GUID', upn: 'UPN', id: 'RID' };

function readInput(file: string): Buffer {
  return readFileExplained(file, 'file');
}

/** Every certificate and CSR in a PEM file (in file order), or the single DER object it holds. */
type Loaded = x509.X509Certificate | x509.Pkcs10CertificateRequest | x509.X509Crl;

async function loadObjects(file: string): Promise<Loaded[]> {
  const { X, pem: { pemBlocks, toArrayBuffer } } = await libs();
  const data = readInput(file);
  const text = data.toString('latin1');
  if (text.includes('-----BEGIN ')) {
    const found: { at: number; obj: Loaded }[] = [];
    const re = /-----BEGIN (CERTIFICATE|CERTIFICATE REQUEST|NEW CERTIFICATE REQUEST|X509 CRL)-----[\s\S]*?-----END \1-----/g;
    for (const m of text.matchAll(re)) {
      const der = pemBlocks(m[0], m[1]!)[0]!;
      try {
        const obj = m[1] === 'CERTIFICATE' ? new X.X509Certificate(der) : m[1] === 'X509 CRL' ? new X.X509Crl(der) : new X.Pkcs10CertificateRequest(der);
        found.push({ at: m.index, obj });
      } catch {
        throw new CliError(`${file}: a ${m[1]} block cannot be parsed`);
      }
    }
    if (found.length === 0) throw new CliError(`${file} holds no certificate, certificate request or CRL`);
    return found.sort((a, b) => a.at - b.at).map((f) => f.obj);
  }
  const der = toArrayBuffer(data);
  try {
    return [new X.X509Certificate(der)];
  } catch {
    try {
      return [new X.Pkcs10CertificateRequest(der)];
    } catch {
      try {
        return [new X.X509Crl(der)];
      } catch {
        throw new CliError(`${file} is neither a PEM nor a DER certificate, certificate request or CRL`);
      }
    }
  }
}

function describeKey(spki: ArrayBuffer): string {
  try {
    const k = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
    const d = k.asymmetricKeyDetails ?? {};
    if (k.asymmetricKeyType === 'ec') return `EC ${({ prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' } as Record<string, string>)[d.namedCurve ?? ''] ?? d.namedCurve}`;
    if (k.asymmetricKeyType === 'rsa') return `RSA ${d.modulusLength} bits`;
    if (k.asymmetricKeyType === 'ed25519') return 'Ed25519';
    return k.asymmetricKeyType ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function inspect(X: X509, obj: x509.X509Certificate | x509.Pkcs10CertificateRequest): Inspected {
  const ext = (oid: string) => obj.extensions.find((e) => e.type === oid);
  const san = ext('2.5.29.17');
  const ku = ext('2.5.29.15');
  const eku = ext('2.5.29.37');
  const bc = ext('2.5.29.19');
  const kuFlags = ku ? new X.KeyUsagesExtension(ku.rawData).usages : 0;
  const cert = obj instanceof X.X509Certificate ? obj : undefined;
  const hex = cert?.serialNumber.toLowerCase();
  return {
    type: cert ? 'certificate' : 'csr',
    subject: obj.subject,
    ...(cert ? {
      issuer: cert.issuer,
      serial: { decimal: BigInt(`0x${hex || '0'}`).toString(10), hex: hex! },
      validity: { notBefore: cert.notBefore.toISOString(), notAfter: cert.notAfter.toISOString() },
    } : {}),
    sans: san ? new X.SubjectAlternativeNameExtension(san.rawData).names.items.map((n) => `${SAN_LABEL[n.type] ?? n.type}:${n.value}`) : [],
    publicKey: describeKey(obj.publicKey.rawData),
    keyUsage: KU_NAMES.filter(([bit]) => kuFlags & bit).map(([, name]) => name),
    extKeyUsage: eku ? new X.ExtendedKeyUsageExtension(eku.rawData).usages.map((u) => EKU_NAMES[String(u)] ?? String(u)) : [],
    ...(bc ? { isCA: new X.BasicConstraintsExtension(bc.rawData).ca } : {}),
    signatureAlgorithm: signatureName(obj.signatureAlgorithm),
    fingerprint: sha256Hex(obj.rawData),
  };
}

interface InspectedCrl {
  type: 'crl';
  issuer: string;
  crlNumber: string | null;
  thisUpdate: string;
  nextUpdate: string | null;
  revoked: { serial: string; revokedAt: string; reason: string | null }[];
  signatureAlgorithm: string;
  fingerprint: string;
}

const REASONS = ['unspecified', 'keyCompromise', 'cACompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation', 'certificateHold', '', 'removeFromCRL', 'privilegeWithdrawn', 'aACompromise'];

async function inspectCrl(crl: x509.X509Crl): Promise<InspectedCrl> {
  const number = crl.getExtension('2.5.29.20');
  const [{ AsnConvert }, { CRLNumber }] = await Promise.all([import('@peculiar/asn1-schema'), import('@peculiar/asn1-x509')]);
  return {
    type: 'crl',
    issuer: crl.issuer,
    crlNumber: number ? String(AsnConvert.parse(number.value, CRLNumber).value) : null,
    thisUpdate: crl.thisUpdate.toISOString(),
    nextUpdate: crl.nextUpdate ? crl.nextUpdate.toISOString() : null,
    revoked: crl.entries.map((e) => ({
      serial: BigInt(`0x${e.serialNumber || '0'}`).toString(10),
      revokedAt: e.revocationDate.toISOString(),
      reason: e.reason === undefined ? null : REASONS[e.reason] ?? String(e.reason),
    })),
    signatureAlgorithm: signatureName(crl.signatureAlgorithm),
    fingerprint: sha256Hex(crl.rawData),
  };
}

function crlAsText(c: InspectedCrl): string {
  const lines = ['Certificate Revocation List:', `    Issuer: ${c.issuer}`, `    CRL Number: ${c.crlNumber ?? '(none)'}`,
    `    This Update: ${c.thisUpdate}`, `    Next Update: ${c.nextUpdate ?? '(none)'}`, `    Revoked Certificates: ${c.revoked.length}`];
  for (const r of c.revoked) lines.push(`        ${r.serial}  ${r.revokedAt}${r.reason ? `  ${r.reason}` : ''}`);
  lines.push(`    Signature Algorithm: ${c.signatureAlgorithm}`, `    SHA-256 Fingerprint: ${c.fingerprint}`);
  return `${lines.join('\n')}\n`;
}

/** step's short form for certificates and CSRs (scripts parse it); one line for a CRL, which step has no short form for. */
async function short(X: X509, obj: Loaded): Promise<string> {
  const { certificateShort, csrShort } = await import('../pki/step-short.js');
  if (obj instanceof X.X509Certificate) return certificateShort(obj);
  if (obj instanceof X.Pkcs10CertificateRequest) return csrShort(obj);
  const i = await inspectCrl(obj);
  return `CRL ${i.issuer} number ${i.crlNumber ?? '-'}, ${i.revoked.length} revoked, next update ${i.nextUpdate ?? '-'}\n`;
}

function signatureName(alg: { name: string; hash?: unknown }): string {
  const hash = typeof alg.hash === 'string' ? alg.hash : (alg.hash as { name?: string } | undefined)?.name;
  return hash ? `${alg.name} with ${hash}` : alg.name;
}

function asText(i: Inspected): string {
  const lines = [i.type === 'certificate' ? 'Certificate:' : 'Certificate Request:', `    Subject: ${i.subject}`];
  if (i.issuer !== undefined) lines.push(`    Issuer: ${i.issuer}`);
  if (i.serial) lines.push(`    Serial Number: ${i.serial.decimal} (0x${i.serial.hex})`);
  if (i.validity) lines.push('    Validity:', `        Not Before: ${i.validity.notBefore}`, `        Not After : ${i.validity.notAfter}`);
  lines.push(`    Subject Alternative Names: ${i.sans.join(', ') || '(none)'}`);
  lines.push(`    Public Key: ${i.publicKey}`);
  if (i.keyUsage.length) lines.push(`    Key Usage: ${i.keyUsage.join(', ')}`);
  if (i.extKeyUsage.length) lines.push(`    Extended Key Usage: ${i.extKeyUsage.join(', ')}`);
  if (i.isCA !== undefined) lines.push(`    CA: ${i.isCA ? 'yes' : 'no'}`);
  lines.push(`    Signature Algorithm: ${i.signatureAlgorithm}`);
  lines.push(`    SHA-256 Fingerprint: ${i.fingerprint}`);
  return `${lines.join('\n')}\n`;
}

/** The `certificate` group, created once and shared by every file that adds verbs to it. */
export function certificateGroup(program: Command): Command {
  return program.commands.find((c) => c.name() === 'certificate')
    ?? program.command('certificate').description('work with certificates offline');
}

export function registerCertificateCommands(program: Command): void {
  const group = certificateGroup(program);

  group.command('inspect')
    .description('show the fields of the certificates, CSRs and CRLs in FILE (PEM or DER)')
    .argument('<file>', 'certificate, chain, CSR or CRL')
    .option('--format <format>', 'text or json', 'text')
    .option('--short', 'step\'s short form: type, key and serial on one line, then names, issuer, provisioner and validity')
    .action(async (file: string, o: { format: string; short?: boolean }) => {
      if (o.format !== 'text' && o.format !== 'json') throw new CliError(`--format must be text or json, not ${o.format}`, 2);
      const { X } = await libs();
      const objects = await loadObjects(file);
      if (o.short && o.format === 'text') {
        process.stdout.write((await Promise.all(objects.map((obj) => short(X, obj)))).join(''));
        return;
      }
      const items = await Promise.all(objects.map(async (obj) => (obj instanceof X.X509Crl ? inspectCrl(obj) : inspect(X, obj))));
      if (o.format === 'json') process.stdout.write(`${JSON.stringify(items.length === 1 ? items[0] : items, null, 2)}\n`);
      else process.stdout.write(items.map((i) => (i.type === 'crl' ? crlAsText(i) : asText(i))).join('\n'));
    });

  group.command('fingerprint')
    .description('print the SHA-256 fingerprint (hex) of the first certificate in FILE')
    .argument('<file>', 'certificate or chain, PEM or DER')
    .action(async (file: string) => {
      const { X } = await libs();
      const cert = (await loadObjects(file)).find((o): o is x509.X509Certificate => o instanceof X.X509Certificate);
      if (!cert) throw new CliError(`${file} holds no certificate`);
      process.stdout.write(`${sha256Hex(cert.rawData)}\n`);
    });
}
