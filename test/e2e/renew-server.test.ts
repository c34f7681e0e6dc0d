// /renew and /rekey on the server: real mTLS with curl, real bearer renew tokens, the ledger's
// lineage, and every refusal the issue lists.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import * as jose from 'jose';
import { createProvisionerKey } from '../../src/pki/provisioner-key.ts';
import { request, startTestCa, type TestCa } from '../helpers/ca.ts';
import { mintToken, opensslCsr, provisionerKey, type ProvisionerKey } from '../helpers/tokens.ts';

const work = mkdtempSync(join(tmpdir(), 'renew-srv-'));
let ca: TestCa;
let admin: ProvisionerKey;
let lenient: ProvisionerKey;
let frozen: ProvisionerKey;

before(async () => {
  // Two extra provisioners: one that renews after expiry, one that never renews.
  const [l, f] = await Promise.all([createProvisionerKey('lenient-pw'), createProvisionerKey('frozen-pw')]);
  ca = await startTestCa({
    configure: (c) => {
      c.authority.claims.minTLSCertDuration = '5s';
      c.authority.provisioners.push(
        { type: 'JWK', name: 'lenient', key: l.publicJwk, encryptedKey: l.encryptedKey, claims: { allowRenewalAfterExpiry: true } },
        { type: 'JWK', name: 'frozen', key: f.publicJwk, encryptedKey: f.encryptedKey, claims: { disableRenewal: true } },
      );
    },
  });
  admin = await provisionerKey(ca.configPath, ca.password);
  lenient = await provisionerKey(ca.configPath, 'lenient-pw', 'lenient');
  frozen = await provisionerKey(ca.configPath, 'frozen-pw', 'frozen');
});
after(() => ca.cleanup());

interface Issued { chain: string; leaf: string; key: string; chainFile: string; leafFile: string; keyFile: string; serial: string }

async function issue(p: ProvisionerKey, iss: string, cn: string, notAfter = ''): Promise<Issued> {
  const { csrPem, keyPem } = opensslCsr(cn, [cn]);
  const ott = await mintToken(p, { iss, aud: `${ca.url}/1.0/sign`, sub: cn });
  const r = await request(ca, 'POST', '/sign', { csr: csrPem, ott, notAfter });
  assert.equal(r.status, 201, r.body);
  return save(r.json, keyPem);
}

function save(json: any, key: string): Issued {
  const dir = mkdtempSync(join(work, 'c-'));
  const chain = json.certChain.join('');
  const files = { chainFile: join(dir, 'chain.crt'), leafFile: join(dir, 'leaf.crt'), keyFile: join(dir, 'key.pem') };
  writeFileSync(files.chainFile, chain);
  writeFileSync(files.leafFile, json.crt);
  writeFileSync(files.keyFile, key, { mode: 0o600 });
  return { chain, leaf: json.crt, key, ...files, serial: BigInt(`0x${new X509Certificate(json.crt).serialNumber}`).toString() };
}

function curlRenew(certFile: string, keyFile: string, path = '/renew', body = ''): { status: number; json: any } {
  const r = spawnSync('curl', ['-sS', '--cacert', ca.rootFile, '--cert', certFile, '--key', keyFile, '-X', 'POST',
    '-H', 'content-type: application/json', ...(body ? ['-d', body] : []), '-w', '\n%{http_code}', `${ca.url}${path}`], { encoding: 'utf8' });
  const i = r.stdout.lastIndexOf('\n');
  return { status: Number(r.stdout.slice(i + 1)), json: JSON.parse(r.stdout.slice(0, i) || 'null') };
}

function ledger<T>(fn: (db: Database.Database) => T): T {
  const db = new Database(ca.dbPath);
  try { return fn(db); } finally { db.close(); }
}

