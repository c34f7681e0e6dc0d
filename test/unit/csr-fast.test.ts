// The differential test that licenses src/pki/csr-fast.ts: on seeded, generated CSRs (every SAN
// type, several key types, string types and attribute shapes) and on seeded mutations of them,
// parseCsr (the fast reader, falling back to the library) must give exactly what
// parseCsrWithLibrary (@peculiar/x509 alone) gives: the same fields, or the same error.
// CSR_FAST_SEED and CSR_FAST_MUTANTS override.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { x509 } from '../../src/pki/x509.ts';
import { toPem, pemBlocks } from '../../src/pki/pem.ts';
import { CsrError, parseCsr, parseCsrWithLibrary, type ParsedCsr } from '../../src/pki/csr.ts';
import { readCsrFast } from '../../src/pki/csr-fast.ts';
import { Rand } from '../helpers/random.ts';

const SEED = Number(process.env.CSR_FAST_SEED ?? 20261124);
const MUTANTS = Number(process.env.CSR_FAST_MUTANTS ?? 2000);

type KeyKind = 'P-256' | 'P-384' | 'P-521' | 'Ed25519' | 'RSA-2048';
const KINDS: KeyKind[] = ['P-256', 'P-256', 'P-256', 'P-384', 'P-521', 'Ed25519', 'RSA-2048'];

async function keyPair(kind: KeyKind): Promise<CryptoKeyPair> {
  const alg = kind === 'Ed25519' ? { name: 'Ed25519' }
    : kind === 'RSA-2048' ? { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }
    : { name: 'ECDSA', namedCurve: kind };
  return webcrypto.subtle.generateKey(alg, false, ['sign', 'verify']) as Promise<CryptoKeyPair>;
}

function signingAlgorithm(kind: KeyKind, r: Rand): Algorithm | EcdsaParams {
  if (kind === 'Ed25519') return { name: 'Ed25519' };
  if (kind === 'RSA-2048') return { name: 'RSASSA-PKCS1-v1_5' };
  return { name: 'ECDSA', hash: r.pick(['SHA-256', 'SHA-384', 'SHA-512']) } as EcdsaParams;
}

const ASCII = 'abcdefghijklmnopqrstuvwxyz0123456789-. _#,+=\\"<>;*';
function label(r: Rand): string { return r.str('abcdefghijklmnopqrstuvwxyz0123456789-', r.int(1, 12)); }
function host(r: Rand): string { return Array.from({ length: r.int(1, 4) }, () => label(r)).join('.'); }
function ip(r: Rand): string {
  if (r.chance(0.5)) return Array.from({ length: 4 }, () => r.int(0, 255)).join('.');
  const groups = Array.from({ length: 8 }, () => (r.chance(0.4) ? 0 : r.int(0, 0xffff)).toString(16));
  return groups.join(':');
}

function randomName(r: Rand): x509.Name {
  const value = (s: string) => {
    const type = r.pick(['utf8String', 'printableString', 'ia5String', 'plain', 'bmpString']);
    return type === 'plain' ? s : { [type]: s };
  };
  const cn = r.chance(0.1) ? `${label(r)}-é` : r.chance(0.2) ? r.str(ASCII, r.int(0, 20)) : host(r);
  const rdns: Record<string, unknown[]>[] = [];
  if (r.chance(0.3)) rdns.push({ O: [value(label(r))] });
  if (r.chance(0.9)) rdns.push(r.chance(0.1) ? { CN: [value(cn)], OU: [value(label(r))] } : { CN: [value(cn)] });
  if (r.chance(0.1)) rdns.push({ CN: [value(host(r))] });
  if (r.chance(0.2)) rdns.push({ C: [{ printableString: 'US' }] });
  return new x509.Name(rdns as never);
}

function randomSans(r: Rand): x509.JsonGeneralName[] {
  const out: x509.JsonGeneralName[] = [];
  for (let i = r.int(0, 5); i > 0; i--) {
    const t = r.pick(['dns', 'dns', 'ip', 'email', 'url', 'other']);
    if (t === 'dns') out.push({ type: 'dns', value: r.chance(0.05) ? `${label(r)}.bücher.example` : host(r) });
    else if (t === 'ip') out.push({ type: 'ip', value: ip(r) });
    else if (t === 'email') out.push({ type: 'email', value: `${label(r)}@${host(r)}` });
    else if (t === 'url') out.push({ type: 'url', value: `spiffe://${host(r)}/ns/${label(r)}` });
    else out.push(r.pick([{ type: 'guid', value: 'c7d49f4a-b27f-4a2f-9a48-1d6cd3a6f1b9' }, { type: 'upn', value: `${label(r)}@corp` }, { type: 'id', value: '1.2.3.4' }] as x509.JsonGeneralName[]));
  }
  return out;
}

