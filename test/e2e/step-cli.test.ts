// The real step CLI against Stepstone (issue 15 §4): smallstep's `step` 0.15.16, built from
// Debian's source package (test/helpers/step-cli.ts), edits our ca.json with
// `step ca provisioner add|remove` and talks to our server as a client. Its `ca` commands are
// upstream's code linked against Debian's certificates 0.19 client library.
//
// What `step ca provisioner add` does to a Stepstone ca.json: it loads the file into
// certificates' Config struct and writes that back, so every key step-ca does not know is dropped
// (our `stepstone` block, `crl`, the `disableSmallstepExtensions` claim) and empty defaults are
// added ("template": {}, "insecureAddress": ""). Stepstone serves the result with its defaults for
// what was dropped; settings made in the `stepstone` block must be put back by hand. step-ca has
// the same effect on its own settings that certificates 0.19 does not know.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, request, serve, startTestCa, stopProc, type TestCa } from '../helpers/ca.ts';
import { requireCapability } from '../helpers/capability.ts';
import { stepCli, stepCliMissing, type StepCli } from '../helpers/step-cli.ts';
import { mintToken, opensslCsr, provisionerKey } from '../helpers/tokens.ts';

let step: StepCli | undefined;
let missing: string | null = null;
let ca: TestCa;
let stepPath: string;
let opsPw: string;
let opsKid: string;
/** The server started again on the file step wrote (test 2); ca.cleanup() stops only the first. */
let restarted: ChildProcess | undefined;

before(async () => {
  missing = stepCliMissing();
  if (missing) return;
  try {
    step = await stepCli((m) => process.stderr.write(`${m}\n`));
  } catch (e) {
    missing = `the step CLI could not be built: ${(e as Error).message}`;
    return;
  }
  ca = await startTestCa();
  stepPath = join(ca.dir, 'step');
  opsPw = join(ca.dir, 'ops-password.txt');
  writeFileSync(opsPw, 'ops-secret\n', { mode: 0o600 });
});
after(async () => {
  if (restarted) await stopProc(restarted);
  if (ca) await ca.cleanup();
});

const have = (t: { skip(m?: string): void }) => requireCapability(t, !!step, missing);

/**
 * The real step CLI, with its own STEPPATH; never throws on a non-zero exit. Asynchronous, so the
 * CA (a child of this process, its logs read here) keeps answering while step waits on it.
 */
function stepAsync(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const p = spawn(step!.bin, args, { env: { ...process.env, STEPPATH: stepPath }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const kill = setTimeout(() => p.kill('SIGKILL'), 120_000);
    p.on('close', (code) => { clearTimeout(kill); res({ status: code ?? -1, stdout, stderr }); });
  });
}

