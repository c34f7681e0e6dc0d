// Several issuers in one CA (stepstone.issuers), end to end on a real server: rotating an
// intermediate with SIGHUP (the new one signs, the old one keeps renewing, revoking, listing its
// CRL and answering OCSP for what it issued), and two issuers under two different roots.
// Checked with openssl verify / crl / ocsp and curl, never with our own parsers alone.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate, createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import * as jose from 'jose';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, request, serve, startTestCa, stopProc, type TestCa } from '../helpers/ca.ts';
import { mintToken, opensslCsr, provisionerKey, type ProvisionerKey } from '../helpers/tokens.ts';
import { pollUntil } from '../helpers/logs.ts';

const run = (cmd: string, args: string[], input?: string) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input });
  return { status: r.status ?? -1, out: r.stdout, err: r.stderr };
};
const stepstone = (...args: string[]) => run(process.execPath, [BIN, ...args]);

/** A new CA certificate and key: a root (self-signed) or an intermediate under `ca`. */
function makeCa(dir: string, name: string, passwordFile: string, under?: { crt: string; key: string; passwordFile: string }): { crt: string; key: string } {
  const crt = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const r = stepstone('certificate', 'create', name, crt, key, '--password-file', passwordFile,
    ...(under ? ['--profile', 'intermediate-ca', '--ca', under.crt, '--ca-key', under.key, '--ca-password-file', under.passwordFile] : ['--profile', 'root-ca']));
  assert.equal(r.status, 0, r.err);
  return { crt, key };
}

interface Issued { crt: string; ca: string; serial: string; serialHex: string; certFile: string; keyFile: string; renewedFile?: string }

async function sign(ca: TestCa, p: ProvisionerKey, cn: string, dir: string, provisioner = 'admin'): Promise<Issued> {
  const { csrPem, keyPem } = opensslCsr(cn, [cn]);
  const ott = await mintToken(p, { iss: provisioner, aud: `${ca.url}/1.0/sign`, sub: cn, sans: [cn], sha: ca.fingerprint });
  const res = await request(ca, 'POST', '/1.0/sign', { csr: csrPem, ott });
  if (res.status !== 201) await new Promise((r) => setTimeout(r, 300));
  assert.equal(res.status, 201, `${cn}: ${res.body}\n${ca.logs.slice(-3).join('\n')}`);
  assert.deepEqual(res.json.certChain, [res.json.crt, res.json.ca], 'certChain is the leaf and its issuer');
  return saved(res.json, dir, cn, keyPem);
}

