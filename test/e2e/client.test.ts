// The `ca` client and `certificate inspect|fingerprint` against a real CA process, checked with
// the real curl and openssl binaries. One CA is shared by the whole file to keep it quick.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, cli, startTestCa, type TestCa } from '../helpers/ca.js';
import { opensslCsr } from '../helpers/tokens.js';

let ca: TestCa;
let work: string;
/** A client home bootstrapped against `ca`, shared by the tests that need one. */
let home: string;

const mode = (p: string) => statSync(p).mode & 0o777;
const stderrLines = (s: string) => s.split('\n').filter(Boolean);

/** Like cli() but asynchronous, for when this process itself must keep serving requests. */
function cliAsync(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(process.execPath, [BIN, ...args], { encoding: 'utf8' }, (err, stdout, stderr) => {
      res({ status: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** Leaf and intermediate of a chain file, as separate PEM files for openssl. */
function splitChain(chainFile: string): { leaf: string; intermediate: string; pems: string[] } {
  const pems = readFileSync(chainFile, 'utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n/g) ?? [];
  const leaf = join(work, `leaf-${Date.now()}.pem`);
  const intermediate = join(work, `int-${Date.now()}.pem`);
  writeFileSync(leaf, pems[0] ?? '');
  writeFileSync(intermediate, pems[1] ?? '');
  return { leaf, intermediate, pems };
}

before(async () => {
  ca = await startTestCa();
  work = mkdtempSync(join(tmpdir(), 'stepstone-client-'));
  home = join(work, 'home');
  const r = cli(['ca', 'bootstrap', '--ca-url', ca.url, '--fingerprint', ca.fingerprint, '--home', home]);
  assert.equal(r.status, 0, r.stderr);
});

after(async () => {
  await ca?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('ca bootstrap', () => {
  test('writes root_ca.crt (0600) and defaults.json; the root fingerprint matches', () => {
    const root = join(home, 'certs', 'root_ca.crt');
    const defaults = join(home, 'config', 'defaults.json');
    assert.equal(mode(root), 0o600);
    assert.equal(mode(defaults), 0o644);
    assert.equal(mode(join(home, 'certs')), 0o700);
    assert.deepEqual(JSON.parse(readFileSync(defaults, 'utf8')), { 'ca-url': ca.url, fingerprint: ca.fingerprint, root });
    const fp = cli(['certificate', 'fingerprint', root]);
    assert.equal(fp.status, 0, fp.stderr);
    assert.equal(fp.stdout, `${ca.fingerprint}\n`);
  });

  test('refuses to overwrite without --force, and accepts upper case and a missing scheme with it', () => {
    const again = cli(['ca', 'bootstrap', '--ca-url', ca.url, '--fingerprint', ca.fingerprint, '--home', home]);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /already exists/);
    const forced = cli(['ca', 'bootstrap', '--ca-url', ca.url.replace('https://', ''), '--fingerprint', ca.fingerprint.toUpperCase(), '--home', home, '--force']);
    assert.equal(forced.status, 0, forced.stderr);
    assert.equal(JSON.parse(readFileSync(join(home, 'config', 'defaults.json'), 'utf8'))['ca-url'], ca.url);
  });

  test('an unknown fingerprint exits 1 with one line and writes nothing', () => {
    const dir = join(work, 'wrong-fp');
    const wrong = `${ca.fingerprint.slice(0, 60)}${ca.fingerprint.endsWith('0000') ? 'ffff' : '0000'}`;
    const r = cli(['ca', 'bootstrap', '--ca-url', ca.url, '--fingerprint', wrong, '--home', dir]);
    assert.equal(r.status, 1);
    assert.equal(stderrLines(r.stderr).length, 1, r.stderr);
    assert.equal(existsSync(dir), false);
  });

  test('a server answering with a root of another fingerprint is refused and nothing is written', async (t) => {
    // A lying "CA": it answers any /root/<fp> with the real root, so only the client's hash check stands.
    const keyFile = join(work, 'fake.key');
    const crtFile = join(work, 'fake.crt');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-out', crtFile,
      '-subj', '/CN=fake', '-days', '1'], { stdio: 'pipe' });
    const server = https.createServer({ key: readFileSync(keyFile), cert: readFileSync(crtFile) }, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ca: ca.rootPem }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.after(() => new Promise<void>((r) => server.close(() => r())));
    const dir = join(work, 'lied-to');
    const r = await cliAsync(['ca', 'bootstrap', '--ca-url', `https://127.0.0.1:${(server.address() as AddressInfo).port}`, '--fingerprint', 'ab'.repeat(32), '--home', dir]);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, 'error: root certificate fingerprint does not match\n');
    assert.equal(existsSync(dir), false);
  });

  test('http:// is refused', () => {
    const dir = join(work, 'http');
    const r = cli(['ca', 'bootstrap', '--ca-url', ca.url.replace('https:', 'http:'), '--fingerprint', ca.fingerprint, '--home', dir]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /https/);
    assert.equal(stderrLines(r.stderr).length, 1);
    assert.equal(existsSync(dir), false);
  });
});

describe('read-only commands', () => {
  test('ca health prints ok', () => {
    const r = cli(['ca', 'health', '--home', home]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'ok\n');
  });

  test('ca health without a CA URL says how to get one', () => {
    const r = cli(['ca', 'health', '--home', join(work, 'nowhere')]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /no CA URL: pass --ca-url or run `stepstone ca bootstrap` first/);
  });

  test('ca roots prints the root; ca root FILE writes it', () => {
    const roots = cli(['ca', 'roots', '--home', home]);
    assert.equal(roots.status, 0, roots.stderr);
    assert.equal(new X509Certificate(roots.stdout).fingerprint256, new X509Certificate(ca.rootPem).fingerprint256);
    const file = join(work, 'root.crt');
    const root = cli(['ca', 'root', file, '--home', home]);
    assert.equal(root.status, 0, root.stderr);
    assert.equal(cli(['certificate', 'fingerprint', file]).stdout, `${ca.fingerprint}\n`);
  });

  test('ca provisioner list prints the JWK provisioner as JSON', () => {
    const r = cli(['ca', 'provisioner', 'list', '--home', home]);
    assert.equal(r.status, 0, r.stderr);
    const list = JSON.parse(r.stdout);
    assert.ok(Array.isArray(list));
    assert.equal(list.length, 1);
    assert.equal(list[0].type, 'JWK');
    assert.equal(list[0].name, 'admin');
    assert.equal(typeof list[0].key.kid, 'string');
  });
});

describe('tokens and certificates', () => {
  test('ca token mints a token the CA accepts from curl with an openssl CSR', () => {
    const t = cli(['ca', 'token', 'curl.local', '--san', 'curl.local', '--san', '127.0.0.1', '--provisioner', 'admin', '--password-file', ca.passwordFile, '--home', home]);
    assert.equal(t.status, 0, t.stderr);
    const token = t.stdout.trim();
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());
    assert.equal(payload.aud, `${ca.url}/1.0/sign`);
    assert.equal(payload.sha, ca.fingerprint);
    assert.deepEqual(payload.sans, ['curl.local', '127.0.0.1']);
    assert.equal(payload.exp - payload.nbf, 300);
    assert.match(payload.jti, /^[0-9a-f]{64}$/);

    const { csrPem } = opensslCsr('curl.local', ['curl.local', '127.0.0.1']);
    const body = join(work, 'body.json');
    writeFileSync(body, JSON.stringify({ csr: csrPem, ott: token, notBefore: '', notAfter: '' }));
    const out = execFileSync('curl', ['-sS', '--cacert', join(home, 'certs', 'root_ca.crt'), '-H', 'content-type: application/json',
      '-d', `@${body}`, '-w', '\n%{http_code}', `${ca.url}/1.0/sign`], { encoding: 'utf8' });
    const [json, code] = [out.slice(0, out.lastIndexOf('\n')), out.slice(out.lastIndexOf('\n') + 1)];
    assert.equal(code, '201', json);
    const cert = new X509Certificate(JSON.parse(json).crt);
    assert.equal(cert.subject, 'CN=curl.local');
  });

  test('ca token refuses a validity over 1h', () => {
    const r = cli(['ca', 'token', 'x.local', '--password-file', ca.passwordFile, '--not-after', '2h', '--home', home]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /maximum of 1h/);
  });

  test('ca certificate writes a chain that openssl verifies and a matching 0600 key', () => {
    const crt = join(work, 'foo.crt');
    const key = join(work, 'foo.key');
    const r = cli(['ca', 'certificate', 'foo.local', crt, key, '--san', 'foo.local', '--san', '127.0.0.1',
      '--provisioner-password-file', ca.passwordFile, '--home', home]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(mode(crt), 0o600);
    assert.equal(mode(key), 0o600);
    const { leaf, intermediate, pems } = splitChain(crt);
    assert.equal(pems.length, 2);
    const v = execFileSync('openssl', ['verify', '-x509_strict', '-CAfile', ca.rootFile, '-untrusted', intermediate, leaf], { encoding: 'utf8' });
    assert.match(v, /: OK/);
    const cert = new X509Certificate(pems[0]!);
    assert.equal(cert.subject, 'CN=foo.local');
    assert.match(cert.subjectAltName ?? '', /DNS:foo\.local/);
    assert.match(cert.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
    const pub = (k: ReturnType<typeof createPublicKey>) => k.export({ type: 'spki', format: 'der' }).toString('hex');
    assert.equal(pub(createPublicKey(createPrivateKey(readFileSync(key)))), pub(cert.publicKey));

    const inspect = cli(['certificate', 'inspect', '--format', 'json', crt]);
    assert.equal(inspect.status, 0, inspect.stderr);
    const [first, second] = JSON.parse(inspect.stdout);
    assert.deepEqual(first.sans, ['DNS:foo.local', 'IP:127.0.0.1']);
    assert.deepEqual(first.extKeyUsage, ['serverAuth', 'clientAuth']);
    assert.equal(BigInt(first.serial.decimal), BigInt(`0x${cert.serialNumber}`));
    assert.equal(second.isCA, true);
    assert.match(cli(['certificate', 'inspect', crt]).stdout, /Subject Alternative Names: DNS:foo\.local, IP:127\.0\.0\.1/);
  });

  test('ca certificate with a wrong password exits 1 and writes nothing', () => {
    const dir = mkdtempSync(join(work, 'badpw-'));
    const pw = join(dir, 'pw');
    writeFileSync(pw, 'not the password\n');
    const r = cli(['ca', 'certificate', 'bad.local', join(dir, 'b.crt'), join(dir, 'b.key'), '--password-file', pw, '--home', home]);
    assert.equal(r.status, 1);
    assert.equal(stderrLines(r.stderr).length, 1, r.stderr);
    assert.match(r.stderr, /wrong password/);
    assert.deepEqual(readdirSync(dir), ['pw']);
  });

  test('ca certificate --token works with no CA URL configured (aud for the URL, sha pins the root)', () => {
    const t = cli(['ca', 'token', 'tok.local', '--san', 'tok.local', '--password-file', ca.passwordFile, '--home', home]);
    assert.equal(t.status, 0, t.stderr);
    const empty = join(work, 'empty-home');
    const crt = join(work, 'tok.crt');
    const r = cli(['ca', 'certificate', 'tok.local', crt, join(work, 'tok.key'), '--token', t.stdout.trim(), '--home', empty]);
    assert.equal(r.status, 0, r.stderr);
    const { leaf, intermediate } = splitChain(crt);
    assert.match(execFileSync('openssl', ['verify', '-CAfile', ca.rootFile, '-untrusted', intermediate, leaf], { encoding: 'utf8' }), /: OK/);
    assert.equal(existsSync(empty), false);
  });

  test('ca certificate with an Ed25519 key', () => {
    const crt = join(work, 'ed.crt');
    const r = cli(['ca', 'certificate', 'ed.local', crt, join(work, 'ed.key'), '--kty', 'OKP', '--password-file', ca.passwordFile, '--home', home]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(new X509Certificate(readFileSync(crt)).publicKey.asymmetricKeyType, 'ed25519');
  });
});

describe('usage errors', () => {
  test('no arguments, a bare verb group or an unknown flag exit 2', () => {
    assert.equal(cli([]).status, 2);
    assert.equal(cli(['ca']).status, 2);
    assert.equal(cli(['ca', 'health', '--no-such-flag']).status, 2);
    assert.equal(cli(['ca', 'certificate', 'a', 'b', 'c', '--kty', 'DSA', '--home', home]).status, 2);
  });
});