async function renewToken(c: Issued, claims: Record<string, unknown> = {}, signWith?: jose.CryptoKey | import('node:crypto').KeyObject): Promise<string> {
  const leaf = new X509Certificate(c.leaf);
  const key = signWith ?? createPrivateKey(c.key);
  const pub = await jose.exportJWK(createPublicKey(c.key));
  const now = Math.floor(Date.now() / 1000);
  const x5c = c.chain.split(/(?=-----BEGIN CERTIFICATE-----)/).map((p) => new X509Certificate(p).raw.toString('base64'));
  return new jose.CompactSign(new TextEncoder().encode(JSON.stringify({
    aud: `${ca.url}/renew`, iss: 'step-ca-client/1.0', sub: leaf.subject.replace(/^CN=/, ''), jti: randomBytes(32).toString('hex'),
    iat: now, nbf: now, exp: now + 300, ...claims,
  }))).setProtectedHeader({ alg: 'ES256', kid: await jose.calculateJwkThumbprint(pub), typ: 'JWT', x5cInsecure: x5c }).sign(key);
}

const bearer = (t: string) => ({ headers: { authorization: `Bearer ${t}` } });

test('mTLS renew with curl: new serial, same key, names, extensions and total lifetime; lineage in the ledger', async () => {
  const c = await issue(admin, 'admin', 'renew.internal');
  const r = curlRenew(c.chainFile, c.keyFile);
  assert.equal(r.status, 201, JSON.stringify(r.json));
  const oldCert = new X509Certificate(c.leaf);
  const newCert = new X509Certificate(r.json.crt);
  assert.notEqual(newCert.serialNumber, oldCert.serialNumber);
  assert.equal(newCert.subject, oldCert.subject);
  assert.equal(newCert.subjectAltName, oldCert.subjectAltName);
  assert.ok(newCert.publicKey.equals(oldCert.publicKey));
  const life = (x: X509Certificate) => new Date(x.validTo).getTime() - new Date(x.validFrom).getTime();
  assert.equal(life(newCert), life(oldCert));
  // Backdated a minute, but never to before the intermediate (issue 12 item 13): this CA may be younger.
  const interStart = new Date(new X509Certificate(c.chain.slice(c.chain.indexOf('-----END CERTIFICATE-----') + 26)).validFrom).getTime();
  assert.ok(new Date(newCert.validFrom).getTime() >= interStart, 'not before the intermediate');
  assert.ok(new Date(newCert.validFrom).getTime() <= Math.max(Date.now() - 59_000, interStart), 'backdated a minute');
  const text = (pem: string) => spawnSync('openssl', ['x509', '-noout', '-text'], { input: pem, encoding: 'utf8' }).stdout
    .replace(/Serial Number:[\s\S]*?Signature Algorithm/, '').replace(/Validity[\s\S]*?Subject:/, '').replace(/Signature Value:[\s\S]*/, '');
  assert.equal(text(r.json.crt), text(c.leaf), 'everything but serial, dates and signature is the same');
  const rows = ledger((db) => db.prepare('SELECT serial, method, replaces FROM certificates WHERE subject = ? ORDER BY issued_at').all('renew.internal')) as any[];
  assert.deepEqual(rows.map((x) => [x.method, x.replaces]), [['sign', null], ['renew', c.serial]]);

  // The renewed certificate renews too, with the leaf alone (the CA knows its intermediate).
  const second = save(r.json, c.key);
  const again = curlRenew(second.leafFile, second.keyFile, '/1.0/renew');
  assert.equal(again.status, 201);
  const chain = ledger((db) => db.prepare('SELECT count(*) AS n FROM certificates WHERE subject = ?').get('renew.internal')) as any;
  assert.equal(chain.n, 3);
});

test('no client certificate and no token: 400 missing client certificate', async () => {
  for (const path of ['/renew', '/rekey']) {
    const r = await request(ca, 'POST', path, undefined, { headers: { 'content-type': 'application/json' } });
    assert.deepEqual(r.json, { status: 400, message: 'The request could not be completed: missing client certificate.' });
  }
});

