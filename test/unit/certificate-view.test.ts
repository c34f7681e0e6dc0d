// The differential test that licenses src/pki/certificate-parts.ts: for randomized certificates
// (every issuer key type, serials with leading zeros and high bits, UTCTime and GeneralizedTime)
// and for seeded byte mutations of them, the strict DER reading must agree with node's native
// parser on serial and dates wherever both read, and signedBy's node:crypto check must give X509Certificate.verify's
// verdict. CERT_VIEW_SEED and CERT_VIEW_CASES override the seed and the count.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createIntermediateCertificate, createLeafCertificate, createRootCertificate, makeIssuer, randomSerialHex, type Issuer } from '../../src/authority/profiles.ts';
import { readCertificateParts } from '../../src/pki/certificate-parts.ts';
import { nativeView, viewCertificate } from '../../src/pki/certificate-view.ts';
import { issuerKey, nativeSignedBy, signedBy } from '../../src/pki/signed-by.ts';
import { serialToDecimal } from '../../src/pki/serial.ts';
import type { x509 } from '../../src/pki/x509.ts';
import { Rand } from '../helpers/random.ts';

const SEED = Number(process.env.CERT_VIEW_SEED ?? 7177);
const CASES = Number(process.env.CERT_VIEW_CASES ?? 160);
const DAY = 86_400_000;

type Kind = 'P-256' | 'P-384' | 'RSA' | 'Ed25519';
const pair = (k: Kind) => (k === 'RSA' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : k === 'Ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: k }));

interface Ca { kind: Kind; cert: x509.X509Certificate; issuer: Issuer; key: KeyObject }

async function ca(kind: Kind): Promise<Ca> {
  const rk = pair(kind);
  const cert = await createRootCertificate({ name: `View ${kind}`, key: rk.privateKey, notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + 3650 * DAY) });
  const ik = pair(kind);
  const inter = await createIntermediateCertificate({ name: `View ${kind} I`, publicKey: ik.publicKey, issuer: await makeIssuer(cert, rk.privateKey), notBefore: cert.notBefore, notAfter: cert.notAfter });
  return { kind, cert: inter, issuer: await makeIssuer(inter, ik.privateKey), key: ik.publicKey };
}

const setup = (async () => {
  const cas = await Promise.all((['P-256', 'P-384', 'RSA', 'Ed25519', 'P-256'] as const).map(ca));
  const leafSpki = new Uint8Array(pair('P-256').publicKey.export({ type: 'spki', format: 'der' })).buffer as ArrayBuffer;
  return { cas, leafSpki };
})();

function serialHex(r: Rand): string {
  if (r.chance(0.4)) return randomSerialHex();
  let s = r.hex(r.int(1, 20));
  if (r.chance(0.3)) s = `${r.pick(['8', 'f', 'a'])}${s.slice(1)}`; // high bit: DER adds a 00
  if (r.chance(0.2)) s = `00${s}`;
  return /[1-9a-f]/.test(s) ? s : `${s}1`;
}

function time(r: Rand): Date {
  // Both encodings: UTCTime through 2049, GeneralizedTime from 2050.
  const year = r.pick([1951, 1999, 2000, 2026, 2049, 2050, 2051, 2099, 2400, 9999]);
  return new Date(Date.UTC(year, r.int(0, 11), r.int(1, 28), r.int(0, 23), r.int(0, 59), r.int(0, 59)));
}

async function leaf(r: Rand, c: Ca, spki: ArrayBuffer): Promise<Buffer> {
  const [a, b] = [time(r), time(r)].sort((x, y) => x.getTime() - y.getTime()) as [Date, Date];
  const cert = await createLeafCertificate({
    serialHex: serialHex(r), commonName: `h${r.int(0, 1e6)}.example`, sans: [{ type: 'dns', value: 'a.example' }], spki,
    notBefore: a, notAfter: b, rsa: false, provisioner: null,
  }, c.issuer);
  return Buffer.from(cert.rawData);
}

/** Compares the two readings where both can read; says whether it compared anything. */
function sameView(der: Buffer, label: string): boolean {
  let native: ReturnType<typeof nativeView> | null = null;
  try {
    native = nativeView(new Uint8Array(der).buffer);
  } catch {
    native = null;
  }
  // Where node cannot parse (a damaged extension, say) the strict reader, which reads only the
  // header fields, may still read; what keeps that harmless is the signature check that comes
  // first on every path, held to node's verdict by sameVerdict.
  if (!readCertificateParts(der) || !native) return false;
  const fast = viewCertificate(new Uint8Array(der).buffer);
  assert.equal(serialToDecimal(fast.serialNumber), serialToDecimal(native.serialNumber), `${label}: serial`);
  assert.equal(fast.notBefore.getTime(), native.notBefore.getTime(), `${label}: notBefore`);
  assert.equal(fast.notAfter.getTime(), native.notAfter.getTime(), `${label}: notAfter`);
  assert.equal(fast.subject, native.subject, `${label}: subject`);
  return true;
}