async function randomCsr(r: Rand, keys: Map<KeyKind, CryptoKeyPair[]>): Promise<string> {
  const kind = r.pick(KINDS);
  const pair = r.pick(keys.get(kind)!);
  const extensions: x509.Extension[] = [];
  if (r.chance(0.85)) extensions.push(new x509.SubjectAlternativeNameExtension(randomSans(r), r.chance(0.2)));
  if (r.chance(0.2)) extensions.push(new x509.BasicConstraintsExtension(true, 2, true));
  if (r.chance(0.2)) extensions.push(new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.digitalSignature, true));
  if (r.chance(0.05)) extensions.push(new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: host(r) }]));
  const attributes = r.chance(0.1) ? [new x509.ChallengePasswordAttribute(label(r))] : [];
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: randomName(r), keys: pair, signingAlgorithm: signingAlgorithm(kind, r), extensions, attributes,
  });
  return csr.toString('pem');
}

async function outcome(parse: (pem: string) => Promise<ParsedCsr>, pem: string): Promise<unknown> {
  try {
    const c = await parse(pem);
    return { der: Buffer.from(c.der).toString('hex'), commonName: c.commonName, sans: c.sans, spki: Buffer.from(c.spki).toString('hex'), keyType: c.keyType };
  } catch (e) {
    // Anything but a CsrError would reach the client as a 500 (the fuzzer found one: a lazily
    // parsed, malformed EC parameters block).
    return e instanceof CsrError ? { error: e.message } : { unexpected: String(e) };
  }
}

