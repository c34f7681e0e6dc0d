// The adversarial suite (issue 6): every request here must be refused with step-ca's JSON shape
// and the right 4xx, issue nothing and leave the ledger as it was. One real CA with two JWK
// provisioners; tokens, CSRs and client certificates made by jose and openssl.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import * as jose from 'jose';
import { certificateCount } from '../helpers/ledger-rows.ts';
import { request, startTestCa, type HttpResult, type TestCa } from '../helpers/ca.ts';
import { markerId, pollUntil, waitForRequestLog } from '../helpers/logs.ts';
import { mintToken, opensslCsr, provisionerKey, type ProvisionerKey } from '../helpers/tokens.ts';
import { createProvisionerKey } from '../../src/pki/provisioner-key.ts';

const work = mkdtempSync(join(tmpdir(), 'security-'));
let ca: TestCa;
let admin: ProvisionerKey;
let other: ProvisionerKey;
let aud: string;
/** Every token and key this suite sent: none may appear in the server's log. */
const secrets: string[] = [];

before(async () => {
  const otherPair = await createProvisionerKey('other-password');
  ca = await startTestCa({
    configure: (c) => {
      c.authority.provisioners.push({ type: 'JWK', name: 'other', key: otherPair.publicJwk, encryptedKey: otherPair.encryptedKey });
    },
  });
  admin = await provisionerKey(ca.configPath, ca.password);
  other = await provisionerKey(ca.configPath, 'other-password', 'other');
  aud = `${ca.url}/1.0/sign`;
});
after(async () => {
  await ca.cleanup();
  rmSync(work, { recursive: true, force: true });
});

const ledgerCount = () => certificateCount(ca.dbPath);

async function token(p: ProvisionerKey, claims: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
  const t = await mintToken(p, { aud, ...claims }, header);
  secrets.push(t);
  return t;
}

function csr(cn: string, sans: string[] = [cn], keyArgs?: string[]): string {
  const { csrPem, keyPem } = opensslCsr(cn, sans, keyArgs);
  secrets.push(keyPem);
  return csrPem;
}

/** The refusal contract: this status, step-ca's JSON shape, and no new ledger row. */
async function waitFor(ok: () => boolean, what: string): Promise<void> {
  await pollUntil(what, 15_000, ok);
}

async function refused(name: string, status: number, send: () => Promise<HttpResult>): Promise<void> {
  const before = ledgerCount();
  const r = await send();
  assert.equal(r.status, status, `${name}: ${r.body}`);
  assert.equal(r.json?.status, status, `${name}: JSON shape ${r.body}`);
  assert.equal(typeof r.json?.message, 'string', name);
  assert.equal(ledgerCount(), before, `${name}: the ledger changed`);
}

const sign = (body: unknown) => () => request(ca, 'POST', '/1.0/sign', body);

