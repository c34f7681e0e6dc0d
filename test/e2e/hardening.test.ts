// Issue 12's attack-run findings, each against a real CA: a jti-less renew token re-spelled,
// non-canonical public keys, names no certificate should carry, IPv6 zone ids, and a leaf that
// would start before its issuer. Every refusal leaves the token unspent and the ledger as it was.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { spawnSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign as nodeSign, X509Certificate } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, Name, SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import { CertificationRequest, CertificationRequestInfo } from '@peculiar/asn1-csr';
import { certificateCount } from '../helpers/ledger-rows.ts';
import * as jose from 'jose';
import { x509 } from '../../src/pki/x509.ts';
import { cli, request, startTestCa, type HttpResult, type TestCa } from '../helpers/ca.ts';
import { mintToken, opensslCsr, provisionerKey, type ProvisionerKey } from '../helpers/tokens.ts';

let ca: TestCa;
let admin: ProvisionerKey;
let aud: string;

before(async () => {
  ca = await startTestCa({ configure: (c) => { c.stepstone.rateLimit = { enabled: false }; } });
  admin = await provisionerKey(ca.configPath, ca.password);
  aud = `${ca.url}/1.0/sign`;
});
after(() => ca.cleanup());

const ledgerCount = () => certificateCount(ca.dbPath);

const sign = (body: unknown) => request(ca, 'POST', '/1.0/sign', body);

/** 400 in step-ca's shape naming `mentions`, nothing issued, and the same token then still buys a certificate. */
async function refusedUnspent(what: string, claims: Record<string, unknown>, csrPem: string, mentions: RegExp, retry?: { claims: Record<string, unknown>; csrPem: string }): Promise<HttpResult> {
  const before = ledgerCount();
  const ott = await mintToken(admin, { aud, ...claims });
  const r = await sign({ csr: csrPem, ott });
  assert.equal(r.status, 400, `${what}: ${r.body}`);
  assert.equal(r.json?.status, 400, `${what}: shape ${r.body}`);
  assert.match(r.json.message, mentions, what);
  assert.equal(ledgerCount(), before, `${what}: the ledger changed`);
  if (retry) {
    // Same jti, now with an acceptable request: a spent token would answer 401.
    const jti = JSON.parse(Buffer.from(ott.split('.')[1]!, 'base64url').toString()).jti;
    const again = await sign({ csr: retry.csrPem, ott: await mintToken(admin, { aud, ...retry.claims, jti }) });
    assert.equal(again.status, 201, `${what}: token was spent by the refusal: ${again.body}`);
  }
  return r;
}

// ---- item 1: a renew token is one token, however its signature is spelled ----

const P256_N = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');

/** Every other spelling of the last base64url character that decodes to the same bytes. */
function respellings(token: string): string[] {
  const head = token.slice(0, -1);
  const sig = Buffer.from(token.slice(token.lastIndexOf('.') + 1), 'base64url');
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  return [...alphabet].map((c) => head + c).filter((t) => t !== token && Buffer.from(t.slice(t.lastIndexOf('.') + 1), 'base64url').equals(sig));
}

/** The same ES256 signature with s replaced by n - s: also valid, and a different string. */
function highS(token: string): string {
  const i = token.lastIndexOf('.');
  const sig = Buffer.from(token.slice(i + 1), 'base64url');
  const s = BigInt(`0x${sig.subarray(32).toString('hex')}`);
  const flipped = Buffer.from((P256_N - s).toString(16).padStart(64, '0'), 'hex');
  return `${token.slice(0, i + 1)}${Buffer.concat([sig.subarray(0, 32), flipped]).toString('base64url')}`;
}

test('item 1: a jti-less renew token re-spelled (last character, ECDSA s -> n-s) renews once', async () => {
  const cn = 'respell.internal';
  const { csrPem, keyPem } = opensslCsr(cn, [cn]);
  const issued = await sign({ csr: csrPem, ott: await mintToken(admin, { aud, sub: cn }) });
  assert.equal(issued.status, 201, issued.body);
  const chain: string[] = issued.json.certChain;
  const now = Math.floor(Date.now() / 1000);
  const key = createPrivateKey(keyPem);
  const token = await new jose.CompactSign(new TextEncoder().encode(JSON.stringify({
    aud: `${ca.url}/1.0/renew`, iss: 'step-ca-client/1.0', sub: cn, iat: now, nbf: now, exp: now + 300,
  }))).setProtectedHeader({
    alg: 'ES256', kid: await jose.calculateJwkThumbprint(createPublicKey(key)), typ: 'JWT',
    x5cInsecure: chain.map((p) => new X509Certificate(p).raw.toString('base64')),
  }).sign(key);
  const variants = [...respellings(token), highS(token), ...respellings(highS(token))];
  assert.ok(variants.length >= 16, `only ${variants.length} variants`);
  // The high-s form alone (canonical spelling) is a valid signature: prove it so the test means something.
  await jose.compactVerify(highS(token), createPublicKey(key), { algorithms: ['ES256'] });
  const statuses: number[] = [];
  for (const t of [token, ...variants]) {
    const r = await request(ca, 'POST', '/1.0/renew', undefined, { headers: { authorization: `Bearer ${t}` } });
    assert.ok(r.status === 201 || r.status === 401, `unexpected ${r.status}: ${r.body}`);
    statuses.push(r.status);
  }
  assert.deepEqual(statuses.filter((s) => s === 201).length, 1, `201s: ${statuses.join(' ')}`);
  assert.equal(statuses[0], 201, 'the canonical token renews');
});

