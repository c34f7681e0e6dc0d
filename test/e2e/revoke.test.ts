// /revoke and /crl end to end: what relying parties see, through openssl.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { cli, request, startTestCa, type TestCa } from '../helpers/ca.ts';
import { mintToken, opensslCsr, provisionerKey, type ProvisionerKey } from '../helpers/tokens.ts';

const work = mkdtempSync(join(tmpdir(), 'revoke-e2e-'));
let ca: TestCa;
let admin: ProvisionerKey;
let plainPort: number;

function freePort(): Promise<number> {
  return new Promise((res) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => res(p)); }); });
}

before(async () => {
  plainPort = await freePort();
  ca = await startTestCa({
    configure: (c) => {
      c.insecureAddress = `127.0.0.1:${plainPort}`;
      c.stepstone.crlDistributionPoints = [`http://127.0.0.1:${plainPort}/crl`];
    },
  });
  admin = await provisionerKey(ca.configPath, ca.password);
});
after(() => ca.cleanup());

interface Issued { leafFile: string; chainFile: string; keyFile: string; interFile: string; serial: string; leaf: string }

async function issue(cn: string): Promise<Issued> {
  const { csrPem, keyPem } = opensslCsr(cn, [cn]);
  const r = await request(ca, 'POST', '/sign', { csr: csrPem, ott: await mintToken(admin, { aud: `${ca.url}/1.0/sign`, sub: cn }) });
  assert.equal(r.status, 201, r.body);
  const dir = mkdtempSync(join(work, 'c-'));
  const f = { leafFile: join(dir, 'leaf.pem'), chainFile: join(dir, 'chain.pem'), keyFile: join(dir, 'key.pem'), interFile: join(dir, 'inter.pem') };
  writeFileSync(f.leafFile, r.json.crt);
  writeFileSync(f.chainFile, r.json.certChain.join(''));
  writeFileSync(f.interFile, r.json.ca);
  writeFileSync(f.keyFile, keyPem, { mode: 0o600 });
  return { ...f, leaf: r.json.crt, serial: BigInt(`0x${new X509Certificate(r.json.crt).serialNumber}`).toString() };
}

const revokeToken = (sub: string) => mintToken(admin, { aud: `${ca.url}/1.0/revoke`, sub, sans: undefined });
const revoke = async (serial: string, body: Record<string, unknown> = {}) =>
  request(ca, 'POST', '/revoke', { serial, ott: await revokeToken(serial), reasonCode: 1, reason: 'key compromise', passive: true, ...body });

function curl(args: string[]): { status: number; body: string } {
  const r = spawnSync('curl', ['-sS', '-w', '\n%{http_code}', ...args], { encoding: 'utf8' });
  const i = r.stdout.lastIndexOf('\n');
  return { status: Number(r.stdout.slice(i + 1)), body: r.stdout.slice(0, i) };
}

async function fetchCrl(): Promise<{ der: string; pem: string; text: string; number: number }> {
  const dir = mkdtempSync(join(work, 'crl-'));
  const der = join(dir, 'crl.der');
  const pem = join(dir, 'crl.pem');
  assert.equal(spawnSync('curl', ['-sSf', '--cacert', ca.rootFile, '-o', der, `${ca.url}/crl`]).status, 0);
  assert.equal(spawnSync('curl', ['-sSf', '--cacert', ca.rootFile, '-o', pem, `${ca.url}/1.0/crl?pem`]).status, 0);
  const bundle = join(dir, 'bundle.pem');
  writeFileSync(bundle, ca.rootPem + (await request(ca, 'GET', '/intermediates')).json.crts[0]);
  const r = spawnSync('openssl', ['crl', '-inform', 'DER', '-in', der, '-CAfile', bundle, '-noout', '-text'], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /verify OK/);
  return { der, pem, text: r.stdout, number: Number(/X509v3 CRL Number: \n\s+(\d+)/.exec(r.stdout)![1]) };
}

