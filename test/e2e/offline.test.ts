// The offline toolkit (issue 7) through the real CLI, judged by openssl: certificate profiles and
// chains, name constraints, PKCS#12, offline CSR signing, verify/key/change-pass, the pki
// directory in a mutual-TLS handshake between two processes, and a CA serving an offline-made
// intermediate.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { cli, request, serve, stopProc } from '../helpers/ca.ts';
import { mintToken, opensslCsr, provisionerKey } from '../helpers/tokens.ts';

const dir = mkdtempSync(join(tmpdir(), 'offline-'));
const f = (name: string) => join(dir, name);
const pw = f('pw.txt');
const openssl = (args: string[], input?: string) => spawnSync('openssl', args, { encoding: 'utf8', input });
const text = (crt: string) => openssl(['x509', '-noout', '-text', '-in', crt]).stdout;
const ok = (args: string[]) => {
  const r = cli(args);
  assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
  return r;
};

before(() => {
  writeFileSync(pw, 'offline-pass\n', { mode: 0o600 });
  ok(['certificate', 'create', 'Offline Root', f('root.crt'), f('root.key'), '--profile', 'root-ca', '--password-file', pw]);
  ok(['certificate', 'create', 'Offline Intermediate', f('int.crt'), f('int.key'), '--profile', 'intermediate-ca', '--ca', f('root.crt'), '--ca-key', f('root.key'), '--ca-password-file', pw, '--password-file', pw]);
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('root-ca and intermediate-ca profiles: CA fields, encrypted 0600 keys, a chain openssl verifies strictly', () => {
  const root = text(f('root.crt'));
  assert.match(root, /CA:TRUE, pathlen:1/);
  assert.match(root, /Certificate Sign, CRL Sign/);
  assert.match(root, /Issuer: CN ?= ?Offline Root/);
  const inter = text(f('int.crt'));
  assert.match(inter, /CA:TRUE, pathlen:0/);
  assert.match(inter, /Authority Key Identifier/);
  assert.match(readFileSync(f('int.key'), 'utf8'), /BEGIN ENCRYPTED PRIVATE KEY/);
  assert.equal(statSync(f('int.key')).mode & 0o777, 0o600);
  assert.equal(openssl(['verify', '-x509_strict', '-CAfile', f('root.crt'), f('int.crt')]).status, 0);
});

test('leaf and self-signed profiles; --bundle; keys in the clear only with --no-password --insecure together', () => {
  const half = cli(['certificate', 'create', 'x.example.com', f('x.crt'), f('x.key'), '--ca', f('int.crt'), '--ca-key', f('int.key'), '--ca-password-file', pw, '--no-password']);
  assert.equal(half.status, 2);
  assert.match(half.stderr, /^error: --no-password and --insecure go together/);

  ok(['certificate', 'create', 'web.example.com', f('web.crt'), f('web.key'), '--ca', f('int.crt'), '--ca-key', f('int.key'), '--ca-password-file', pw,
    '--san', 'web.example.com', '--san', '10.0.0.7', '--not-after', '48h', '--no-password', '--insecure', '--bundle']);
  const leaf = text(f('web.crt'));
  assert.match(leaf, /TLS Web Server Authentication, TLS Web Client Authentication/);
  assert.match(leaf, /DNS:web\.example\.com, IP Address:10\.0\.0\.7/);
  assert.match(leaf, /CA:FALSE|^(?![\s\S]*CA:TRUE)/);
  assert.equal((readFileSync(f('web.crt'), 'utf8').match(/BEGIN CERTIFICATE/g) ?? []).length, 2, 'leaf + issuer');
  assert.match(readFileSync(f('web.key'), 'utf8'), /BEGIN PRIVATE KEY/);
  const v = openssl(['verify', '-x509_strict', '-CAfile', f('root.crt'), '-untrusted', f('int.crt'), f('web.crt')]);
  assert.equal(v.status, 0, v.stdout + v.stderr);

  ok(['certificate', 'create', 'self.example.com', f('self.crt'), f('self.key'), '--profile', 'self-signed', '--no-password', '--insecure', '--kty', 'EC', '--curve', 'P-384']);
  const self = text(f('self.crt'));
  assert.match(self, /Issuer: CN ?= ?self\.example\.com/);
  assert.match(self, /DNS:self\.example\.com/);
  assert.match(self, /secp384r1|P-384/);
});

test('a name-constrained intermediate: openssl accepts a leaf inside the constraint and refuses one outside', () => {
  ok(['certificate', 'create', 'Team CA', f('team.crt'), f('team.key'), '--profile', 'intermediate-ca', '--ca', f('root.crt'), '--ca-key', f('root.key'),
    '--ca-password-file', pw, '--name-constraint-dns', 'team.example.com', '--no-password', '--insecure']);
  assert.match(text(f('team.crt')), /X509v3 Name Constraints: critical\s+Permitted:\s+DNS:team\.example\.com/);
  for (const [name, good] of [['api.team.example.com', true], ['api.other.example.org', false]] as const) {
    ok(['certificate', 'create', name, f(`${name}.crt`), f(`${name}.key`), '--ca', f('team.crt'), '--ca-key', f('team.key'), '--no-password', '--insecure']);
    const v = openssl(['verify', '-x509_strict', '-CAfile', f('root.crt'), '-untrusted', f('team.crt'), f(`${name}.crt`)]);
    if (good) assert.equal(v.status, 0, v.stdout + v.stderr);
    else assert.match(v.stdout + v.stderr, /permitted subtree violation/);
  }
});

test('p12: openssl pkcs12 -info reads it with its password and with the empty one', () => {
  ok(['certificate', 'p12', f('web.p12'), f('web.crt'), f('web.key'), '--ca', f('root.crt'), '--password-file', pw]);
  assert.equal(statSync(f('web.p12')).mode & 0o777, 0o600);
  const info = openssl(['pkcs12', '-info', '-in', f('web.p12'), '-passin', 'pass:offline-pass', '-noenc']);
  assert.equal(info.status, 0, info.stderr);
  assert.equal((info.stdout.match(/BEGIN CERTIFICATE/g) ?? []).length, 3, 'leaf, intermediate (bundle), root (--ca)');
  assert.match(info.stdout, /BEGIN PRIVATE KEY/);
  assert.match(info.stdout + info.stderr, /AES-256-CBC/);
  assert.notEqual(openssl(['pkcs12', '-info', '-in', f('web.p12'), '-passin', 'pass:wrong', '-noenc']).status, 0);

  ok(['certificate', 'p12', f('open.p12'), f('web.crt'), f('web.key'), '--no-password', '--insecure']);
  const open = openssl(['pkcs12', '-info', '-in', f('open.p12'), '-passin', 'pass:', '-noenc']);
  assert.equal(open.status, 0, open.stderr);
  assert.match(open.stdout, /BEGIN PRIVATE KEY/);

  const wrongKey = cli(['certificate', 'p12', f('bad.p12'), f('web.crt'), f('self.key'), '--no-password', '--insecure']);
  assert.equal(wrongKey.status, 1);
  assert.match(wrongKey.stderr, /is not the key of/);
});

test('certificate sign, verify, key and crypto change-pass', () => {
  const { csrPem, keyPem } = opensslCsr('svc.example.com', ['svc.example.com']);
  writeFileSync(f('svc.csr'), csrPem);
  writeFileSync(f('svc.key'), keyPem, { mode: 0o600 });
  const signed = ok(['certificate', 'sign', f('svc.csr'), f('int.crt'), f('int.key'), '--password-file', pw, '--bundle']);
  writeFileSync(f('svc.crt'), signed.stdout);
  assert.match(text(f('svc.crt')), /DNS:svc\.example\.com/);

  assert.equal(ok(['certificate', 'verify', f('svc.crt'), '--roots', f('root.crt'), '--host', 'svc.example.com']).stdout, 'ok\n');
  const wrongHost = cli(['certificate', 'verify', f('svc.crt'), '--roots', f('root.crt'), '--host', 'other.example.com']);
  assert.equal(wrongHost.status, 1);
  assert.match(wrongHost.stderr, /does not cover other\.example\.com/);
  const untrusted = cli(['certificate', 'verify', f('svc.crt'), '--roots', f('self.crt')]);
  assert.equal(untrusted.status, 1);

  const pub = ok(['certificate', 'key', f('svc.crt')]).stdout;
  assert.equal(pub, openssl(['x509', '-noout', '-pubkey', '-in', f('svc.crt')]).stdout);

  writeFileSync(f('new-pw.txt'), 'brand-new\n');
  ok(['crypto', 'change-pass', f('int.key'), '--password-file', pw, '--new-password-file', f('new-pw.txt')]);
  assert.equal(openssl(['pkey', '-in', f('int.key'), '-passin', 'pass:brand-new', '-noout']).status, 0);
  assert.notEqual(openssl(['pkey', '-in', f('int.key'), '-passin', 'pass:offline-pass', '-noout']).status, 0);
  ok(['crypto', 'change-pass', f('int.key'), '--password-file', f('new-pw.txt'), '--new-password-file', pw]);
});

test('pki directory: layout and modes, nodes verify against ca.crt and do mutual TLS between two processes; gen-config feeds --config', async () => {
  const pkiDir = f('pki');
  ok(['pki', 'init', '--pki-directory', pkiDir, '--name', 'Cluster']);
  ok(['pki', 'issue', '--pki-directory', pkiDir, '--name', 'server', '--san', '127.0.0.1', '--san', 'localhost']);
  for (const p of ['ca', 'nodes', 'nodes/admin', 'nodes/server']) assert.equal(statSync(join(pkiDir, p)).mode & 0o777, 0o700, p);
  for (const p of ['ca/tls.key', 'nodes/admin/tls.key', 'nodes/server/tls.key']) assert.equal(statSync(join(pkiDir, p)).mode & 0o777, 0o600, p);
  for (const n of ['admin', 'server']) {
    const v = openssl(['verify', '-x509_strict', '-CAfile', join(pkiDir, 'ca', 'ca.crt'), join(pkiDir, 'nodes', n, 'tls.crt')]);
    assert.equal(v.status, 0, v.stdout);
  }
  const dup = cli(['pki', 'issue', '--pki-directory', pkiDir, '--name', 'server']);
  assert.equal(dup.status, 1);
  assert.match(dup.stderr, /already exists/);

  // The server node serves mTLS from another Node process; only clients with a node certificate get in.
  const node = (n: string, file: string) => join(pkiDir, 'nodes', n, file);
  const script = `
    const https = require('node:https'); const fs = require('node:fs');
    const s = https.createServer({ key: fs.readFileSync(${JSON.stringify(node('server', 'tls.key'))}), cert: fs.readFileSync(${JSON.stringify(node('server', 'tls.crt'))}),
      ca: fs.readFileSync(${JSON.stringify(node('server', 'ca.crt'))}), requestCert: true, rejectUnauthorized: false },
      (req, res) => {
        res.setHeader('content-type', 'application/json');
        if (req.url === '/health') return res.end(JSON.stringify({ status: 'ok' }));
        if (!req.socket.authorized) { res.statusCode = 401; return res.end(JSON.stringify({ status: 401, message: 'no client certificate from this PKI' })); }
        res.end(JSON.stringify({ status: 'ok', peer: req.socket.getPeerCertificate().subject.CN }));
      });
    s.listen(0, '127.0.0.1', () => console.log('port ' + s.address().port));`;
  const server = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<number>((res, rej) => {
      createInterface({ input: server.stdout! }).on('line', (l) => { const m = /^port (\d+)/.exec(l); if (m) res(Number(m[1])); });
      server.once('exit', (code) => rej(new Error(`the mTLS test server exited with ${code} before listening`)));
    });
    const get = (withCert: boolean) => new Promise<string>((res) => {
      const req = https.get(`https://127.0.0.1:${port}/whoami`, {
        ca: readFileSync(node('admin', 'ca.crt')), agent: false,
        ...(withCert ? { cert: readFileSync(node('admin', 'tls.crt')), key: readFileSync(node('admin', 'tls.key')) } : {}),
      }, (r) => { let b = ''; r.on('data', (d) => (b += d)); r.on('end', () => res(b)); });
      req.on('error', (e) => res(`refused: ${e.message}`));
    });
    assert.deepEqual(JSON.parse(await get(true)), { status: 'ok', peer: 'admin' });
    assert.equal(JSON.parse(await get(false)).status, 401);

    ok(['pki', 'gen-config', '--pki-directory', pkiDir, '--server', `127.0.0.1:${port}`, '--output', f('client.json')]);
    const cfg = JSON.parse(readFileSync(f('client.json'), 'utf8'));
    assert.equal(cfg['ca-url'], `https://127.0.0.1:${port}`);
    assert.equal(cfg.certificate, node('admin', 'tls.crt'));
    // The client trusts the directory's CA through --config alone (no home, no --root).
    const health = cli(['ca', 'health', '--config', f('client.json'), '--home', f('empty-home')]);
    assert.equal(health.status, 0, health.stderr);
    assert.match(health.stdout, /ok/);
  } finally {
    await stopProc(server);
  }
});

test('init --root --intermediate --key: a CA serving an offline-made intermediate issues certificates that chain to the offline root', async () => {
  const home = f('byo-home');
  ok(['certificate', 'create', 'Online Intermediate', f('online.crt'), f('online.key'), '--profile', 'intermediate-ca', '--ca', f('root.crt'), '--ca-key', f('root.key'),
    '--ca-password-file', pw, '--password-file', pw]);
  const bad = cli(['init', '--name', 'BYO', '--dns', '127.0.0.1', '--password-file', pw, '--home', f('byo-bad'), '--root', f('root.crt'), '--intermediate', f('online.crt'), '--key', f('web.key')]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /does not match/);
  assert.throws(() => statSync(f('byo-bad')), 'a refused init leaves nothing behind');
  const init = ok(['init', '--name', 'BYO', '--dns', 'localhost,127.0.0.1', '--address', '127.0.0.1:0', '--password-file', pw, '--home', home,
    '--root', f('root.crt'), '--intermediate', f('online.crt'), '--key', f('online.key')]);
  assert.equal(/Root fingerprint: ([0-9a-f]{64})/.exec(init.stdout)?.[1], openssl(['x509', '-noout', '-fingerprint', '-sha256', '-in', f('root.crt')]).stdout.replace(/.*=|:|\n/g, '').toLowerCase());
  assert.throws(() => statSync(join(home, 'secrets', 'root_ca_key')), 'the root key never enters the CA');

  const { proc, port } = await serve(home, pw);
  try {
    const url = `https://127.0.0.1:${port}`;
    const admin = await provisionerKey(join(home, 'config', 'ca.json'), 'offline-pass');
    const r = await request({ url, rootPem: readFileSync(f('root.crt'), 'utf8') }, 'POST', '/1.0/sign',
      { csr: opensslCsr('byo.internal').csrPem, ott: await mintToken(admin, { aud: `${url}/1.0/sign`, sub: 'byo.internal' }) });
    assert.equal(r.status, 201, r.body);
    writeFileSync(f('byo-leaf.crt'), r.json.crt);
    writeFileSync(f('byo-chain.crt'), r.json.ca);
    const v = openssl(['verify', '-x509_strict', '-CAfile', f('root.crt'), '-untrusted', f('byo-chain.crt'), f('byo-leaf.crt')]);
    assert.equal(v.status, 0, v.stdout + v.stderr);

    // certificate inspect reads CRLs too: revoke that leaf, fetch the CRL, inspect it.
    const serial = BigInt(`0x${new X509Certificate(r.json.crt).serialNumber}`).toString();
    const rv = await request({ url, rootPem: readFileSync(f('root.crt'), 'utf8') }, 'POST', '/1.0/revoke',
      { serial, reasonCode: 1, ott: await mintToken(admin, { aud: `${url}/1.0/revoke`, sub: serial }) });
    assert.equal(rv.status, 200, rv.body);
    ok(['ca', 'crl', '--ca-url', url, '--root', f('root.crt'), '--out', f('byo.crl'), '--home', f('byo-client')]);
    const crl = JSON.parse(ok(['certificate', 'inspect', f('byo.crl'), '--format', 'json']).stdout);
    assert.equal(crl.type, 'crl');
    assert.deepEqual(crl.revoked.map((e: { serial: string; reason: string }) => [e.serial, e.reason]), [[serial, 'keyCompromise']]);
    assert.match(ok(['certificate', 'inspect', f('byo.crl'), '--short']).stdout, /^CRL CN=Online Intermediate number \d+, 1 revoked/);
    // step's short form (smallstep/certinfo), line for line, provisioner included.
    const leaf = new X509Certificate(r.json.crt);
    const abbr = (x: string) => (x.length <= 8 ? x : `${x.slice(0, 4)}...${x.slice(-4)}`);
    const utc = (t: string) => new Date(t).toISOString().replace(/\.000Z$/, 'Z');
    assert.equal(ok(['certificate', 'inspect', f('byo-leaf.crt'), '--short']).stdout, [
      `X.509v3 TLS Certificate (ECDSA P-256) [Serial: ${abbr(serial)}]`,
      '  Subject:     byo.internal',
      '  Issuer:      Online Intermediate',
      `  Provisioner: admin [ID: ${abbr(admin.kid)}]`,
      `  Valid from:  ${utc(leaf.validFrom)}`,
      `          to:  ${utc(leaf.validTo)}`,
      '',
    ].join('\n'));
  } finally {
    await stopProc(proc);
  }
});