test('item 1: a sign token with a re-spelled signature is refused (401), not spent', async () => {
  const cn = 'respell-sign.internal';
  const { csrPem } = opensslCsr(cn, [cn]);
  const ott = await mintToken(admin, { aud, sub: cn });
  const before = ledgerCount();
  for (const t of respellings(ott)) {
    const r = await sign({ csr: csrPem, ott: t });
    assert.equal(r.status, 401, r.body);
  }
  assert.equal(ledgerCount(), before);
  assert.equal((await sign({ csr: csrPem, ott })).status, 201);
});

// ---- item 3: only the canonical SubjectPublicKeyInfo, only a CSR's own bytes ----

/** A CSR signed by `privateKey` carrying `spki` exactly as given, built with @peculiar's ASN.1 schemas. */
function csrWithSpki(cn: string, spki: SubjectPublicKeyInfo, privateKey: ReturnType<typeof createPrivateKey>): string {
  const info = new CertificationRequestInfo({ subject: AsnConvert.parse(new x509.Name(`CN=${cn}`).toArrayBuffer(), Name), subjectPKInfo: spki });
  const tbs = Buffer.from(AsnConvert.serialize(info));
  const req = new CertificationRequest({
    certificationRequestInfo: info,
    signatureAlgorithm: new AlgorithmIdentifier({ algorithm: '1.2.840.113549.1.1.11', parameters: null }),
    signature: new Uint8Array(nodeSign('sha256', tbs, privateKey)).buffer,
  });
  return `-----BEGIN CERTIFICATE REQUEST-----\n${Buffer.from(AsnConvert.serialize(req)).toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE REQUEST-----\n`;
}