test('revoke by token: 200, the CRL lists it, openssl -crl_check refuses it and accepts a good certificate', async () => {
  const bad = await issue('revoked.internal');
  const good = await issue('good.internal');
  const before = await fetchCrl();
  const r = await revoke(bad.serial);
  assert.equal(r.status, 200, r.body);
  assert.deepEqual(r.json, { status: 'ok' });
  const crl = await fetchCrl();
  assert.ok(crl.number > before.number, 'the CRL number went up');
  const hex = BigInt(bad.serial).toString(16).toUpperCase().padStart(32, '0').replace(/^0+(?=..)/, '');
  assert.match(crl.text, new RegExp(`Serial Number: 0*${hex}`));
  assert.match(crl.text, /CRL Reason Code: \n\s+Key Compromise/);
  const check = (c: Issued) => spawnSync('openssl', ['verify', '-crl_check', '-CRLfile', crl.pem, '-CAfile', ca.rootFile, '-untrusted', c.interFile, c.leafFile], { encoding: 'utf8' });
  const revoked = check(bad);
  assert.notEqual(revoked.status, 0);
  assert.match(revoked.stdout + revoked.stderr, /certificate revoked/);
  const ok = check(good);
  assert.equal(ok.status, 0, ok.stdout + ok.stderr);

  // A relying party that follows the leaf's CRL distribution point over plain HTTP.
  assert.match(spawnSync('openssl', ['x509', '-in', good.leafFile, '-noout', '-ext', 'crlDistributionPoints'], { encoding: 'utf8' }).stdout, new RegExp(`URI:http://127.0.0.1:${plainPort}/crl`));
  const dl = (c: Issued) => spawnSync('openssl', ['verify', '-crl_check', '-crl_download', '-CAfile', ca.rootFile, '-untrusted', c.interFile, c.leafFile], { encoding: 'utf8' });
  assert.equal(dl(good).status, 0, dl(good).stdout + dl(good).stderr);
  assert.match(dl(bad).stdout + dl(bad).stderr, /certificate revoked/);
  // nginx's ssl_crl checks every CA in the chain (CRL_CHECK_ALL): the intermediate's CRL alone is
  // not enough; with the offline root CRL added, it is.
  const all = (c: Issued, crls: string) => spawnSync('openssl', ['verify', '-crl_check_all', '-CRLfile', crls, '-CAfile', ca.rootFile, '-untrusted', c.interFile, c.leafFile], { encoding: 'utf8' });
  assert.match(all(good, crl.pem).stdout + all(good, crl.pem).stderr, /unable to get certificate CRL/);
  const rootCrl = cli(['crl', 'root', '--home', ca.home, '--password-file', ca.passwordFile]);
  assert.equal(rootCrl.status, 0, rootCrl.stderr);
  const bundle = join(work, 'nginx-crl.pem');
  writeFileSync(bundle, readFileSync(crl.pem, 'utf8') + rootCrl.stdout);
  const allGood = all(good, bundle);
  assert.equal(allGood.status, 0, allGood.stdout + allGood.stderr);
  assert.match(all(bad, bundle).stdout + all(bad, bundle).stderr, /certificate revoked/);

  const plain = curl([`http://127.0.0.1:${plainPort}/1.0/crl`, '-o', '/dev/null']);
  assert.equal(plain.status, 200);
  assert.equal(curl([`http://127.0.0.1:${plainPort}/sign`, '-d', '{}']).status, 404, 'the plain listener serves nothing but CRL/OCSP');

  // Renewal of the revoked certificate is refused.
  const renew = spawnSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', ca.rootFile, '--cert', bad.chainFile, '--key', bad.keyFile, '-X', 'POST', `${ca.url}/renew`], { encoding: 'utf8' });
  assert.equal(renew.stdout, '401');
});