test('tokens: forged, confused, stale, mis-addressed, malformed and replayed ones are refused', async () => {
  const now = Math.floor(Date.now() / 1000);
  const cn = 'tok.internal';
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const claims = { iss: 'admin', sub: cn, aud, iat: now, nbf: now, exp: now + 300, jti: randomBytes(8).toString('hex') };
  const stranger = await jose.generateKeyPair('ES256');
  const hmacKey = new TextEncoder().encode(JSON.stringify(admin.jwk));
  const jwe = await new jose.CompactEncrypt(new TextEncoder().encode(JSON.stringify(claims)))
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: admin.kid }).encrypt(randomBytes(32));
  const cases: [string, number, string][] = [
    ['alg none', 401, `${b64({ alg: 'none', kid: admin.kid, typ: 'JWT' })}.${b64(claims)}.`],
    ['HS256 with the public JWK as secret', 401, await new jose.CompactSign(new TextEncoder().encode(JSON.stringify(claims))).setProtectedHeader({ alg: 'HS256', kid: admin.kid }).sign(hmacKey)],
    ['another key, the right kid', 401, await token({ ...admin, key: stranger.privateKey }, { sub: cn })],
    ["admin's kid, other's iss", 401, await token(admin, { sub: cn, iss: 'other' })],
    ["other's kid, admin's iss", 401, await token(other, { sub: cn, iss: 'admin' })],
    ['expired beyond the leeway', 401, await token(admin, { sub: cn, iat: now - 600, nbf: now - 600, exp: now - 120 })],
    ['nbf in the future', 401, await token(admin, { sub: cn, nbf: now + 120, exp: now + 400 })],
    ['lifetime over the maximum', 401, await token(admin, { sub: cn, nbf: now, exp: now + 3 * 3600 })],
    ['no exp', 401, await token(admin, { sub: cn, exp: undefined })],
    ['audience: another host', 401, await token(admin, { sub: cn, aud: 'https://ca.elsewhere.example/1.0/sign' })],
    ['audience: http scheme', 401, await token(admin, { sub: cn, aud: aud.replace('https:', 'http:') })],
    ['audience: trailing slash', 401, await token(admin, { sub: cn, aud: `${aud}/` })],
    ['audience: renew on /sign', 401, await token(admin, { sub: cn, aud: `${ca.url}/1.0/renew` })],
    ['empty sub', 401, await token(admin, { sub: '' })],
    ['sans that do not cover the CSR', 403, await token(admin, { sub: cn, sans: ['elsewhere.internal'] })],
    ['JWE instead of JWS', 401, jwe],
    ['garbage', 401, 'not.a.token'],
  ];
  for (const [name, status, ott] of cases) await refused(name, status, sign({ csr: csr(cn), ott }));
  await refused('oversized token', 400, sign({ csr: csr(cn), ott: `${'A'.repeat(20_000)}.${'B'.repeat(100)}.C` }));
});

test('a token is spent once: after an issuance, and among 50 parallel requests exactly one wins', async () => {
  const ott = await token(admin, { sub: 'once.internal' });
  const first = await request(ca, 'POST', '/1.0/sign', { csr: csr('once.internal'), ott });
  assert.equal(first.status, 201, first.body);
  await refused('reused after issuance', 401, sign({ csr: csr('once.internal'), ott }));

  const race = await token(admin, { sub: 'race.internal' });
  const body = { csr: csr('race.internal'), ott: race };
  const before = ledgerCount();
  const answers = await Promise.all(Array.from({ length: 50 }, () => request(ca, 'POST', '/1.0/sign', body)));
  const statuses = answers.map((a) => a.status).sort();
  assert.equal(statuses.filter((s) => s === 201).length, 1, `statuses: ${statuses.join(',')}`);
  assert.ok(statuses.every((s) => s === 201 || s === 401), statuses.join(','));
  assert.equal(ledgerCount(), before + 1);
});