test('item 3: explicit EC curve parameters (openssl ec_param_enc:explicit) -> 400 naming them, token not spent', async () => {
  const cn = 'explicit.internal';
  const { csrPem } = opensslCsr(cn, [cn], ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-pkeyopt', 'ec_param_enc:explicit']);
  await refusedUnspent('explicit curve', { sub: cn }, csrPem, /explicit curve parameters/, { claims: { sub: cn }, csrPem: opensslCsr(cn, [cn]).csrPem });
});

test('item 3: an RSA key without the NULL parameters -> 400 naming it, token not spent; the canonical form of the same key is issued', async (t) => {
  const cn = 'rsa-nonull.internal';
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const spki = AsnConvert.parse(publicKey.export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo);
  const canonical = csrWithSpki(cn, spki, privateKey);
  spki.algorithm = new AlgorithmIdentifier({ algorithm: spki.algorithm.algorithm });
  const noNull = csrWithSpki(cn, spki, privateKey);
  await refusedUnspent('RSA without NULL', { sub: cn }, noNull, /lacks the NULL/, { claims: { sub: cn }, csrPem: canonical });
  // What is issued is what strict verifiers take.
  const r = await sign({ csr: canonical, ott: await mintToken(admin, { aud, sub: cn }) });
  assert.equal(r.status, 201, r.body);
  const dir = mkdtempSync(join(tmpdir(), 'strict-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'leaf.crt'), r.json.crt);
  writeFileSync(join(dir, 'inter.crt'), r.json.ca);
  const v = spawnSync('openssl', ['verify', '-x509_strict', '-CAfile', ca.rootFile, '-untrusted', join(dir, 'inter.crt'), join(dir, 'leaf.crt')], { encoding: 'utf8' });
  assert.equal(v.status, 0, v.stdout + v.stderr);
});

test('item 3: bytes after the CSR DER, or text around its PEM block -> 400', async () => {
  const cn = 'garbage.internal';
  const { csrPem } = opensslCsr(cn, [cn]);
  const der = Buffer.from(csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const withTail = `-----BEGIN CERTIFICATE REQUEST-----\n${Buffer.concat([der, Buffer.from([0, 0])]).toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  await refusedUnspent('trailing DER', { sub: cn }, withTail, /bytes after its DER/);
  await refusedUnspent('text before', { sub: cn }, `hello\n${csrPem}`, /text around its PEM block/);
  await refusedUnspent('text after', { sub: cn }, `${csrPem}junk`, /text around its PEM block/);
  // Surrounding whitespace is not garbage.
  const ok = await sign({ csr: `\n  ${csrPem}\n\n`, ott: await mintToken(admin, { aud, sub: cn }) });
  assert.equal(ok.status, 201, ok.body);
});

// ---- items 4 and 5: names are checked before anything is issued or spent ----

const NAMELESS = () => opensslCsr('', []).csrPem;
const GOOD = { sub: 'names-ok.internal', sans: ['names-ok.internal'] };

test('item 4: names no certificate should carry -> 400 naming the name, token not spent', async () => {
  const csrPem = NAMELESS();
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['NUL in a DNS SAN', { sub: 'a.internal', sans: ['a\u0000b.internal'] }, /DNS name "a\\u0000b\.internal" has a control character/],
    ['newline in a DNS SAN', { sub: 'a.internal', sans: ['a.internal\nb.internal'] }, /control character/],
    ['10,000-character SAN', { sub: 'a.internal', sans: [`${'a'.repeat(60)}.`.repeat(170) + 'internal'] }, /characters long; a DNS name has at most 253/],
    ['300-character label', { sub: 'a.internal', sans: [`${'b'.repeat(300)}.internal`] }, /label of 300 characters/],
    ['bare *', { sub: 'a.internal', sans: ['*'] }, /bare wildcard/],
    ['inner wildcard', { sub: 'a.internal', sans: ['a.*.internal'] }, /wildcard other than/],
    ['underscore and space', { sub: 'a.internal', sans: ['my host.internal'] }, /not letters, digits and inner hyphens/],
    ['broken A-label', { sub: 'a.internal', sans: ['xn--zz.internal'] }, /not a valid punycode A-label/],
    ['5,000-character CN', { sub: 'c'.repeat(5000), sans: ['a.internal'] }, /5000 characters long; RFC 5280 allows at most 64/],
    ['bidi override in CN', { sub: 'evil\u202elanretni.a', sans: ['a.internal'] }, /bidirectional-text control character/],
    ['control character in CN', { sub: 'tab\there', sans: ['a.internal'] }, /common name "tab\\there" has a control character/],
    ['URI with a space', { sub: 'a.internal', sans: ['spiffe://td/a b'] }, /URI "spiffe:\/\/td\/a b" has characters a URI cannot hold/],
    ['email that is no addr-spec', { sub: 'a.internal', sans: ['a b@example.com'] }, /is not an email address/],
    ['email with a bad domain', { sub: 'a.internal', sans: ['a@exa_mple.com'] }, /email address "a@exa_mple.com" has a domain that/],
  ];
  for (const [what, claims, mentions] of cases) await refusedUnspent(what, claims, csrPem, mentions, { claims: GOOD, csrPem });
});

test('item 4: well-formed names of every kind are issued', async () => {
  const sans = ['xn--bcher-kva.example', '*.wild.internal', 'host-1.internal', '10.0.0.7', '2001:db8::7', 'ops.team+ca@example.com', 'spiffe://td/ns/prod/sa/web'];
  const r = await sign({ csr: NAMELESS(), ott: await mintToken(admin, { aud, sub: 'x'.repeat(64), sans }) });
  assert.equal(r.status, 201, r.body);
  const alt = new X509Certificate(r.json.crt).subjectAltName ?? '';
  for (const s of ['DNS:xn--bcher-kva.example', 'DNS:*.wild.internal', 'IP Address:10.0.0.7', 'email:ops.team+ca@example.com', 'URI:spiffe://td/ns/prod/sa/web']) assert.ok(alt.includes(s), `${s} in ${alt}`);
});

test('item 5: an IPv6 zone id (fe80::1%eth0, %25eth0) -> 400, token not spent, no TypeError in the log', async () => {
  const csrPem = NAMELESS();
  for (const zoned of ['fe80::1%eth0', 'fe80::1%25eth0']) {
    await refusedUnspent(zoned, { sub: 'a.internal', sans: [zoned] }, csrPem, /IPv6 zone id/, { claims: GOOD, csrPem });
    await refusedUnspent(`${zoned} as sub`, { sub: zoned }, csrPem, /IPv6 zone id/, { claims: GOOD, csrPem });
  }
  assert.ok(!ca.logs.some((l) => l.includes('Invalid URL')), 'a TypeError reached the log');
});

test('item 4: offline `certificate create` and `certificate sign` apply the same name rules', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'names-offline-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const f = (n: string) => join(dir, n);
  const create = (subject: string, out: string, extra: string[]) => cli(['certificate', 'create', subject, f(`${out}.crt`), f(`${out}.key`), '--no-password', '--insecure', ...extra]);
  assert.equal(create('Names Root', 'root', ['--profile', 'root-ca']).status, 0);
  const leaf = (subject: string, out: string, sans: string[]) => create(subject, out, ['--ca', f('root.crt'), '--ca-key', f('root.key'), ...sans.flatMap((s) => ['--san', s])]);
  for (const [subject, sans, why] of [
    ['ok.internal', ['bad\u0001.internal'], /DNS name "bad\\u0001\.internal" has a control character/],
    ['ok.internal', ['*'], /bare wildcard/],
    ['ok.internal', ['fe80::1%eth0'], /IPv6 zone id/],
    ['q'.repeat(65), ['ok.internal'], /RFC 5280 allows at most 64/],
  ] as [string, string[], RegExp][]) {
    const r = leaf(subject, 'bad', sans);
    assert.notEqual(r.status, 0, `${subject} ${sans}: accepted`);
    assert.match(r.stderr, why);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.ok(!existsSync(f('bad.crt')), 'a certificate was written');
  }
  assert.equal(leaf('fine.internal', 'fine', ['fine.internal', '10.1.2.3']).status, 0);
  // `init --dns`: the serving certificate will carry these names, so the same rules, before anything is written.
  writeFileSync(f('pw'), 'pw\n', { mode: 0o600 });
  const init = cli(['init', '--name', 'T', '--dns', 'ca_bad.internal,127.0.0.1', '--address', '127.0.0.1:0', '--provisioner', 'admin', '--password-file', f('pw'), '--home', f('home')]);
  assert.notEqual(init.status, 0);
  assert.match(init.stderr, /--dns: DNS name "ca_bad.internal"/);
  assert.ok(!existsSync(f('home')), 'init left a CA home behind');
  // `certificate sign`: the names come from the CSR.
  const csrFile = f('req.csr');
  writeFileSync(csrFile, opensslCsr('ok.internal', ['ok.internal', 'a.*.internal']).csrPem);
  const signed = cli(['certificate', 'sign', csrFile, f('root.crt'), f('root.key')]);
  assert.notEqual(signed.status, 0);
  assert.match(signed.stderr, /wildcard other than/);
});

// ---- item 13: a leaf never starts before its issuer ----

test('item 13: leaves issued within the backdate of init (sign, renew, the serving certificate) start no earlier than the intermediate', async (t) => {
  // An hour's backdate makes "within the backdate of init" certain however slow the machine is.
  const young = await startTestCa({ configure: (c) => { c.authority.backdate = '1h'; } });
  t.after(() => young.cleanup());
  const key = await provisionerKey(young.configPath, young.password);
  const cn = 'young.internal';
  const { csrPem, keyPem } = opensslCsr(cn, [cn]);
  const r = await request(young, 'POST', '/1.0/sign', { csr: csrPem, ott: await mintToken(key, { aud: `${young.url}/1.0/sign`, sub: cn }) });
  assert.equal(r.status, 201, r.body);
  const [leafPem, interPem] = r.json.certChain as [string, string];
  const inter = new X509Certificate(interPem);
  const start = (c: X509Certificate) => new Date(c.validFrom).getTime();
  assert.ok(start(inter) > Date.now() - 3_600_000, 'the intermediate is younger than the backdate');
  const leaf = new X509Certificate(leafPem);
  assert.ok(start(leaf) >= start(inter), `sign: leaf ${leaf.validFrom} before intermediate ${inter.validFrom}`);
  assert.ok(start(leaf) <= Date.now(), 'the leaf is valid now');

  const renewed = await request(young, 'POST', '/1.0/renew', undefined, { cert: leafPem + interPem, key: keyPem });
  assert.equal(renewed.status, 201, renewed.body);
  const again = new X509Certificate(renewed.json.crt);
  assert.ok(start(again) >= start(inter), `renew: ${again.validFrom} before intermediate ${inter.validFrom}`);
  const serving = await new Promise<X509Certificate>((res, rej) => {
    const s = tls.connect({ host: '127.0.0.1', port: young.port, ca: young.rootPem, servername: 'localhost' }, () => {
      const raw = s.getPeerCertificate().raw;
      s.end();
      res(new X509Certificate(raw));
    });
    s.on('error', rej);
  });
  assert.ok(start(serving) >= start(inter), `serving: ${serving.validFrom} before intermediate ${inter.validFrom}`);
});