test('refused: a certificate from another CA with the same subject, a revoked one, a provisioner with disableRenewal', async () => {
  const mine = await issue(admin, 'admin', 'victim.internal');
  const other = await startTestCa();
  try {
    const otherAdmin = await provisionerKey(other.configPath, other.password);
    const { csrPem, keyPem } = opensslCsr('victim.internal', ['victim.internal']);
    const ott = await mintToken(otherAdmin, { aud: `${other.url}/1.0/sign`, sub: 'victim.internal' });
    const foreign = save((await request(other, 'POST', '/sign', { csr: csrPem, ott })).json, keyPem);
    assert.equal(curlRenew(foreign.chainFile, foreign.keyFile).status, 401);
    assert.equal((await request(ca, 'POST', '/renew', undefined, bearer(await renewToken(foreign)))).status, 401);
  } finally {
    await other.cleanup();
  }
  ledger((db) => db.prepare('UPDATE certificates SET revoked_at = ?, revocation_reason_code = 1 WHERE serial = ?').run(Date.now(), mine.serial));
  assert.equal(curlRenew(mine.chainFile, mine.keyFile).status, 401);
  const frozenCert = await issue(frozen, 'frozen', 'frozen.internal');
  assert.equal(curlRenew(frozenCert.chainFile, frozenCert.keyFile).status, 401);
});

test('bearer renew token: accepted once; refused when reused, signed by another key, for another audience or subject', async () => {
  const c = await issue(admin, 'admin', 'bearer.internal');
  const t = await renewToken(c);
  const ok = await request(ca, 'POST', '/renew', undefined, bearer(t));
  assert.equal(ok.status, 201, ok.body);
  assert.ok(new X509Certificate(ok.json.crt).publicKey.equals(new X509Certificate(c.leaf).publicKey));
  assert.equal((await request(ca, 'POST', '/renew', undefined, bearer(t))).status, 401, 'reused');
  const stranger = (await jose.generateKeyPair('ES256')).privateKey;
  for (const [name, tok] of [
    ['another key', await renewToken(c, {}, stranger)],
    ['sign audience', await renewToken(c, { aud: `${ca.url}/1.0/sign` })],
    ['other subject', await renewToken(c, { sub: 'someone.else' })],
    ['other issuer', await renewToken(c, { iss: 'mallory' })],
    ['no exp', await renewToken(c, { exp: undefined })],
  ] as const) {
    assert.equal((await request(ca, 'POST', '/renew', undefined, bearer(tok))).status, 401, name);
  }
});

test('bearer renew token: a revoked certificate is refused and nothing is issued, whether the token was made before or after the revocation', async () => {
  const c = await issue(admin, 'admin', 'revoked-bearer.internal');
  const before = await renewToken(c);
  const revoked = await request(ca, 'POST', '/1.0/revoke', { serial: c.serial, reasonCode: 1, reason: 'key compromise',
    ott: await mintToken(admin, { aud: `${ca.url}/1.0/revoke`, sub: c.serial }) });
  assert.equal(revoked.status, 200, revoked.body);
  for (const [name, tok] of [['made before the revocation', before], ['made after it', await renewToken(c)]] as const) {
    const r = await request(ca, 'POST', '/renew', undefined, bearer(tok));
    assert.equal(r.status, 401, `${name}: ${r.body}`);
    assert.equal(r.json.status, 401);
  }
  const rows = ledger((db) => db.prepare('SELECT count(*) AS n FROM certificates WHERE subject = ?').get('revoked-bearer.internal')) as { n: number };
  assert.equal(rows.n, 1, 'no certificate issued for the revoked one');
});