async function sameVerdict(der: Buffer, c: Ca, label: string): Promise<boolean> {
  const fast = await signedBy({ rawData: new Uint8Array(der).buffer }, c.cert);
  assert.equal(fast, nativeSignedBy(der, issuerKey(c.cert)), `${label}: signedBy disagrees with X509Certificate.verify`);
  return fast;
}

test(`${CASES} randomized leaves: the strict reading equals node's, signedBy equals X509Certificate.verify (seed ${SEED})`, async () => {
  const { cas, leafSpki } = await setup;
  const r = new Rand(SEED);
  for (let i = 0; i < CASES; i++) {
    const c = cas[i % cas.length]!;
    const der = await leaf(r, c, leafSpki);
    assert.ok(readCertificateParts(der), `leaf ${i}: our own leaves are read by the strict reader`);
    assert.ok(sameView(der, `leaf ${i}`), `leaf ${i}: node reads our own leaves too`);
    assert.equal(await sameVerdict(der, c, `leaf ${i}`), true);
    // Another CA with the same key type (the two P-256 ones), or another type altogether.
    assert.equal(await sameVerdict(der, cas[(i + 1) % cas.length]!, `leaf ${i} vs another CA`), false);
  }
});

test(`seeded mutations: where the strict reader reads, it agrees with node; verdicts always agree (seed ${SEED})`, async () => {
  const { cas, leafSpki } = await setup;
  const r = new Rand(SEED + 1);
  let read = 0;
  let compared = 0;
  for (let i = 0; i < CASES * 4; i++) {
    const c = cas[i % cas.length]!;
    const der = await leaf(r, c, leafSpki);
    const m = Buffer.from(der);
    for (let k = r.int(1, 3); k > 0; k--) {
      const at = r.chance(0.5) ? r.int(0, Math.min(80, m.length - 1)) : r.int(0, m.length - 1); // the header fields more often
      if (r.chance(0.5)) m[at] = m[at]! ^ (1 << r.int(0, 7));
      else m[at] = r.int(0, 255);
    }
    if (readCertificateParts(m)) read++;
    if (sameView(m, `mutation ${i}`)) compared++;
    await sameVerdict(m, c, `mutation ${i}`);
  }
  assert.ok(read > CASES, `only ${read} mutations were read by the strict reader`);
  assert.ok(compared > CASES / 2, `only ${compared} mutations were read by both readers and compared`);
});

test('the inner and outer algorithm must match, as OpenSSL requires', async () => {
  const { cas, leafSpki } = await setup;
  const c = cas[0]!;
  const der = await leaf(new Rand(SEED + 2), c, leafSpki);
  const parts = readCertificateParts(der)!;
  // ecdsa-with-SHA256 -> ecdsa-with-SHA384 in the TBS only: the signature still covers the old TBS,
  // so re-sign nothing; both checks must refuse.
  const at = der.indexOf(Buffer.from(parts.innerAlgorithm));
  const m = Buffer.from(der);
  m[at + parts.innerAlgorithm.length - 1] = 0x03;
  assert.equal(await sameVerdict(m, c, 'inner algorithm changed'), false);
});

test('what the strict reader leaves to node: negative serials, odd times, trailing bytes', () => {
  const t = (tag: number, ...parts: (string | Buffer)[]): Buffer => {
    const body = Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'hex') : p)));
    return Buffer.concat([Buffer.from([tag, body.length]), body]); // short lengths suffice here
  };
  const alg = '300a06082a8648ce3d040302';
  const time = (s: string) => t(s.length === 13 || s.length === 11 ? 0x17 : 0x18, Buffer.from(s, 'latin1'));
  const cert = (serial: string, notBefore = '260101000000Z', extra = '') => Buffer.concat([t(0x30,
    t(0x30, t(0x02, serial), alg, t(0x30), t(0x30, time(notBefore), time('270101000000Z')), t(0x30), t(0x30)),
    alg, t(0x03, '000102')), Buffer.from(extra, 'hex')]);
  const ok = readCertificateParts(cert('01'));
  assert.ok(ok, 'the minimal shape is read');
  assert.equal(ok.serialHex, '01');
  assert.equal(ok.notBefore.toISOString(), '2026-01-01T00:00:00.000Z');
  assert.equal(readCertificateParts(cert('0080'))?.serialHex, '80', 'a high bit after its 00');
  assert.equal(readCertificateParts(cert('01', '20500101000000Z'))?.notBefore.toISOString(), '2050-01-01T00:00:00.000Z');
  assert.equal(readCertificateParts(cert('81')), null, 'negative serial');
  assert.equal(readCertificateParts(cert('0001')), null, 'non-minimal serial');
  assert.equal(readCertificateParts(cert('01', '260230000000Z')), null, 'February 30th');
  assert.equal(readCertificateParts(cert('01', '2601010000Z')), null, 'UTCTime without seconds');
  assert.equal(readCertificateParts(cert('01', '260101000000+0100')), null, 'an offset instead of Z');
  assert.equal(readCertificateParts(cert('01', '260101000000Z', '00')), null, 'a trailing byte');
});