const dir = mkdtempSync(join(tmpdir(), 'stepstone-csr-fast-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const corpus: string[] = [];

function opensslCsr(i: number, newkey: string[], subj: string, extra: string[] = []): string {
  const out = join(dir, `${i}.csr`);
  execFileSync('openssl', ['req', '-new', ...newkey, '-nodes', '-keyout', join(dir, `${i}.key`), '-subj', subj, ...extra, '-out', out], { stdio: 'pipe' });
  return readFileSync(out, 'utf8');
}

before(async () => {
  const r = new Rand(SEED);
  const keys = new Map<KeyKind, CryptoKeyPair[]>();
  for (const kind of new Set(KINDS)) keys.set(kind, await Promise.all(Array.from({ length: kind === 'RSA-2048' ? 1 : 4 }, () => keyPair(kind))));
  for (let i = 0; i < 300; i++) corpus.push(await randomCsr(r, keys));
  const p256 = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  corpus.push(
    opensslCsr(1, p256, '/CN=web.example.com/O=Example', ['-addext', 'subjectAltName=DNS:web.example.com,IP:10.0.0.1,IP:2001:db8::1,email:a@b.c,URI:spiffe://x/y']),
    opensslCsr(2, p256, '/CN=Zoë Example', ['-utf8']),
    opensslCsr(3, ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp256k1'], '/CN=k1.example.com'),
    opensslCsr(4, ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-pkeyopt', 'ec_param_enc:explicit'], '/CN=explicit.example.com'),
    opensslCsr(5, ['-newkey', 'rsa:1024'], '/CN=weak.example.com'),
    opensslCsr(6, p256, '/CN=a/CN=b', ['-addext', 'subjectAltName=otherName:1.2.3.4;UTF8:x,DNS:a']),
    opensslCsr(7, ['-newkey', 'ed25519'], '/CN=ed.example.com', ['-addext', 'subjectAltName=DNS:ed.example.com']),
  );
});

test('generated CSRs: the fast reader handles the common shapes and agrees with the library on all', async () => {
  let fast = 0;
  for (const pem of corpus) {
    if (readCsrFast(new Uint8Array(pemBlocks(pem, 'CERTIFICATE REQUEST')[0]!))) fast++;
    assert.deepEqual(await outcome(parseCsr, pem), await outcome(parseCsrWithLibrary, pem), pem);
  }
  // Most generated CSRs are of the plain shape; if the reader stopped taking them, this says so.
  assert.ok(fast > corpus.length / 2, `fast reader took only ${fast} of ${corpus.length}`);
});

test('the plain P-256 shape that step and openssl send takes the fast path', () => {
  const pem = corpus[300]!;
  const fast = readCsrFast(new Uint8Array(pemBlocks(pem, 'CERTIFICATE REQUEST')[0]!));
  assert.ok(fast);
  assert.equal(fast.commonName, 'web.example.com');
  assert.deepEqual(fast.sans, { dns: ['web.example.com'], ip: ['10.0.0.1', '2001:db8::1'], email: ['a@b.c'], url: ['spiffe://x/y'] });
  assert.equal(fast.ec?.crv, 'P-256');
  // The uncompressed point, exactly the last 65 bytes of the library's SubjectPublicKeyInfo.
  const spki = Buffer.from(new x509.Pkcs10CertificateRequest(pem).publicKey.rawData);
  assert.deepEqual(Buffer.from(fast.ec!.point), spki.subarray(spki.length - 65));
  assert.equal(fast.ec!.point[0], 0x04);
});

test('a P-256 point off the curve: the fast reader takes its shape, the import refuses it, and the answer is the library\'s', async () => {
  const der = Buffer.from(pemBlocks(corpus[300]!, 'CERTIFICATE REQUEST')[0]!);
  const fast = readCsrFast(new Uint8Array(der));
  assert.ok(fast?.ec);
  const at = der.indexOf(Buffer.from(fast.ec.point));
  der[at + 64] = der[at + 64]! ^ 0x01;
  assert.ok(readCsrFast(new Uint8Array(der))?.ec, 'still the plain shape');
  const pem = toPem(der, 'CERTIFICATE REQUEST');
  const got = await outcome(parseCsr, pem);
  assert.deepEqual(got, await outcome(parseCsrWithLibrary, pem));
  assert.match(JSON.stringify(got), /"error":"invalid csr: /);
});

test(`seeded mutations (${MUTANTS}): bit flips, byte sets, truncations, length edits give the library's answer`, async (t) => {
  const r = new Rand(SEED + 1);
  let fastTook = 0;
  for (let i = 0; i < MUTANTS; i++) {
    const der = Buffer.from(pemBlocks(r.pick(corpus), 'CERTIFICATE REQUEST')[0]!);
    const m = mutate(der, r);
    if (readCsrFast(new Uint8Array(m))) fastTook++;
    const pem = toPem(m, 'CERTIFICATE REQUEST');
    const fast = await outcome(parseCsr, pem);
    assert.ok(!('unexpected' in (fast as object)), `mutant ${i}: ${JSON.stringify(fast)}`);
    assert.deepEqual(fast, await outcome(parseCsrWithLibrary, pem), `mutant ${i} (seed ${SEED}): ${m.toString('hex')}`);
  }
  t.diagnostic(`fast reader took ${fastTook} of ${MUTANTS} mutants`);
  // Flips in names and signatures keep the shape: the fast path must have been exercised.
  assert.ok(fastTook > MUTANTS / 10, `fast reader took only ${fastTook} mutants`);
});

function mutate(der: Buffer, r: Rand): Buffer {
  const m = Buffer.from(der);
  switch (r.int(0, 4)) {
    case 0: { const at = r.int(0, m.length - 1); m[at]! ^= 1 << r.int(0, 7); return m; }
    case 1: { const at = r.int(0, m.length - 1); m[at] = r.pick([0x00, 0x7f, 0x80, 0x81, 0x82, 0xff, r.int(0, 255)]); return m; }
    case 2: return m.subarray(0, r.int(0, m.length - 1));
    case 3: { // a length byte one off, where a tag is followed by a short length
      const at = r.int(0, m.length - 2);
      m[at + 1] = (m[at + 1]! + r.pick([1, 255])) & 0xff;
      return m;
    }
    default: { // a chunk duplicated in place
      const a = r.int(0, m.length - 1);
      const b = Math.min(m.length, a + r.int(1, 16));
      return Buffer.concat([m.subarray(0, b), m.subarray(a, b), m.subarray(b)]);
    }
  }
}