function stepstone(args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function openssl(args: string[], input?: string): string {
  return execFileSync('openssl', args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}
const certText = (file: string) => openssl(['x509', '-in', file, '-noout', '-text']);
const serialHex = (file: string) => openssl(['x509', '-in', file, '-noout', '-serial']).trim().replace(/^serial=/, '').toUpperCase();
const intermediate = () => join(ca.home, 'certs', 'intermediate_ca.crt');
/** `openssl verify` of `file` up to our root through our intermediate. */
function verifyChain(file: string): void {
  assert.equal(openssl(['verify', '-CAfile', ca.rootFile, '-untrusted', intermediate(), file]).trim(), `${file}: OK`);
}
const reloads = () => ca.logs.filter((l) => /"msg":"configuration reloaded"/.test(l)).length;
async function reload(): Promise<string> {
  const n = reloads();
  const r = stepstone(['reload', '--home', ca.home]);
  assert.equal(r.status, 0, r.stderr);
  const deadline = Date.now() + 30_000;
  while (reloads() <= n) {
    if (Date.now() > deadline) throw new Error(`no reload logged:\n${ca.logs.slice(-5).join('\n')}`);
    await new Promise((res) => setTimeout(res, 50));
  }
  return ca.logs.filter((l) => /"msg":"configuration reloaded"/.test(l)).at(-1)!;
}
/**
 * The certificate's DER as text, to find the provisioner's kid in: the step provisioner extension
 * (1.3.6.1.4.1.37476.9000.64.1) records the provisioner's name and kid as plain strings.
 */
const certDer = (file: string) => execFileSync('openssl', ['x509', '-in', file, '-outform', 'der']).toString('latin1');

test('the real step CLI reports its version', (t) => {
  if (!have(t)) return;
  t.diagnostic(step!.version);
  assert.match(step!.version, /^Smallstep CLI\/0\.15\.\d+ /);
});

test('`step ca provisioner add NAME --type JWK --create` on our ca.json makes a file we reload and serve', async (t) => {
  if (!have(t)) return;
  const r = await stepAsync(['ca', 'provisioner', 'add', 'ops', '--type', 'JWK', '--create', '--ca-config', ca.configPath, '--password-file', opsPw]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /Success! Your `step-ca` config has been updated/);
  const cfg = JSON.parse(readFileSync(ca.configPath, 'utf8'));
  const ops = cfg.authority.provisioners.find((p: any) => p.name === 'ops');
  assert.equal(ops.type, 'JWK');
  assert.match(ops.encryptedKey, /^eyJ/);
  opsKid = ops.key.kid;
  t.diagnostic(`keys step's rewrite dropped: ${['stepstone', 'crl'].filter((k) => !(k in cfg)).join(', ') || 'none'}`);

  // Unknown to the running CA until it reloads.
  const key = await provisionerKey(ca.configPath, 'ops-secret', 'ops');
  assert.equal(key.kid, opsKid, 'step encrypted the key with the password file');
  const { csrPem } = opensslCsr('early.internal', ['early.internal']);
  const early = await request(ca, 'POST', '/1.0/sign', { csr: csrPem, ott: await mintToken(key, { iss: 'ops', aud: `${ca.url}/1.0/sign`, sub: 'early.internal', sans: ['early.internal'] }) });
  assert.equal(early.status, 401);

  const reloaded = await reload();
  assert.match(reloaded, /"provisioners":2/);
  // step wrote "insecureAddress": "" and db.badgerFileLoadingMode "" (the same as absent), and its
  // dropped stepstone and crl blocks were the defaults: nothing a restart would change.
  assert.match(reloaded, /"restartNeeded":\[\]/);
  const listed = JSON.parse(stepstone(['provisioner', 'list', '--home', ca.home]).stdout);
  assert.deepEqual(listed.map((p: any) => [p.name, p.key?.kid]), [['admin', listed[0].key.kid], ['ops', opsKid]]);

  // A token from our CLI for step's provisioner, decrypting step's JWE with the password.
  const home = join(ca.dir, 'client');
  mkdirSync(home);
  const tok = stepstone(['ca', 'token', 'svc.internal', '--provisioner', 'ops', '--password-file', opsPw, '--ca-url', ca.url, '--root', ca.rootFile, '--home', home]);
  assert.equal(tok.status, 0, tok.stderr);
  const { csrPem: csr, keyPem } = opensslCsr('svc.internal', ['svc.internal']);
  const signed = await request(ca, 'POST', '/1.0/sign', { csr, ott: tok.stdout.trim() });
  assert.equal(signed.status, 201, signed.body);
  const crt = join(ca.dir, 'svc-ours.crt');
  writeFileSync(crt, signed.json.crt);
  writeFileSync(join(ca.dir, 'svc-ours.key'), keyPem);
  assert.match(certText(crt), /Subject: CN ?= ?svc\.internal\n/);
  assert.match(certText(crt), /DNS:svc\.internal/);
  assert.ok(certDer(crt).includes(opsKid), 'issued by step\'s provisioner (its kid in the provisioner extension)');
  verifyChain(crt);

  // And a fresh start on the file step wrote.
  await stopProc(ca.proc);
  const again = await serve(ca.home, ca.passwordFile);
  restarted = again.proc;
  // The later tests talk to this one.
  Object.assign(ca, { proc: again.proc, port: again.port, url: `https://127.0.0.1:${again.port}`, logs: again.logs });
  const served = await request(ca, 'GET', '/provisioners');
  assert.deepEqual(served.json.provisioners.map((p: any) => p.name), ['admin', 'ops']);
});

test('the real step CLI as a client: bootstrap, root, roots, federation, health, provisioner list', async (t) => {
  if (!have(t)) return;
  const boot = await stepAsync(['ca', 'bootstrap', '--ca-url', ca.url, '--fingerprint', ca.fingerprint]);
  assert.equal(boot.status, 0, boot.stderr);
  const defaults = JSON.parse(readFileSync(join(stepPath, 'config', 'defaults.json'), 'utf8'));
  assert.equal(defaults['ca-url'], ca.url);
  assert.equal(defaults.fingerprint, ca.fingerprint);
  assert.equal(readFileSync(defaults.root, 'utf8').trim(), ca.rootPem.trim());
  const wrong = await stepAsync(['ca', 'bootstrap', '--ca-url', ca.url, '--fingerprint', '0'.repeat(64), '--force']);
  assert.notEqual(wrong.status, 0, 'a wrong fingerprint is refused');
  assert.equal(JSON.parse(readFileSync(join(stepPath, 'config', 'defaults.json'), 'utf8')).fingerprint, ca.fingerprint);

  const rootOut = join(ca.dir, 'root-by-step.crt');
  assert.equal((await stepAsync(['ca', 'root', rootOut])).status, 0);
  assert.equal(readFileSync(rootOut, 'utf8').trim(), ca.rootPem.trim());
  for (const sub of ['roots', 'federation']) {
    const out = join(ca.dir, `${sub}-by-step.pem`);
    const r = await stepAsync(['ca', sub, out]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(out, 'utf8').trim(), ca.rootPem.trim(), `step ca ${sub}`);
  }
  const health = await stepAsync(['ca', 'health']);
  assert.equal(health.status, 0, health.stderr);
  assert.equal(health.stdout.trim(), 'ok');
  const list = await stepAsync(['ca', 'provisioner', 'list']);
  assert.equal(list.status, 0, list.stderr);
  assert.deepEqual(JSON.parse(list.stdout).map((p: any) => [p.name, p.type]), [['admin', 'JWK'], ['ops', 'JWK']]);
  assert.equal(JSON.parse(list.stdout)[1].key.kid, opsKid);
});

test('the real step CLI as a client: token + certificate, certificate with a password file, sign, renew, revoke', async (t) => {
  if (!have(t)) return;
  const f = (n: string) => join(ca.dir, n);
  // step ca token, then step ca certificate --token.
  const tok = await stepAsync(['ca', 'token', 'svc.internal', '--provisioner', 'ops', '--password-file', opsPw]);
  assert.equal(tok.status, 0, tok.stderr);
  const cert = await stepAsync(['ca', 'certificate', 'svc.internal', f('svc.crt'), f('svc.key'), '--token', tok.stdout.trim()]);
  assert.equal(cert.status, 0, cert.stderr);
  let text = certText(f('svc.crt'));
  assert.match(text, /Subject: CN ?= ?svc\.internal\n/);
  assert.match(text, /Issuer: CN ?= ?Test Intermediate CA\n/);
  assert.match(text, /DNS:svc\.internal/);
  assert.match(text, /TLS Web Server Authentication, TLS Web Client Authentication/);
  verifyChain(f('svc.crt'));
  // A one-time token: the same one again is refused.
  const reuse = await stepAsync(['ca', 'certificate', 'svc.internal', f('svc2.crt'), f('svc2.key'), '--token', tok.stdout.trim()]);
  assert.notEqual(reuse.status, 0);

  // step ca certificate minting its own token, with SANs of two kinds.
  const two = await stepAsync(['ca', 'certificate', 'two.internal', f('two.crt'), f('two.key'), '--provisioner', 'ops', '--provisioner-password-file', opsPw, '--san', 'two.internal', '--san', '10.0.0.1']);
  assert.equal(two.status, 0, two.stderr);
  assert.match(certText(f('two.crt')), /DNS:two\.internal, IP Address:10\.0\.0\.1/);
  assert.ok(certDer(f('two.crt')).includes(opsKid));
  verifyChain(f('two.crt'));

  // --not-after reaches the CA: an hour from issuance, not the 24 h default. (notBefore is the
  // backdate, clamped to the young intermediate's own notBefore.)
  const t0 = Date.now();
  const short = await stepAsync(['ca', 'certificate', 'short.internal', f('short.crt'), f('short.key'), '--provisioner', 'ops', '--provisioner-password-file', opsPw, '--not-after', '1h']);
  const t1 = Date.now();
  assert.equal(short.status, 0, short.stderr);
  const notAfter = Date.parse(/notAfter=(.*)/.exec(openssl(['x509', '-in', f('short.crt'), '-noout', '-enddate']))![1]!);
  assert.ok(notAfter >= t0 + 3600_000 - 1000 && notAfter <= t1 + 3600_000 + 1000, `notAfter ${new Date(notAfter).toISOString()}, issued ${new Date(t0).toISOString()}`);
  const tooLong = await stepAsync(['ca', 'certificate', 'long.internal', f('long.crt'), f('long.key'), '--provisioner', 'ops', '--provisioner-password-file', opsPw, '--not-after', '48h']);
  assert.notEqual(tooLong.status, 0);
  assert.match(tooLong.stderr, /maximum certificate duration/);

  // step ca sign: our CSR, step's token.
  const { csrPem } = opensslCsr('csr.internal', ['csr.internal']);
  writeFileSync(f('csr.pem'), csrPem);
  const signed = await stepAsync(['ca', 'sign', f('csr.pem'), f('csr.crt'), '--provisioner', 'admin', '--provisioner-password-file', ca.passwordFile]);
  assert.equal(signed.status, 0, signed.stderr);
  assert.match(certText(f('csr.crt')), /Subject: CN ?= ?csr\.internal\n/);
  verifyChain(f('csr.crt'));

  // step ca renew over mutual TLS: a new serial, the same names, still our chain.
  const renewed = await stepAsync(['ca', 'renew', f('svc.crt'), f('svc.key'), '--out', f('svc-renewed.crt')]);
  assert.equal(renewed.status, 0, renewed.stderr);
  assert.notEqual(serialHex(f('svc-renewed.crt')), serialHex(f('svc.crt')));
  text = certText(f('svc-renewed.crt'));
  assert.match(text, /Subject: CN ?= ?svc\.internal\n/);
  assert.match(text, /DNS:svc\.internal/);
  verifyChain(f('svc-renewed.crt'));

  // step ca revoke over mutual TLS, and by serial with a revoke token.
  const mtls = await stepAsync(['ca', 'revoke', '--cert', f('two.crt'), '--key', f('two.key'), '--reason', 'decommissioned']);
  assert.equal(mtls.status, 0, mtls.stderr);
  const decimal = BigInt(`0x${serialHex(f('csr.crt'))}`).toString();
  const rtok = await stepAsync(['ca', 'token', decimal, '--revoke', '--provisioner', 'ops', '--password-file', opsPw]);
  assert.equal(rtok.status, 0, rtok.stderr);
  const bySerial = await stepAsync(['ca', 'revoke', decimal, '--token', rtok.stdout.trim(), '--reason', 'superseded']);
  assert.equal(bySerial.status, 0, bySerial.stderr);
  assert.match(bySerial.stderr, new RegExp(`Certificate with Serial Number ${decimal} has been revoked`));
  // Both are on the CRL; the renewed certificate is not; a revoked one no longer renews.
  execFileSync('curl', ['-sf', '--cacert', ca.rootFile, '-o', f('ca.crl'), `${ca.url}/crl`]);
  const crlText = openssl(['crl', '-inform', 'DER', '-in', f('ca.crl'), '-noout', '-text']);
  const onCrl = [...crlText.matchAll(/Serial Number: ([0-9A-F]+)/g)].map((m) => m[1]!.replace(/^0+/, ''));
  const strip = (s: string) => s.replace(/^0+/, '');
  assert.ok(onCrl.includes(strip(serialHex(f('two.crt')))), 'the mTLS-revoked certificate is on the CRL');
  assert.ok(onCrl.includes(strip(serialHex(f('csr.crt')))), 'the token-revoked certificate is on the CRL');
  assert.ok(!onCrl.includes(strip(serialHex(f('svc-renewed.crt')))));
  const dead = await stepAsync(['ca', 'renew', f('two.crt'), f('two.key'), '--out', f('two-renewed.crt')]);
  assert.notEqual(dead.status, 0, 'a revoked certificate does not renew');
});

test('`step ca provisioner remove NAME --all --ca-config` then a reload: the provisioner is gone', async (t) => {
  if (!have(t)) return;
  // A token minted while the provisioner exists, spent after it is removed.
  const tok = await stepAsync(['ca', 'token', 'late.internal', '--provisioner', 'ops', '--password-file', opsPw]);
  assert.equal(tok.status, 0, tok.stderr);
  const r = await stepAsync(['ca', 'provisioner', 'remove', 'ops', '--all', '--ca-config', ca.configPath]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(readFileSync(ca.configPath, 'utf8')).authority.provisioners.map((p: any) => p.name), ['admin']);
  assert.match(await reload(), /"provisioners":1/);
  const { csrPem } = opensslCsr('late.internal', ['late.internal']);
  const late = await request(ca, 'POST', '/1.0/sign', { csr: csrPem, ott: tok.stdout.trim() });
  assert.equal(late.status, 401, late.body);
  const list = await stepAsync(['ca', 'provisioner', 'list']);
  assert.deepEqual(JSON.parse(list.stdout).map((p: any) => p.name), ['admin']);
  assert.deepEqual(JSON.parse(stepstone(['provisioner', 'list', '--home', ca.home]).stdout).map((p: any) => p.name), ['admin']);
  // The other provisioner still issues.
  const admin = await stepAsync(['ca', 'certificate', 'after.internal', join(ca.dir, 'after.crt'), join(ca.dir, 'after.key'), '--provisioner', 'admin', '--provisioner-password-file', ca.passwordFile]);
  assert.equal(admin.status, 0, admin.stderr);
  verifyChain(join(ca.dir, 'after.crt'));
});

test('`step ca provisioner add NAME --type ACME` then a reload serves its ACME directory; `remove --type ACME` takes it away', async (t) => {
  if (!have(t)) return;
  const add = await stepAsync(['ca', 'provisioner', 'add', 'acme', '--type', 'ACME', '--ca-config', ca.configPath]);
  assert.equal(add.status, 0, add.stderr);
  assert.deepEqual(JSON.parse(readFileSync(ca.configPath, 'utf8')).authority.provisioners.map((p: any) => [p.type, p.name]), [['JWK', 'admin'], ['ACME', 'acme']]);
  assert.equal((await request(ca, 'GET', '/acme/acme/directory')).status, 404, 'unknown before the reload');
  assert.match(await reload(), /"provisioners":2/);
  const dir = await request(ca, 'GET', '/acme/acme/directory');
  assert.equal(dir.status, 200, dir.body);
  assert.equal(dir.json.newNonce, `${ca.url}/acme/acme/new-nonce`);
  assert.equal(dir.json.newOrder, `${ca.url}/acme/acme/new-order`);
  const list = await stepAsync(['ca', 'provisioner', 'list']);
  assert.deepEqual(JSON.parse(list.stdout).map((p: any) => [p.type, p.name]), [['JWK', 'admin'], ['ACME', 'acme']]);

  const rm = await stepAsync(['ca', 'provisioner', 'remove', 'acme', '--type', 'ACME', '--ca-config', ca.configPath]);
  assert.equal(rm.status, 0, rm.stderr);
  assert.match(await reload(), /"provisioners":1/);
  assert.equal((await request(ca, 'GET', '/acme/acme/directory')).status, 404);
});
