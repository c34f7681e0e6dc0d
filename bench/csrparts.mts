import { createPublicKey, verify } from 'node:crypto';
import { x509 } from '../src/pki/x509.ts';
import { parseCsr } from '../src/pki/csr.ts';
import { pemBlocks } from '../src/pki/pem.ts';
import { makeCsrs } from './requests.ts';
const csrs = await makeCsrs(3000);
const cpu = () => { const u = process.cpuUsage(); return u.user + u.system; };
function time(name: string, f: (pem: string) => unknown) {
  for (const c of csrs.slice(0, 500)) f(c.pem);
  const c0 = cpu();
  for (const c of csrs) f(c.pem);
  console.log(name.padEnd(20), ((cpu() - c0) / csrs.length).toFixed(1), 'us');
}
time('pemBlocks', (p) => pemBlocks(p, 'CERTIFICATE REQUEST'));
const ders = new Map(csrs.map((c) => [c.pem, pemBlocks(c.pem, 'CERTIFICATE REQUEST')[0]!]));
time('lib parse', (p) => new x509.Pkcs10CertificateRequest(ders.get(p)!));
const parsed = new Map(csrs.map((c) => [c.pem, new x509.Pkcs10CertificateRequest(ders.get(c.pem)!)]));
time('getExtension SAN', (p) => { const e = parsed.get(p)!.getExtension('2.5.29.17')!; return new x509.SubjectAlternativeNameExtension(e.rawData).names.items; });
time('subject CN', (p) => parsed.get(p)!.subjectName.getField('CN'));
time('createPublicKey', (p) => createPublicKey({ key: Buffer.from(parsed.get(p)!.publicKey.rawData), format: 'der', type: 'spki' }));
const keys = new Map(csrs.map((c) => [c.pem, createPublicKey({ key: Buffer.from(parsed.get(c.pem)!.publicKey.rawData), format: 'der', type: 'spki' })]));
time('keyDetails', (p) => keys.get(p)!.asymmetricKeyDetails);
time('verify', (p) => { const c = parsed.get(p)! as any; return verify('sha256', Buffer.from(c.tbs), keys.get(p)!, Buffer.from(c.signature)); });
time('verify der key', (p) => { const c = parsed.get(p)! as any; return verify('sha256', Buffer.from(c.tbs), { key: Buffer.from(c.publicKey.rawData), format: 'der', type: 'spki', dsaEncoding: 'der' } as any, Buffer.from(c.signature)); });
let pending: Promise<unknown>[] = [];
{ const c0 = cpu(); for (const c of csrs) await parseCsr(c.pem); console.log('parseCsr', ((cpu() - c0) / csrs.length).toFixed(1)); }
{ const c0 = cpu(); for (const c of csrs) await parseCsr(c.pem); console.log('parseCsr again', ((cpu() - c0) / csrs.length).toFixed(1)); }
