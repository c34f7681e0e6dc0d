// init and serve as processes: key types, file modes, refusals at start-up, and the CA's own
// HTTPS certificate renewing itself in memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import Database from 'better-sqlite3';
import { cli, request, startTestCa, serve, stopProc } from '../helpers/ca.ts';
import { mintToken, opensslCsr, provisionerKey } from '../helpers/tokens.ts';

function peerSerial(port: number, ca: string): Promise<string> {
  return new Promise((res, rej) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      const serial = s.getPeerCertificate().serialNumber;
      s.end();
      res(serial);
    });
    s.on('error', rej);
  });
}

async function signAndVerify(ca: Awaited<ReturnType<typeof startTestCa>>, name: string): Promise<string> {
  const prov = await provisionerKey(ca.configPath, ca.password);
  const ott = await mintToken(prov, { aud: `${ca.url}/1.0/sign`, sub: name });
  const r = await request(ca, 'POST', '/sign', { csr: opensslCsr(name, [name], ['-newkey', 'rsa:2048']).csrPem, ott });
  assert.equal(r.status, 201, r.body);
  const dir = mkdtempSync(join(tmpdir(), 'kty-'));
  writeFileSync(join(dir, 'leaf.pem'), r.json.crt);
  writeFileSync(join(dir, 'inter.pem'), r.json.ca);
  const v = spawnSync('openssl', ['verify', '-x509_strict', '-CAfile', ca.rootFile, '-untrusted', join(dir, 'inter.pem'), join(dir, 'leaf.pem')], { encoding: 'utf8' });
  assert.equal(v.status, 0, v.stderr);
  const text = spawnSync('openssl', ['x509', '-in', join(dir, 'leaf.pem'), '-noout', '-text'], { encoding: 'utf8' }).stdout;
  rmSync(dir, { recursive: true });
  return text;
}

for (const [kty, sigAlg] of [['RSA', /sha256WithRSAEncryption/], ['OKP', /ED25519/]] as const) {
  test(`init --kty ${kty}: a CA of that key type issues certificates openssl verifies strictly`, async () => {
    const ca = await startTestCa({ kty });
    try {
      const text = await signAndVerify(ca, `${kty.toLowerCase()}.internal`);
      assert.match(text, sigAlg);
      // An RSA leaf key also gets keyEncipherment, as step-ca's default template gives it.
      assert.match(text, /Key Usage: critical\s+Digital Signature, Key Encipherment/);
    } finally {
      await ca.cleanup();
    }
  });
}

test('init: file modes, encrypted keys, step-format ca.json, and no overwrite without --force', async () => {
  const ca = await startTestCa();
  try {
    for (const f of ['secrets/root_ca_key', 'secrets/intermediate_ca_key', 'db/ledger.sqlite']) {
      assert.equal(statSync(join(ca.home, f)).mode & 0o777, 0o600, f);
    }
    assert.equal(statSync(join(ca.home, 'secrets')).mode & 0o777, 0o700);
    assert.match(readFileSync(join(ca.home, 'secrets/intermediate_ca_key'), 'utf8'), /^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    const cfg = JSON.parse(readFileSync(ca.configPath, 'utf8'));
    for (const k of ['root', 'crt', 'key', 'address', 'dnsNames', 'db', 'authority', 'tls']) assert.ok(k in cfg, k);
    assert.equal(cfg.authority.provisioners[0].type, 'JWK');
    assert.deepEqual(Object.keys(cfg.authority.claims).sort(), ['allowRenewalAfterExpiry', 'defaultTLSCertDuration', 'disableRenewal', 'disableSmallstepExtensions', 'maxTLSCertDuration', 'minTLSCertDuration']);
    const header = JSON.parse(Buffer.from(cfg.authority.provisioners[0].encryptedKey.split('.')[0], 'base64url').toString());
    assert.deepEqual({ ...header, p2s: undefined }, { alg: 'PBES2-HS256+A128KW', enc: 'A256GCM', cty: 'jwk+json', p2c: 600000, p2s: undefined });
    const before = readFileSync(ca.configPath, 'utf8');
    const again = cli(['init', '--name', 'X', '--dns', 'localhost', '--password-file', ca.passwordFile, '--home', ca.home]);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /already exists.*--force/);
    assert.equal(again.stderr.trim().split('\n').length, 1);
    assert.equal(readFileSync(ca.configPath, 'utf8'), before);
  } finally {
    await ca.cleanup();
  }
});