test('revoke refusals: mismatched token subject 403, twice 400, unknown 404, bad serial or reason 400, reused token 401', async () => {
  const a = await issue('a.internal');
  const b = await issue('b.internal');
  const mismatch = await request(ca, 'POST', '/revoke', { serial: a.serial, ott: await revokeToken(b.serial), reasonCode: 1, passive: true });
  assert.equal(mismatch.status, 403);
  assert.equal(mismatch.json.message, `The request was forbidden by the certificate authority: request serial number "${a.serial}" and token subject "${b.serial}" do not match.`);
  const signToken = await request(ca, 'POST', '/revoke', { serial: a.serial, ott: await mintToken(admin, { aud: `${ca.url}/1.0/sign`, sub: a.serial }) });
  assert.equal(signToken.status, 401, 'a sign token cannot revoke');
  const hexForm = await revoke(`0x${BigInt(a.serial).toString(16)}`, { ott: await revokeToken(a.serial), passive: false });
  assert.equal(hexForm.status, 200, hexForm.body);
  const twice = await revoke(a.serial);
  assert.equal(twice.status, 400);
  assert.equal(twice.json.message, `The request could not be completed: certificate with serial number '${a.serial}' is already revoked.`);
  assert.equal((await revoke('12345')).status, 404);
  const badSerial = await request(ca, 'POST', '/revoke', { serial: 'zz', ott: 'x' });
  assert.equal(badSerial.json.message, "The request could not be completed: 'zz' is not a valid serial number - use a base 10 representation or a base 16 representation with '0x' prefix.");
  assert.equal((await revoke(b.serial, { reasonCode: 11 })).json.message, 'The request could not be completed: reasonCode out of bounds.');
  const neither = await request(ca, 'POST', '/revoke', { serial: b.serial });
  assert.equal(neither.json.message, 'The request could not be completed: missing ott or client certificate.');
  const once = await revokeToken(b.serial);
  assert.equal((await request(ca, 'POST', '/revoke', { serial: b.serial, ott: once })).status, 200);
  const c = await issue('c.internal');
  assert.equal((await request(ca, 'POST', '/revoke', { serial: c.serial, ott: once })).status, 401, 'a spent token is refused before anything else');
});

test('revoke over mTLS: its own certificate yes, someone else\'s serial 403', async () => {
  const mine = await issue('self.internal');
  const other = await issue('other.internal');
  const post = (serial: string) => curl(['--cacert', ca.rootFile, '--cert', mine.chainFile, '--key', mine.keyFile, '-H', 'content-type: application/json',
    '-d', JSON.stringify({ serial, reasonCode: 4, reason: 'superseded', passive: true }), `${ca.url}/revoke`]);
  assert.equal(post(other.serial).status, 403);
  assert.equal(post(mine.serial).status, 200);
  const db = new Database(ca.dbPath, { readonly: true });
  const row = db.prepare('SELECT revocation_reason_code AS code, revocation_reason AS reason FROM certificates WHERE serial = ?').get(mine.serial) as any;
  const otherRow = db.prepare('SELECT revoked_at FROM certificates WHERE serial = ?').get(other.serial) as any;
  db.close();
  assert.deepEqual({ ...row }, { code: 4, reason: 'superseded' });
  assert.equal(otherRow.revoked_at, null);
});

test('GET /crl headers: DER and PEM forms, Expires at nextUpdate', async () => {
  const der = spawnSync('curl', ['-sS', '-D', '-', '-o', '/dev/null', '--cacert', ca.rootFile, `${ca.url}/crl`], { encoding: 'utf8' }).stdout;
  assert.match(der, /content-type: application\/pkix-crl/i);
  assert.match(der, /content-disposition: attachment; filename="crl.crl"/i);
  assert.match(der, /expires: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT/i);
  const pem = await request(ca, 'GET', '/crl?pem');
  assert.match(pem.headers['content-type'] as string, /application\/x-pem-file/);
  assert.match(pem.body, /^-----BEGIN X509 CRL-----\n/);
});

test('a CRL with 10 000 revoked entries is generated and served correctly', async () => {
  const db = new Database(ca.dbPath);
  const insert = db.prepare(`INSERT INTO certificates (serial, subject, sans, not_before, not_after, fingerprint, provisioner, pem, issued_at, method, revoked_at, revocation_reason_code, revocation_reason)
    VALUES (?, 'bulk', '[]', ?, ?, ?, 'admin', '', ?, 'sign', ?, 5, 'bulk')`);
  const now = Date.now();
  db.transaction(() => {
    for (let i = 0; i < 10_000; i++) insert.run(BigInt(`0x${randomBytes(16).toString('hex')}`).toString(), now - 60_000, now + 86_400_000, randomBytes(32).toString('hex'), now, now);
  })();
  db.close();
  const trigger = await issue('trigger.internal');
  const t0 = performance.now();
  assert.equal((await revoke(trigger.serial)).status, 200);
  const crl = await fetchCrl();
  const ms = performance.now() - t0;
  const count = (crl.text.match(/Serial Number: /g) ?? []).length;
  assert.ok(count >= 10_001, `entries: ${count}`);
  console.log(`# CRL with ${count} entries: revoke + regenerate + fetch took ${Math.round(ms)} ms`);
  assert.equal((await request(ca, 'GET', '/health')).status, 200);
});