test('CSRs: bad signature, weak or unsupported keys, names beyond the token, wrong or huge PEM', async () => {
  const cn = 'csr.internal';
  const good = csr(cn);
  // Flip a byte inside the signature: still a well-formed CSR, no longer a valid one.
  const der = Buffer.from(good.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  der[der.length - 5]! ^= 0x01;
  const badSig = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  const cases: [string, number, string, string[]?][] = [
    ['bad signature', 400, badSig],
    ['RSA 1024', 400, csr(cn, [cn], ['-newkey', 'rsa:1024'])],
    ['P-192', 400, csr(cn, [cn], ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime192v1'])],
    ['CN not in the token', 403, csr('intruder.internal', [cn])],
    ['extra DNS SAN', 403, csr(cn, [cn, 'extra.internal'])],
    ['extra IP SAN', 403, csr(cn, [cn, '10.9.9.9'])],
    ['extra email SAN', 403, csr(cn, [cn, 'x@example.com'])],
    ['extra URI SAN', 403, csr(cn, [cn, 'spiffe://example.org/x'])],
    ['not PEM', 400, 'hello'],
    ['a certificate, not a request', 400, ca.rootPem],
  ];
  for (const [name, status, pem] of cases) await refused(name, status, sign({ csr: pem, ott: await token(admin, { sub: cn }) }));
  await refused('a huge CSR', 400, sign({ csr: `${good}${'A'.repeat(40_000)}`, ott: await token(admin, { sub: cn }) }));
});

test('a CSR asking for CA:true and keyCertSign gets a plain leaf', async () => {
  const cn = 'wannabe-ca.internal';
  const key = join(work, 'ca-ask.key');
  const out = spawnSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-subj', `/CN=${cn}`,
    '-addext', `subjectAltName=DNS:${cn}`, '-addext', 'basicConstraints=critical,CA:true', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], { encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  secrets.push(readFileSync(key, 'utf8'));
  const r = await request(ca, 'POST', '/1.0/sign', { csr: out.stdout, ott: await token(admin, { sub: cn }) });
  assert.equal(r.status, 201, r.body);
  const leaf = new X509Certificate(r.json.crt);
  assert.equal(leaf.ca, false);
  const text = spawnSync('openssl', ['x509', '-noout', '-text'], { input: r.json.crt, encoding: 'utf8' }).stdout;
  assert.doesNotMatch(text, /CA:TRUE/);
  assert.doesNotMatch(text, /Certificate Sign|CRL Sign/);
});

/** A certificate and key from this CA, as files. */
async function issue(cn: string): Promise<{ cert: string; key: string; serial: string }> {
  const { csrPem, keyPem } = opensslCsr(cn, [cn]);
  secrets.push(keyPem);
  const r = await request(ca, 'POST', '/1.0/sign', { csr: csrPem, ott: await token(admin, { sub: cn }) });
  assert.equal(r.status, 201, r.body);
  return { cert: r.json.crt, key: keyPem, serial: BigInt(`0x${new X509Certificate(r.json.crt).serialNumber}`).toString() };
}

test('renew and revoke: look-alikes from another CA, revoked certificates, foreign renew tokens, other serials', async () => {
  // A look-alike: same subject and SANs, signed by a CA of the attacker's own.
  const dir = mkdtempSync(join(work, 'evil-'));
  const run = (args: string[]) => assert.equal(spawnSync('openssl', args, { cwd: dir }).status, 0, args.join(' '));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  run(['req', '-x509', ...ec, '-keyout', 'evil.key', '-out', 'evil.crt', '-subj', '/CN=Test Intermediate CA', '-days', '2']);
  run(['req', '-new', ...ec, '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=victim.internal']);
  run(['x509', '-req', '-in', 'leaf.csr', '-CA', 'evil.crt', '-CAkey', 'evil.key', '-set_serial', '7', '-days', '1', '-out', 'leaf.crt']);
  const evil = { cert: readFileSync(join(dir, 'leaf.crt'), 'utf8'), key: readFileSync(join(dir, 'leaf.key'), 'utf8') };
  secrets.push(evil.key);
  await refused('renew: a look-alike from another CA', 401, () => request(ca, 'POST', '/1.0/renew', undefined, evil));

  // Signed with this CA's own intermediate key, so the handshake trusts it, but never issued:
  // renewal must still refuse it, because it is not in the ledger (the TLS check is the only
  // signature check an mTLS renewal makes; the ledger row is what makes it ours).
  run(['x509', '-req', '-in', 'leaf.csr', '-CA', join(ca.home, 'certs', 'intermediate_ca.crt'), '-CAkey', join(ca.home, 'secrets', 'intermediate_ca_key'),
    '-passin', `file:${ca.passwordFile}`, '-set_serial', '77', '-days', '1', '-out', 'forged.crt']);
  const forged = { cert: readFileSync(join(dir, 'forged.crt'), 'utf8'), key: evil.key };
  const before = ledgerCount();
  const rf = await request(ca, 'POST', '/1.0/renew', undefined, forged);
  assert.equal(rf.status, 401, rf.body);
  // The public message is step-ca's generic one; the reason is in the log.
  await waitFor(() => /certificate 77 is not in the ledger/.test(ca.logs.join('')), 'the refusal reason in the log');
  assert.equal(ledgerCount(), before);
  // The intermediate itself, presented with its own key: the handshake refuses it as a client
  // certificate (no clientAuth purpose), so no leaf is ever "renewed" from a CA certificate.
  run(['pkey', '-in', join(ca.home, 'secrets', 'intermediate_ca_key'), '-passin', `file:${ca.passwordFile}`, '-out', 'intermediate.key']);
  const intermediate = { cert: readFileSync(join(ca.home, 'certs', 'intermediate_ca.crt'), 'utf8'), key: readFileSync(join(dir, 'intermediate.key'), 'utf8') };
  secrets.push(intermediate.key);
  const ri = await request(ca, 'POST', '/1.0/renew', undefined, intermediate);
  assert.equal(ri.status, 401, ri.body);
  await waitFor(() => /client certificate not trusted: INVALID_PURPOSE/.test(ca.logs.join('')), 'the intermediate refused by the handshake');
  assert.equal(ledgerCount(), before);

  const revoked = await issue('revoked.internal');
  const rv = await request(ca, 'POST', '/1.0/revoke', { serial: revoked.serial, reasonCode: 1 }, revoked);
  assert.equal(rv.status, 200, rv.body);
  await refused('renew: a revoked certificate', 401, () => request(ca, 'POST', '/1.0/renew', undefined, revoked));

  const holder = await issue('holder.internal');
  const x5c = [Buffer.from(holder.cert.replace(/-----[^-]+-----|\s/g, ''), 'base64').toString('base64')];
  const stranger = await jose.generateKeyPair('ES256');
  const now = Math.floor(Date.now() / 1000);
  const renewToken = await new jose.SignJWT({ sub: 'holder.internal', jti: randomBytes(8).toString('hex') })
    .setProtectedHeader({ alg: 'ES256', x5cInsecure: x5c } as jose.JWTHeaderParameters)
    .setIssuer('step-ca-client/1.0').setAudience(`${ca.url}/1.0/renew`).setIssuedAt(now).setNotBefore(now).setExpirationTime(now + 300)
    .sign(stranger.privateKey);
  secrets.push(renewToken);
  await refused('renew token signed with another key', 401, () => request(ca, 'POST', '/1.0/renew', undefined, { headers: { authorization: `Bearer ${renewToken}` } }));

  const victim = await issue('victim.internal');
  await refused("revoke someone else's serial over mTLS", 403, () => request(ca, 'POST', '/1.0/revoke', { serial: victim.serial, reasonCode: 0 }, holder));
});

test('transport: TLS 1.0 and 1.1 refused, TLS 1.2 accepted; a body over the limit is refused with 413', async () => {
  for (const maxVersion of ['TLSv1', 'TLSv1.1'] as const) {
    const outcome = await new Promise<string>((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port: ca.port, ca: ca.rootPem, minVersion: 'TLSv1', maxVersion, servername: 'localhost' }, () => { s.end(); resolve('connected'); });
      s.on('error', (e) => resolve(`refused: ${e.message}`));
    });
    assert.match(outcome, /^refused/, maxVersion);
  }
  const ok = await new Promise<string>((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port: ca.port, ca: ca.rootPem, maxVersion: 'TLSv1.2', servername: 'localhost' }, () => { resolve(s.getProtocol() ?? ''); s.end(); });
    s.on('error', (e) => resolve(e.message));
  });
  assert.equal(ok, 'TLSv1.2');
  await refused('body over the limit', 413, () => request(ca, 'POST', '/1.0/sign', undefined, { raw: JSON.stringify({ csr: 'A'.repeat(200_000), ott: 'x' }) }));
});

test("after the whole suite the server's log holds no token, password or private key", async () => {
  // A last refused request carrying a secret, and its own log line awaited: lines of one stream
  // arrive in order, so every line the suite's requests produced is in by then (pino writes
  // asynchronously; reading the log once could miss the latest ones).
  const last = markerId('security-last');
  const r = await request(ca, 'POST', '/1.0/sign', { csr: csr('last.internal'), ott: await token(other, { sub: 'last.internal', iss: 'admin' }) }, { headers: { 'x-request-id': last } });
  assert.equal(r.status, 401, r.body);
  await waitForRequestLog(ca.logs, last, 15_000, 'request refused');
  const log = ca.logs.join('\n');
  for (const s of secrets) {
    const probe = s.includes('PRIVATE KEY') ? s.split('\n')[1]! : s.slice(-40);
    assert.ok(!log.includes(probe), `a secret is in the log: ${probe.slice(0, 20)}…`);
  }
  assert.ok(!log.includes(ca.password) && !log.includes('other-password'), 'a password is in the log');
  assert.ok(!/PRIVATE KEY/.test(log), 'a private key is in the log');
});