function saved(json: { crt: string; ca: string }, dir: string, name: string, keyPem: string): Issued {
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}.key`);
  writeFileSync(certFile, json.crt);
  writeFileSync(keyFile, keyPem, { mode: 0o600 });
  const serialHex = new X509Certificate(json.crt).serialNumber;
  return { crt: json.crt, ca: json.ca, serial: BigInt(`0x${serialHex}`).toString(10), serialHex, certFile, keyFile };
}

/** openssl verify of a leaf against one root through one intermediate. */
function verifies(root: string, intermediate: string, leafFile: string): boolean {
  return run('openssl', ['verify', '-CAfile', root, '-untrusted', intermediate, leafFile]).status === 0;
}

function curl(ca: TestCa, path: string, o: { cert?: string; key?: string; body?: string; out?: string } = {}): { status: number; body: string } {
  const r = run('curl', ['-sS', '--cacert', ca.rootFile, ...(o.cert ? ['--cert', o.cert, '--key', o.key!] : []),
    ...(o.body !== undefined ? ['-X', 'POST', '-H', 'content-type: application/json', '-d', o.body] : []),
    ...(o.out ? ['-o', o.out] : []), '-w', '\n%{http_code}', `${ca.url}${path}`]);
  const i = r.out.lastIndexOf('\n');
  return { status: Number(r.out.slice(i + 1)), body: r.out.slice(0, i) };
}

/** The CRL at `path`, as `openssl crl -text` prints it, after checking its signature with `issuerFile`. */
function crlText(ca: TestCa, path: string, issuerFile: string, dir: string): string {
  const file = join(dir, `crl-${path.replace(/\W/g, '_')}.der`);
  assert.equal(curl(ca, path, { out: file }).status, 200);
  const r = run('openssl', ['crl', '-inform', 'DER', '-in', file, '-text', '-noout', '-CAfile', issuerFile]);
  assert.equal(r.status, 0, r.err);
  assert.match(r.err, /verify OK/, `the CRL at ${path} is signed by ${issuerFile}`);
  return r.out;
}

function ocsp(ca: TestCa, issuerFile: string, certFile: string): string {
  const r = run('openssl', ['ocsp', '-issuer', issuerFile, '-cert', certFile, '-url', `${ca.url}/ocsp`, '-CAfile', ca.rootFile]);
  assert.equal(r.status, 0, r.err);
  assert.match(r.err, /Response verify OK/);
  return r.out;
}

/** An x5cInsecure renew token for `c` (renewal without a handshake), signed with its key. */
async function renewToken(ca: TestCa, c: Issued): Promise<string> {
  const leaf = new X509Certificate(c.crt);
  const keyPem = readFileSync(c.keyFile, 'utf8');
  const now = Math.floor(Date.now() / 1000);
  return new jose.CompactSign(new TextEncoder().encode(JSON.stringify({
    aud: `${ca.url}/renew`, iss: 'step-ca-client/1.0', sub: leaf.subject.replace(/^CN=/, ''), jti: randomBytes(16).toString('hex'), iat: now, nbf: now, exp: now + 300,
  }))).setProtectedHeader({
    alg: 'ES256', kid: await jose.calculateJwkThumbprint(await jose.exportJWK(createPublicKey(keyPem))), typ: 'JWT', x5cInsecure: [leaf.raw.toString('base64')],
  }).sign(createPrivateKey(keyPem));
}
const bearer = (t: string) => ({ headers: { authorization: `Bearer ${t}` } });

/** Rewrites ca.json, sends SIGHUP and waits for the server's verdict (reloaded or refused). */
async function reloadWith(ca: TestCa, edit: (cfg: Record<string, any>) => void): Promise<'reloaded' | string> {
  const cfg = JSON.parse(readFileSync(ca.configPath, 'utf8'));
  edit(cfg);
  writeFileSync(ca.configPath, JSON.stringify(cfg, null, 2));
  const from = ca.logs.length;
  ca.proc.kill('SIGHUP');
  // The verdict of this SIGHUP: the first reload line after the ones already there.
  const m = await pollUntil('a reload verdict', 30_000, () => ca.logs.slice(from).find((l) => /configuration reload(ed| refused)/.test(l)));
  return /configuration reloaded/.test(m) ? 'reloaded' : String(JSON.parse(m).reason);
}

// ---------------------------------------------------------------------------------------------
// Rotating an intermediate: README "Rotating an intermediate", step by step.

let ca: TestCa;
let admin: ProvisionerKey;
let oldInter: string;
let next: { crt: string; key: string };
let certA: Issued;
let certB: Issued;
const CDP = 'http://ca.internal/1.0/crl';
/** The CRL distribution point URIs of a certificate, as openssl prints them. */
const cdpOf = (file: string) => [...run('openssl', ['x509', '-in', file, '-noout', '-ext', 'crlDistributionPoints']).out.matchAll(/URI:(\S+)/g)].map((m) => m[1]);

before(async () => {
  ca = await startTestCa({ configure: (c) => { c.stepstone = { ...(c.stepstone ?? {}), crlDistributionPoints: [CDP] }; } });
  admin = await provisionerKey(ca.configPath, ca.password);
  oldInter = join(ca.home, 'certs', 'intermediate_ca.crt');
});
after(() => ca?.cleanup());

test('rotation: a CA with one issuer signs certificate A with its intermediate', async () => {
  certA = await sign(ca, admin, 'a.example', ca.dir);
  assert.equal(certA.ca.trim(), readFileSync(oldInter, 'utf8').trim());
  assert.ok(verifies(ca.rootFile, oldInter, certA.certFile));
  assert.deepEqual(cdpOf(certA.certFile), [CDP], 'one issuer: the configured CDP as it is');
});

test('rotation: a new intermediate added first in stepstone.issuers (the old one kept as "default") is applied by SIGHUP; /sign then issues from it', async () => {
  // Its key has a password of its own, given by passwordFile.
  const pw = join(ca.dir, 'next-password.txt');
  writeFileSync(pw, 'next-secret\n', { mode: 0o600 });
  next = makeCa(ca.dir, 'Issuing 2027', pw, { crt: ca.rootFile, key: join(ca.home, 'secrets', 'root_ca_key'), passwordFile: ca.passwordFile });
  const verdict = await reloadWith(ca, (cfg) => {
    cfg.stepstone = { ...(cfg.stepstone ?? {}), issuers: [
      { name: 'issuing-2027', crt: next.crt, key: next.key, passwordFile: pw },
      { name: 'default', crt: cfg.crt, key: cfg.key },
    ] };
  });
  assert.equal(verdict, 'reloaded');
  certB = await sign(ca, admin, 'b.example', ca.dir);
  assert.equal(certB.ca.trim(), readFileSync(next.crt, 'utf8').trim(), 'the ca field is the new intermediate');
  assert.ok(verifies(ca.rootFile, next.crt, certB.certFile), 'openssl verify: root → new intermediate → B');
  assert.ok(!verifies(ca.rootFile, oldInter, certB.certFile), 'B does not chain through the old intermediate');
  assert.deepEqual(cdpOf(certB.certFile), [`${CDP}/issuing-2027`], 'several issuers: the CDP names the issuer\'s own CRL');
  const inter = await request(ca, 'GET', '/intermediates');
  assert.equal(inter.json.crts.length, 2, '/intermediates lists both');
});

test('rotation: certificate A still renews over mTLS (curl --cert/--key), and the renewed certificate is issued by the OLD intermediate', () => {
  const r = curl(ca, '/renew', { cert: certA.certFile, key: certA.keyFile, body: '' });
  assert.equal(r.status, 201, r.body);
  const json = JSON.parse(r.body);
  const renewed = saved(json, ca.dir, 'a-renewed', readFileSync(certA.keyFile, 'utf8'));
  assert.notEqual(renewed.serial, certA.serial);
  assert.equal(json.ca.trim(), readFileSync(oldInter, 'utf8').trim(), 'the ca field is the old intermediate');
  assert.ok(verifies(ca.rootFile, oldInter, renewed.certFile), 'openssl verify: root → old intermediate → renewed A');
  assert.ok(!verifies(ca.rootFile, next.crt, renewed.certFile));
  assert.deepEqual(cdpOf(renewed.certFile), [CDP], 'a renewal copies the old certificate\'s extensions, CDP included');
  certA.renewedFile = renewed.certFile;
  // And a certificate of the new issuer renews too: the TLS trust gained the new intermediate.
  const rb = curl(ca, '/renew', { cert: certB.certFile, key: certB.keyFile, body: '' });
  assert.equal(rb.status, 201, rb.body);
  assert.equal(JSON.parse(rb.body).ca.trim(), readFileSync(next.crt, 'utf8').trim());
});

test('rotation: the renewed A renews again with a renew token (no handshake), still from the old intermediate', async () => {
  const renewed = saved({ crt: readFileSync(certA.renewedFile!, 'utf8'), ca: '' }, ca.dir, 'a-renewed-2', readFileSync(certA.keyFile, 'utf8'));
  const r = await request(ca, 'POST', '/renew', undefined, bearer(await renewToken(ca, renewed)));
  assert.equal(r.status, 201, r.body);
  assert.equal(r.json.ca.trim(), readFileSync(oldInter, 'utf8').trim());
  writeFileSync(join(ca.dir, 'a-renewed-3.pem'), r.json.crt);
  assert.ok(verifies(ca.rootFile, oldInter, join(ca.dir, 'a-renewed-3.pem')));
});

test('rotation: revoking A lists it in the old issuer\'s CRL (/crl/default), not in the new one\'s (/crl); OCSP says revoked for A and good for B', () => {
  const r = curl(ca, '/revoke', { cert: certA.certFile, key: certA.keyFile, body: JSON.stringify({ serial: certA.serial, reasonCode: 1, passive: true }) });
  assert.equal(r.status, 200, r.body);
  const hex = certA.serialHex.toUpperCase().replace(/^0+/, '');
  const old = crlText(ca, '/crl/default', oldInter, ca.dir);
  assert.match(old, new RegExp(`Serial Number: 0*${hex}`), 'A is in the old issuer\'s CRL');
  const now = crlText(ca, '/crl', next.crt, ca.dir);
  assert.doesNotMatch(now, new RegExp(hex), 'A is not in the new issuer\'s CRL');
  assert.match(crlText(ca, '/1.0/crl/issuing-2027', next.crt, ca.dir), /No Revoked Certificates/);
  assert.match(ocsp(ca, oldInter, certA.certFile), /a\.example\.pem: revoked/);
  assert.match(ocsp(ca, next.crt, certB.certFile), /b\.example\.pem: good/);
  // A's serial asked about under the new issuer's name is not the new issuer's to answer for.
  assert.match(ocsp(ca, next.crt, certA.certFile), /a\.example\.pem: unknown/);
});

test('rotation: `stepstone ca crl --issuer default` fetches and verifies the old issuer\'s CRL, which lists A', () => {
  const out = join(ca.dir, 'old.crl');
  const r = stepstone('ca', 'crl', '--issuer', 'default', '--out', out, '--ca-url', ca.url, '--root', ca.rootFile);
  assert.equal(r.status, 0, r.err);
  assert.match(r.err, /from CN=Test Intermediate CA: 1 revoked certificate/);
  const text = run('openssl', ['crl', '-inform', 'DER', '-in', out, '-noout', '-text']).out;
  assert.match(text, new RegExp(`Serial Number: 0*${certA.serialHex.toUpperCase().replace(/^0+/, '')}`));
  const dflt = stepstone('ca', 'crl', '--out', join(ca.dir, 'new.crl'), '--ca-url', ca.url, '--root', ca.rootFile);
  assert.equal(dflt.status, 0, dflt.err);
  assert.match(dflt.err, /from CN=Issuing 2027: 0 revoked certificates/);
});

test('rotation: /crl/NAME of an issuer not configured is a JSON 404', async () => {
  const r = await request(ca, 'GET', '/crl/nope');
  assert.equal(r.status, 404);
  assert.equal(r.json.status, 404);
  assert.match(r.json.message, /nope/);
});

test('rotation: a reload naming a broken issuer is refused and the running issuers are kept', async () => {
  const verdict = await reloadWith(ca, (cfg) => {
    cfg.stepstone.issuers.push({ name: 'broken', crt: cfg.crt, key: next.key, passwordFile: join(ca.dir, 'next-password.txt') });
  });
  assert.match(verdict, /issuers\[2\] "broken": the private key does not match the certificate/);
  const again = await reloadWith(ca, (cfg) => {
    cfg.stepstone.issuers.pop();
    cfg.authority.provisioners[0].issuer = 'nope';
  });
  assert.match(again, /authority\.provisioners\.0\.issuer: no issuer is named "nope"/);
  const c = await sign(ca, admin, 'c.example', ca.dir);
  assert.equal(c.ca.trim(), readFileSync(next.crt, 'utf8').trim(), 'the running configuration still signs with the new issuer');
});

test('rotation: moving the provisioner back to the old issuer with `provisioner update --issuer` and reload; once the old issuer is removed, A\'s renewal is refused with a clear 401', async () => {
  const bad = stepstone('provisioner', 'update', 'admin', '--issuer', 'nope', '--home', ca.home);
  assert.notEqual(bad.status, 0);
  assert.match(bad.err, /no issuer is named "nope"/);
  const cfg = JSON.parse(readFileSync(ca.configPath, 'utf8'));
  delete cfg.authority.provisioners[0].issuer;
  writeFileSync(ca.configPath, JSON.stringify(cfg, null, 2));
  const ok = stepstone('provisioner', 'update', 'admin', '--issuer', 'default', '--home', ca.home);
  assert.equal(ok.status, 0, ok.err);
  assert.equal(await reloadWith(ca, () => undefined), 'reloaded');
  const d = await sign(ca, admin, 'd.example', ca.dir);
  assert.equal(d.ca.trim(), readFileSync(oldInter, 'utf8').trim(), 'the provisioner\'s issuer signs');
  // Retire the old issuer: what it issued can no longer renew.
  assert.equal(await reloadWith(ca, (c) => {
    delete c.authority.provisioners[0].issuer;
    c.stepstone.issuers = c.stepstone.issuers.filter((i: { name: string }) => i.name !== 'default');
  }), 'reloaded');
  const r = curl(ca, '/renew', { cert: d.certFile, key: d.keyFile, body: '' });
  assert.equal(r.status, 401, r.body);
  assert.match(JSON.parse(r.body).message, /not issued by any issuer this CA has configured/);
  const t = await request(ca, 'POST', '/renew', undefined, bearer(await renewToken(ca, d)));
  assert.equal(t.status, 401, t.body);
  assert.match(t.json.message, /not issued by any issuer this CA has configured/);
});

// ---------------------------------------------------------------------------------------------
// Two issuers under two different roots.

test('two roots: /roots lists both, each provisioner\'s certificates chain to its own root; broken issuers stop the start with one clear line', async (t) => {
  const two = await startTestCa();
  t.after(() => two.cleanup());
  const otherRoot = makeCa(two.dir, 'Other Root', two.passwordFile);
  const otherInter = makeCa(two.dir, 'Other Issuing', two.passwordFile, { crt: otherRoot.crt, key: otherRoot.key, passwordFile: two.passwordFile });
  const opsPw = join(two.dir, 'ops-password.txt');
  writeFileSync(opsPw, 'ops-secret\n', { mode: 0o600 });
  const base = JSON.parse(readFileSync(two.configPath, 'utf8'));
  base.root = [base.root, otherRoot.crt];
  base.stepstone = { ...(base.stepstone ?? {}), issuers: [{ name: 'main', crt: base.crt, key: base.key }, { name: 'other', crt: otherInter.crt, key: otherInter.key }] };
  writeFileSync(two.configPath, JSON.stringify(base, null, 2));
  const add = stepstone('provisioner', 'add', 'ops', '--type', 'JWK', '--create', '--password-file', opsPw, '--issuer', 'other', '--home', two.home);
  assert.equal(add.status, 0, add.err);
  // A provisioner with a certificate template (not the default leaf's shape: signed off the fast path), also on "other".
  const tplFile = join(two.dir, 'server-only.tpl');
  writeFileSync(tplFile, '{ "subject": {{ toJson .Subject }}, "sans": {{ toJson .SANs }}, "keyUsage": ["digitalSignature"], "extKeyUsage": ["serverAuth"] }');
  const tpl = stepstone('provisioner', 'add', 'tpl', '--type', 'JWK', '--create', '--password-file', opsPw, '--issuer', 'other', '--x509-template', tplFile, '--home', two.home);
  assert.equal(tpl.status, 0, tpl.err);
  const unknown = stepstone('provisioner', 'add', 'ops2', '--type', 'JWK', '--create', '--password-file', opsPw, '--issuer', 'elsewhere', '--home', two.home);
  assert.notEqual(unknown.status, 0);
  assert.match(unknown.err, /no issuer is named "elsewhere" \(configured: main, other\)/);
  assert.equal(await reloadWith(two, () => undefined), 'reloaded');

  const roots = await request(two, 'GET', '/roots');
  assert.equal(roots.json.crts.length, 2);
  assert.equal(roots.json.crts[1].trim(), readFileSync(otherRoot.crt, 'utf8').trim());
  assert.equal((await request(two, 'GET', '/federation')).json.crts.length, 2);

  const mainCert = await sign(two, await provisionerKey(two.configPath, two.password), 'main.example', two.dir);
  const opsCert = await sign(two, await provisionerKey(two.configPath, 'ops-secret', 'ops'), 'ops.example', two.dir, 'ops');
  const mainInter = join(two.home, 'certs', 'intermediate_ca.crt');
  assert.ok(verifies(two.rootFile, mainInter, mainCert.certFile), 'admin → main → the first root');
  assert.ok(verifies(otherRoot.crt, otherInter.crt, opsCert.certFile), 'ops → other → the other root');
  assert.ok(!verifies(two.rootFile, otherInter.crt, opsCert.certFile), 'ops does not chain to the first root');
  assert.equal(opsCert.ca.trim(), readFileSync(otherInter.crt, 'utf8').trim());
  const tplCert = await sign(two, await provisionerKey(two.configPath, 'ops-secret', 'tpl'), 'tpl.example', two.dir, 'tpl');
  assert.ok(verifies(otherRoot.crt, otherInter.crt, tplCert.certFile), 'templated → other → the other root');
  assert.match(run('openssl', ['x509', '-in', tplCert.certFile, '-noout', '-ext', 'extendedKeyUsage']).out, /TLS Web Server Authentication\s*$/);
  // An mTLS renewal of the other root's certificate: curl trusts the server by the first root, the server the client by the other.
  const r = curl(two, '/renew', { cert: opsCert.certFile, key: opsCert.keyFile, body: '' });
  assert.equal(r.status, 201, r.body);
  assert.equal(JSON.parse(r.body).ca.trim(), readFileSync(otherInter.crt, 'utf8').trim());
  await two.stop();

  // Start-up refusals: each one line naming the issuer and the problem.
  const refuses = async (edit: (cfg: Record<string, any>) => void, re: RegExp) => {
    const cfg = structuredClone(base);
    cfg.authority.provisioners = JSON.parse(readFileSync(two.configPath, 'utf8')).authority.provisioners;
    edit(cfg);
    writeFileSync(two.configPath, JSON.stringify(cfg, null, 2));
    const started = await serve(two.home, two.passwordFile, [], 60_000).then(async (s) => { await stopProc(s.proc); return null; }, (e: Error) => e.message);
    assert.ok(started, 'the server refused to start');
    const lines = started!.split('\n').filter((l) => /error|refus|stepstone:/i.test(l));
    assert.match(started!, re);
    assert.equal(lines.filter((l) => re.test(l)).length, 1, `one line says it:\n${started}`);
  };
  await refuses((c) => { c.stepstone.issuers[1].key = base.key; }, /issuers\[1\] "other": the private key does not match the certificate CN=Other Issuing/);
  const leafCrt = join(two.dir, 'leaf-as-issuer.crt');
  writeFileSync(leafCrt, opsCert.crt);
  await refuses((c) => { c.stepstone.issuers[1].crt = leafCrt; c.stepstone.issuers[1].key = opsCert.keyFile; }, /issuers\[1\] "other": the certificate CN=ops\.example is not a CA certificate/);
  await refuses((c) => { c.root = [c.root[0]]; }, /issuers\[1\] "other": the certificate CN=Other Issuing is not signed by any configured root/);
  await refuses((c) => { c.authority.provisioners[1].issuer = 'gone'; }, /authority\.provisioners\.1\.issuer: no issuer is named "gone" \(configured: main, other\)/);
  await refuses((c) => { c.stepstone.issuers[1].name = 'main'; }, /stepstone\.issuers\.1\.name: another issuer is already named "main"/);
});