test('an expired certificate renews only where allowRenewalAfterExpiry is set, keeping its lifetime', async () => {
  const strict = await issue(admin, 'admin', 'expired.internal', '6s');
  const loose = await issue(lenient, 'lenient', 'lapsed.internal', '6s');
  await new Promise((r) => setTimeout(r, 7500));
  const viaTls = curlRenew(strict.chainFile, strict.keyFile);
  assert.equal(viaTls.status, 401);
  assert.match(viaTls.json.message, /certificate expired on /);
  const viaToken = await request(ca, 'POST', '/renew', undefined, bearer(await renewToken(strict)));
  assert.equal(viaToken.status, 401);
  assert.match(viaToken.json.message, /certificate expired on /);

  const renewed = await request(ca, 'POST', '/renew', undefined, bearer(await renewToken(loose)));
  assert.equal(renewed.status, 201, renewed.body);
  const n = new X509Certificate(renewed.json.crt);
  const o = new X509Certificate(loose.leaf);
  assert.equal(new Date(n.validTo).getTime() - new Date(n.validFrom).getTime(), new Date(o.validTo).getTime() - new Date(o.validFrom).getTime());
  assert.ok(new Date(n.validTo).getTime() > Date.now());
});

test('an expired client certificate is refused over mTLS (renew, rekey, revoke), even where allowRenewalAfterExpiry is set', async () => {
  const loose = await issue(lenient, 'lenient', 'lapsed-mtls.internal', '6s');
  await new Promise((r) => setTimeout(r, 7500));
  const count = () => ledger((db) => (db.prepare('SELECT count(*) AS n FROM certificates').get() as { n: number }).n);
  const before = count();
  const renewed = curlRenew(loose.chainFile, loose.keyFile);
  assert.equal(renewed.status, 401, JSON.stringify(renewed.json));
  assert.equal(renewed.json.status, 401);
  assert.match(renewed.json.message, /client certificate expired on .*renew token/);
  const rekeyed = curlRenew(loose.chainFile, loose.keyFile, '/rekey', JSON.stringify({ csr: opensslCsr('lapsed-mtls.internal').csrPem }));
  assert.equal(rekeyed.status, 401, JSON.stringify(rekeyed.json));
  assert.match(rekeyed.json.message, /client certificate expired on /);
  assert.equal(count(), before, 'nothing issued');
  const revoked = curlRenew(loose.chainFile, loose.keyFile, '/revoke', JSON.stringify({ serial: loose.serial }));
  assert.equal(revoked.status, 401, `revoke over mTLS too: ${JSON.stringify(revoked.json)}`);
  // The renew token path still renews it: the provisioner allows renewal after expiry.
  const viaToken = await request(ca, 'POST', '/renew', undefined, bearer(await renewToken(loose)));
  assert.equal(viaToken.status, 201, viaToken.body);
});

test('rekey over mTLS: the CSR key replaces the old one, the names stay, the CSR names are ignored', async () => {
  const c = await issue(admin, 'admin', 'rekey.internal');
  const { csrPem, keyPem } = opensslCsr('ignored.example', ['ignored.example']);
  const r = curlRenew(c.chainFile, c.keyFile, '/rekey', JSON.stringify({ csr: csrPem }));
  assert.equal(r.status, 201, JSON.stringify(r.json));
  const n = new X509Certificate(r.json.crt);
  assert.ok(n.publicKey.equals(createPublicKey(keyPem)));
  assert.ok(!n.publicKey.equals(new X509Certificate(c.leaf).publicKey));
  assert.equal(n.subject, 'CN=rekey.internal');
  assert.equal(n.subjectAltName, 'DNS:rekey.internal');
  const ski = (pem: string) => /Subject Key Identifier:\s*\n\s*(\S+)/.exec(spawnSync('openssl', ['x509', '-noout', '-text'], { input: pem, encoding: 'utf8' }).stdout)![1];
  assert.notEqual(ski(r.json.crt), ski(c.leaf));
  const row = ledger((db) => db.prepare('SELECT method, replaces FROM certificates WHERE serial = ?').get(BigInt(`0x${n.serialNumber}`).toString())) as any;
  assert.deepEqual({ ...row }, { method: 'rekey', replaces: c.serial });
  const bad = curlRenew(c.chainFile, c.keyFile, '/rekey', JSON.stringify({ csr: 'nope' }));
  assert.equal(bad.status, 400);
});
