// Provisioners without restarts: `stepstone provisioner list|add|remove|update` editing a CA
// home's ca.json (atomically, with a backup), `stepstone reload` and SIGHUP applying provisioners,
// claims and policies to the running CA, a broken config refused with its reason logged and the
// old one kept, and reloads under a steady /sign load with zero failed requests.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFile, spawnSync } from 'node:child_process';
import { BIN, request, startTestCa, type TestCa } from '../helpers/ca.ts';
import { mintToken, opensslCsr, provisionerKey, type ProvisionerKey } from '../helpers/tokens.ts';
import { waitForLog } from '../helpers/logs.ts';

let ca: TestCa;
let admin: ProvisionerKey;
let opsPw: string;

before(async () => {
  ca = await startTestCa();
  admin = await provisionerKey(ca.configPath, ca.password);
  opsPw = join(ca.dir, 'ops-password.txt');
  writeFileSync(opsPw, 'ops-secret\n', { mode: 0o600 });
});
after(() => ca.cleanup());

/** The CLI with both streams (the helper's cli() drops stderr on success). */
function cli(args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
const prov = (...args: string[]) => cli(['provisioner', ...args, '--home', ca.home]);
/**
 * The same without blocking this process: the load test's clients must keep sending while the
 * CLI runs, or their keep-alive connections sit idle past the server's keepAliveTimeout.
 */
function cliAsync(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(process.execPath, [BIN, ...args], { encoding: 'utf8' }, (err, stdout, stderr) => {
      res({ status: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}
const reloads = (re = /"msg":"configuration reloaded"/) => ca.logs.filter((l) => re.test(l)).length;

async function reloaded(before: number, how: 'cli' | 'signal'): Promise<void> {
  if (how === 'cli') {
    const r = await cliAsync(['reload', '--home', ca.home]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /is valid; sent SIGHUP to the CA \(pid \d+\)/);
  } else {
    ca.proc.kill('SIGHUP');
  }
  const deadline = Date.now() + 30_000;
  while (reloads() <= before) {
    if (Date.now() > deadline) throw new Error(`no reload logged:\n${ca.logs.slice(-5).join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function sign(p: ProvisionerKey, iss: string, cn: string, extra: Record<string, unknown> = {}) {
  const { csrPem } = opensslCsr(cn, [cn]);
  const ott = await mintToken(p, { iss, aud: `${ca.url}/1.0/sign`, sub: cn, sans: [cn] });
  return request(ca, 'POST', '/1.0/sign', { csr: csrPem, ott, ...extra });
}

const inHours = (h: number) => new Date(Date.now() + h * 3600_000).toISOString();

test('provisioner add/list/update/remove edit ca.json atomically, keep a backup, and check before writing', () => {
  chmodSync(ca.configPath, 0o640);
  const original = readFileSync(ca.configPath, 'utf8');
  const add = prov('add', 'ops', '--type', 'JWK', '--create', '--password-file', opsPw, '--x509-max-dur', '2h', '--x509-default-dur', '1h');
  assert.equal(add.status, 0, add.stderr);
  assert.match(add.stderr, /added JWK provisioner "ops" \(kid [\w-]{43}\)/);
  assert.equal(readFileSync(`${ca.configPath}.bak`, 'utf8'), original);
  assert.equal(statSync(ca.configPath).mode & 0o777, 0o640, 'the mode of ca.json is kept');
  const list = JSON.parse(prov('list').stdout);
  const ops = list.find((p: any) => p.name === 'ops');
  assert.deepEqual(ops.claims, { maxTLSCertDuration: '2h', defaultTLSCertDuration: '1h' });
  assert.equal(ops.key.kty, 'EC');
  assert.equal(ops.key.d, undefined);
  assert.match(ops.encryptedKey, /^eyJ/);

  const dup = prov('add', 'ops', '--password-file', opsPw);
  assert.equal(dup.status, 1);
  assert.match(dup.stderr, /^error: a provisioner named "ops" already exists/);
  assert.equal(prov('add', 'x', '--password-file', opsPw, '--x509-max-dur', 'forever').status, 2);
  // The result is checked as a reload would: an impossible claim set is refused, ca.json untouched.
  const before = readFileSync(ca.configPath, 'utf8');
  const bad = prov('update', 'ops', '--x509-min-dur', '3h');
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /minTLSCertDuration is longer than maxTLSCertDuration \(ca\.json left unchanged\)/);
  assert.equal(readFileSync(ca.configPath, 'utf8'), before);
  assert.match(prov('remove', 'nobody').stderr, /no provisioner named "nobody"/);
});

test('stepstone reload applies added, updated and removed provisioners to the running CA', async () => {
  const ops = await provisionerKey(ca.configPath, 'ops-secret', 'ops');
  const early = await sign(ops, 'ops', 'early.internal');
  assert.equal(early.status, 401, 'not known before the reload');
  await reloaded(reloads(), 'cli');
  assert.match(ca.logs.find((l) => /configuration reloaded/.test(l))!, /"provisioners":2/);
  const ok = await sign(ops, 'ops', 'ops.internal');
  assert.equal(ok.status, 201, ok.body);
  const long = await sign(ops, 'ops', 'long.internal', { notAfter: inHours(3) });
  assert.equal(long.status, 403);
  assert.match(long.json.message, /more than the authorized maximum certificate duration of 2h/);
  assert.equal(prov('update', 'ops', '--x509-max-dur', '4h').status, 0);
  await reloaded(reloads(), 'cli');
  assert.equal((await sign(ops, 'ops', 'long.internal', { notAfter: inHours(3) })).status, 201);
  // The provisioner's name policy, set from the command line and applied by a reload.
  const pol = prov('update', 'ops', '--x509-allow-dns', '*.ops.internal', '--x509-allow-dns', 'ops.internal', '--x509-deny-dns', 'db.ops.internal');
  assert.equal(pol.status, 0, pol.stderr);
  assert.deepEqual(JSON.parse(prov('list').stdout).find((p: any) => p.name === 'ops').policy,
    { x509: { allow: { dns: ['*.ops.internal', 'ops.internal'] }, deny: { dns: ['db.ops.internal'] } } });
  await reloaded(reloads(), 'cli');
  assert.equal((await sign(ops, 'ops', 'web.ops.internal')).status, 201);
  const db = await sign(ops, 'ops', 'db.ops.internal');
  assert.equal(db.status, 403);
  assert.match(db.json.message, /denied by provisioner "ops"'s policy rule x509\.deny\.dns "db\.ops\.internal"/);
  assert.equal((await sign(ops, 'ops', 'elsewhere.internal')).status, 403);
  assert.equal(prov('update', 'ops', '--x509-allow-dns', '', '--x509-deny-dns', '').status, 0);
  assert.equal(JSON.parse(prov('list').stdout).find((p: any) => p.name === 'ops').policy.x509.allow, undefined);
  assert.equal(prov('update', 'ops', '--x509-allow-dns', '*.*.bad').status, 1, 'a bad rule is refused before writing');
  assert.equal(prov('remove', 'ops').status, 0);
  await reloaded(reloads(), 'signal');
  assert.equal((await sign(ops, 'ops', 'gone.internal')).status, 401);
  assert.equal((await sign(admin, 'admin', 'admin.internal')).status, 201);
});

test('SIGHUP applies a new name policy; a broken config is refused with its reason and the old one kept', async () => {
  const original = readFileSync(ca.configPath);
  const cfg = JSON.parse(original.toString('utf8'));
  cfg.authority.policy = { x509: { deny: { dns: ['*.secret.internal'] } } };
  writeFileSync(ca.configPath, JSON.stringify(cfg, null, 2));
  await reloaded(reloads(), 'signal');
  const denied = await sign(admin, 'admin', 'db.secret.internal');
  assert.equal(denied.status, 403);
  assert.match(denied.json.message, /denied by the authority policy rule x509\.deny\.dns "\*\.secret\.internal"/);

  cfg.authority.policy = { x509: { deny: { dns: ['*.*.bad'] } } };
  writeFileSync(ca.configPath, JSON.stringify(cfg, null, 2));
  const r = cli(['reload', '--home', ca.home]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /authority\.policy\.x509\.deny\.dns: "\*\.\*\.bad".*\(nothing sent: the running CA keeps its configuration\)/);
  const refusedBefore = reloads(/configuration reload refused/);
  ca.proc.kill('SIGHUP');
  const line = await waitForLog(ca.logs, /"msg":"configuration reload refused; the running configuration is kept"/, 30_000);
  assert.ok(line);
  assert.equal(reloads(/configuration reload refused/), refusedBefore + 1);
  assert.match(ca.logs.find((l) => /configuration reload refused/.test(l))!, /"reason":"config: authority\.policy\.x509\.deny\.dns: \\"\*\.\*\.bad\\"/);
  // The old policy still holds, and the CA still issues.
  assert.equal((await sign(admin, 'admin', 'db.secret.internal')).status, 403);
  assert.equal((await sign(admin, 'admin', 'fine.internal')).status, 201);
  writeFileSync(ca.configPath, original);
  await reloaded(reloads(), 'signal');
});

test('reloads under a steady /sign load: zero failed requests, connections kept', async (t) => {
  const { csrPem } = opensslCsr('load.internal', ['load.internal']);
  const agent = new https.Agent({ keepAlive: true, maxSockets: 3, ca: ca.rootPem });
  const post = (body: string) => new Promise<number>((res, rej) => {
    const req = https.request(`${ca.url}/1.0/sign`, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (r) => {
      r.resume();
      r.on('end', () => res(r.statusCode ?? 0));
    });
    req.on('error', rej);
    req.end(body);
  });
  let stop = false;
  const statuses: number[] = [];
  const errors: string[] = [];
  const sockets = new Set<unknown>();
  agent.on('free', (s) => sockets.add(s));
  const worker = async () => {
    while (!stop) {
      const ott = await mintToken(admin, { iss: 'admin', aud: `${ca.url}/1.0/sign`, sub: 'load.internal', sans: ['load.internal'] });
      try {
        statuses.push(await post(JSON.stringify({ csr: csrPem, ott })));
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
  };
  const workers = [worker(), worker(), worker()];
  try {
    for (let i = 0; i < 4; i++) {
      const before = statuses.length;
      const added = await cliAsync(['provisioner', 'add', `load-${i}`, '--password-file', opsPw, '--home', ca.home]);
      assert.equal(added.status, 0, added.stderr);
      await reloaded(reloads(), i % 2 ? 'cli' : 'signal');
      // Requests keep completing between reloads.
      const deadline = Date.now() + 30_000;
      while (statuses.length < before + 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    stop = true;
    await Promise.all(workers);
    agent.destroy();
  }
  t.diagnostic(`${statuses.length} requests over 4 reloads, ${sockets.size} connections`);
  assert.deepEqual(errors, []);
  assert.ok(statuses.length >= 20, `only ${statuses.length} requests`);
  assert.deepEqual(statuses.filter((s) => s !== 201), [], 'every request during the reloads was issued');
  assert.ok(sockets.size <= 3, `connections were dropped and reopened: ${sockets.size} sockets`);
  const list = JSON.parse(prov('list').stdout).map((p: any) => p.name);
  assert.deepEqual(list, ['admin', 'load-0', 'load-1', 'load-2', 'load-3']);
  const page = await request(ca, 'GET', '/provisioners');
  assert.deepEqual(page.json.provisioners.map((p: any) => p.name), list, 'the running CA serves the reloaded list');
});

test('a reload names settings that need a restart, but not empty values step writes back ("" = absent)', async () => {
  const original = readFileSync(ca.configPath);
  const lastReload = () => ca.logs.filter((l) => /"msg":"configuration reloaded"/.test(l)).at(-1)!;
  try {
    // What `step ca provisioner add` leaves in a ca.json it rewrites (step-cli.test.ts runs it).
    const cfg = JSON.parse(original.toString('utf8'));
    cfg.insecureAddress = '';
    cfg.db.badgerFileLoadingMode = '';
    writeFileSync(ca.configPath, JSON.stringify(cfg, null, 2));
    await reloaded(reloads(), 'signal');
    assert.match(lastReload(), /"restartNeeded":\[\]/);
    cfg.stepstone.logLevel = 'debug';
    writeFileSync(ca.configPath, JSON.stringify(cfg, null, 2));
    await reloaded(reloads(), 'signal');
    assert.match(lastReload(), /"restartNeeded":\["stepstone"\]/);
  } finally {
    writeFileSync(ca.configPath, original);
    await reloaded(reloads(), 'signal');
  }
});

test('the first ACME provisioner, added by a reload, is served at once; removed, it is gone', async () => {
  const original = readFileSync(ca.configPath);
  assert.equal((await request(ca, 'GET', '/acme/edge/directory')).status, 404);
  try {
    const cfg = JSON.parse(original.toString('utf8'));
    cfg.authority.provisioners.push({ type: 'ACME', name: 'edge', challenges: ['http-01'] });
    writeFileSync(ca.configPath, JSON.stringify(cfg, null, 2));
    await reloaded(reloads(), 'signal');
    for (const prefix of ['', '/1.0']) {
      const dir = await request(ca, 'GET', `${prefix}/acme/edge/directory`);
      assert.equal(dir.status, 200, dir.body);
      assert.equal(dir.json.newOrder, `${ca.url}${prefix}/acme/edge/new-order`);
      const nonce = await request(ca, 'HEAD', `${prefix}/acme/edge/new-nonce`);
      assert.equal(nonce.status, 200);
      assert.match(String(nonce.headers['replay-nonce']), /^[\w-]{16,}$/);
    }
  } finally {
    writeFileSync(ca.configPath, original);
    await reloaded(reloads(), 'signal');
  }
  const gone = await request(ca, 'GET', '/acme/edge/directory');
  assert.equal(gone.status, 404);
  assert.match(gone.headers['content-type'] as string, /application\/problem\+json/);
});