test('the serving certificate renews itself in memory, without a restart', async () => {
  const ca = await startTestCa({ configure: (c) => { c.stepstone = { ...c.stepstone, servingCertDuration: '6s' }; } });
  try {
    const first = await peerSerial(ca.port, ca.rootPem);
    // Renewal is due at 2/3 of 6 s (+1 min backdate does not count: lifetime is from now).
    await new Promise((r) => setTimeout(r, 5500));
    const second = await peerSerial(ca.port, ca.rootPem);
    assert.notEqual(second, first);
    assert.equal((await request(ca, 'GET', '/health')).status, 200);
    const db = new Database(ca.dbPath, { readonly: true });
    const rows = db.prepare("SELECT count(*) AS n FROM certificates WHERE method = 'serving'").get() as { n: number };
    db.close();
    assert.ok(rows.n >= 2, `serving certificates in the ledger: ${rows.n}`);
  } finally {
    await ca.cleanup();
  }
});

test('start-up refuses clearly: wrong password, corrupt config field, newer ledger schema', async () => {
  const ca = await startTestCa();
  await ca.stop();
  try {
    const wrong = join(ca.dir, 'wrong.txt');
    writeFileSync(wrong, 'not-the-password\n');
    const r1 = spawnSync(process.execPath, ['bin/stepstone', 'serve', '--home', ca.home, '--password-file', wrong], { encoding: 'utf8' });
    assert.equal(r1.status, 1);
    assert.match(r1.stderr, /^error: cannot decrypt the private key: wrong password/m);

    const good = readFileSync(ca.configPath, 'utf8');
    const cfg = JSON.parse(good);
    cfg.authority.claims.maxTLSCertDuration = 'forever';
    writeFileSync(ca.configPath, JSON.stringify(cfg));
    const r2 = spawnSync(process.execPath, ['bin/stepstone', 'serve', '--home', ca.home, '--password-file', ca.passwordFile], { encoding: 'utf8' });
    assert.equal(r2.status, 1);
    assert.match(r2.stderr, /authority\.claims\.maxTLSCertDuration: not a duration/);
    writeFileSync(ca.configPath, good);

    const db = new Database(ca.dbPath);
    db.prepare("INSERT INTO schema_version (version, name, md5, run_at) VALUES (99, 'future', '', '')").run();
    db.close();
    const r3 = spawnSync(process.execPath, ['bin/stepstone', 'serve', '--home', ca.home, '--password-file', ca.passwordFile], { encoding: 'utf8' });
    assert.equal(r3.status, 1);
    assert.match(r3.stderr, /ledger schema version 99 is newer than this Stepstone knows/);
  } finally {
    await ca.cleanup();
  }
});

test('a CA restarted keeps refusing a token used before the restart', async () => {
  const ca = await startTestCa();
  try {
    const prov = await provisionerKey(ca.configPath, ca.password);
    const ott = await mintToken(prov, { aud: `${ca.url}/1.0/sign`, sub: 'restart.internal' });
    assert.equal((await request(ca, 'POST', '/sign', { csr: opensslCsr('restart.internal').csrPem, ott })).status, 201);
    await ca.stop();
    const again = await serve(ca.home, ca.passwordFile);
    try {
      const r = await request({ url: `https://127.0.0.1:${again.port}`, rootPem: ca.rootPem }, 'POST', '/sign', { csr: opensslCsr('restart.internal').csrPem, ott });
      assert.equal(r.status, 401);
      // A fresh token minted before the restart still works: no "issued before the CA started" rule.
      const fresh = await mintToken(prov, { aud: `${ca.url}/1.0/sign`, sub: 'restart.internal', iat: Math.floor(Date.now() / 1000) - 600 });
      const ok = await request({ url: `https://127.0.0.1:${again.port}`, rootPem: ca.rootPem }, 'POST', '/sign', { csr: opensslCsr('restart.internal').csrPem, ott: fresh });
      assert.equal(ok.status, 201, ok.body);
    } finally {
      await stopProc(again.proc);
    }
  } finally {
    await ca.cleanup();
  }
});
