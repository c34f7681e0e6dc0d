// `stepstone serve --workers 2`: a real primary with two node:cluster workers on one port and one
// SQLite ledger. Every request below opens its own TLS connection (agent: false), so the
// primary's round-robin spreads them; which worker answered is read from the access log's
// "worker" field (never from a response).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync, type ChildProcess } from 'node:child_process';
import Database from 'better-sqlite3';
import { BIN, cli, request, serve, stopProc } from '../helpers/ca.ts';
import { mintToken, opensslCsr, provisionerKey, type ProvisionerKey } from '../helpers/tokens.ts';
import { markerId, pollUntil, waitForLog } from '../helpers/logs.ts';
import { x509 } from '../../src/pki/x509.ts';
import { resolveSignatures } from '../../src/pki/signature-work.ts';

let dir: string;
let home: string;
let passwordFile: string;
let configPath: string;
let proc: ChildProcess;
let logs: string[];
let ca: { url: string; rootPem: string };
let admin: ProvisionerKey;
/** Serials (decimal) of every certificate a /sign answered with 201. */
const issued: string[] = [];
/** Every worker pid seen, so the last check can prove none is left. */
const workerPids = new Set<number>();

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'stepstone-workers-'));
  home = join(dir, 'ca');
  passwordFile = join(dir, 'password.txt');
  writeFileSync(passwordFile, 'workers-test-pw\n', { mode: 0o600 });
  const init = cli(['init', '--name', 'Workers', '--dns', 'localhost,127.0.0.1', '--address', '127.0.0.1:0', '--provisioner', 'admin', '--password-file', passwordFile, '--home', home]);
  assert.equal(init.status, 0, init.stderr);
  configPath = join(home, 'config', 'ca.json');
  // The test sends more requests from one address than the per-IP default allows in a burst on a slow box.
  const cfg = JSON.parse(readFileSync(configPath, 'utf8'));
  cfg.stepstone = { ...cfg.stepstone, rateLimit: { enabled: false } };
  writeFileSync(configPath, JSON.stringify(cfg, null, 2));
  const started = await serve(home, passwordFile, ['--workers', '2'], 120_000);
  ({ proc, logs } = started);
  ca = { url: `https://127.0.0.1:${started.port}`, rootPem: readFileSync(join(home, 'certs', 'root_ca.crt'), 'utf8') };
  admin = await provisionerKey(configPath, 'workers-test-pw');
  const serving = logs.find((l) => l.includes('"msg":"Stepstone CA serving"'))!;
  for (const p of JSON.parse(serving).workerPids as number[]) workerPids.add(p);
});

after(async () => {
  await stopProc(proc, 'SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

/** Which worker (1 or 2) and pid answered the request sent with X-Request-Id `id`. */
async function answeredBy(id: string): Promise<{ worker: number; pid: number }> {
  const m = await waitForLog(logs, new RegExp(`"reqId":"${id}".*"statusCode"`), 30_000);
  const line = JSON.parse(m.input) as { worker: number; pid: number };
  return { worker: line.worker, pid: line.pid };
}

async function signBody(p: ProvisionerKey, iss: string, cn: string) {
  const { csrPem } = opensslCsr(cn, [cn]);
  return { csr: csrPem, ott: await mintToken(p, { iss, aud: `${ca.url}/1.0/sign`, sub: cn, sans: [cn] }) };
}

function serialOf(crtPem: string): string {
  return BigInt(`0x${new X509Certificate(crtPem).serialNumber}`).toString();
}

/** Fresh-connection /sign requests, `concurrency` at a time; each must be 201. Returns who answered each. */
async function signMany(p: ProvisionerKey, iss: string, n: number, concurrency: number, label: string) {
  const bodies = await Promise.all(Array.from({ length: n }, (_, i) => signBody(p, iss, `${label}-${i}.workers.internal`)));
  const answered: { worker: number; pid: number }[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < bodies.length) {
      const body = bodies[next++]!;
      const id = markerId(label);
      const r = await request(ca, 'POST', '/1.0/sign', body, { headers: { 'x-request-id': id } });
      assert.equal(r.status, 201, r.body);
      issued.push(serialOf(r.json.crt));
      answered.push(await answeredBy(id));
    }
  }));
  return answered;
}

test('fresh-connection /sign requests all succeed, and both workers answer them', async () => {
  const answered = await signMany(admin, 'admin', 40, 8, 'many');
  const workers = new Set(answered.map((a) => a.worker));
  assert.deepEqual([...workers].sort(), [1, 2], `answered by workers ${[...workers]}`);
  const pids = new Set(answered.map((a) => a.pid));
  assert.equal(pids.size, 2);
  for (const p of pids) assert.ok(workerPids.has(p), `pid ${p} is one of the announced workers`);
});

test("each worker places its signatures for its share of the cores ('auto' counts the workers)", () => {
  const lines = logs.filter((l) => l.includes('"msg":"worker serving"')).map((l) => JSON.parse(l) as { worker: number; signatures: string });
  assert.deepEqual(lines.map((l) => l.worker).sort(), [1, 2]);
  for (const l of lines) assert.equal(l.signatures, resolveSignatures('auto', 2), `worker ${l.worker}`);
});

test('one token sent to both workers at once is accepted exactly once', async () => {
  const body = await signBody(admin, 'admin', 'replayed.workers.internal');
  const ids = Array.from({ length: 12 }, () => markerId('replay'));
  const results = await Promise.all(ids.map((id) => request(ca, 'POST', '/1.0/sign', body, { headers: { 'x-request-id': id } })));
  const ok = results.filter((r) => r.status === 201);
  assert.equal(ok.length, 1, results.map((r) => `${r.status} ${r.body}`).join('\n'));
  issued.push(serialOf(ok[0]!.json.crt));
  for (const r of results.filter((x) => x.status !== 201)) {
    assert.equal(r.status, 401);
    assert.match(r.json.message, /token|authorization/i);
  }
  const by = new Set((await Promise.all(ids.map(answeredBy))).map((a) => a.worker));
  assert.deepEqual([...by].sort(), [1, 2], 'both workers saw the token');
});

test('SIGHUP through `stepstone reload` reaches every worker: a provisioner added with the CLI works on both', async () => {
  const opsPw = join(dir, 'ops-password.txt');
  writeFileSync(opsPw, 'ops-secret\n', { mode: 0o600 });
  const add = spawnSync(process.execPath, [BIN, 'provisioner', 'add', 'ops', '--type', 'JWK', '--create', '--password-file', opsPw, '--home', home], { encoding: 'utf8' });
  assert.equal(add.status, 0, add.stderr);
  const before = logs.length;
  const reload = spawnSync(process.execPath, [BIN, 'reload', '--home', home], { encoding: 'utf8' });
  assert.equal(reload.status, 0, reload.stderr);
  assert.match(reload.stderr, new RegExp(`sent SIGHUP to the CA \\(pid ${proc.pid}\\)`));
  const reloadedBy = await pollUntil('both workers reloaded', 30_000, () => {
    const ws = new Set(logs.slice(before).filter((l) => l.includes('"msg":"configuration reloaded"') && l.includes('"provisioners":2')).map((l) => JSON.parse(l).worker as number));
    return ws.size === 2 ? ws : null;
  });
  assert.deepEqual([...reloadedBy].sort(), [1, 2]);
  const ops = await provisionerKey(configPath, 'ops-secret', 'ops');
  const answered = await signMany(ops, 'ops', 12, 4, 'ops');
  assert.deepEqual([...new Set(answered.map((a) => a.worker))].sort(), [1, 2]);
});

test('a revocation on one worker reaches every worker: both CRLs list it', async () => {
  const serial = issued[0]!;
  const ott = await mintToken(admin, { aud: `${ca.url}/1.0/revoke`, sub: serial, sans: undefined });
  const r = await request(ca, 'POST', '/1.0/revoke', { serial, ott, reasonCode: 1, passive: true });
  assert.equal(r.status, 200, r.body);
  const listedBy = new Set<number>();
  await pollUntil('both workers serve a CRL listing the serial', 60_000, async () => {
    const id = markerId('crl');
    const crl = await request(ca, 'GET', '/1.0/crl?pem', undefined, { headers: { 'x-request-id': id } });
    assert.equal(crl.status, 200);
    const serials = new x509.X509Crl(crl.body).entries.map((e) => BigInt(`0x${e.serialNumber}`).toString());
    if (serials.includes(serial)) listedBy.add((await answeredBy(id)).worker);
    return listedBy.size === 2;
  });
});

test('a killed worker is restarted with a log line, and the CA keeps answering meanwhile', async () => {
  const victim = (await signMany(admin, 'admin', 6, 2, 'pre-kill')).find((a) => a.worker === 2)!.pid;
  const mark = logs.length;
  process.kill(victim, 'SIGKILL');
  // Requests sent while worker 2 is down or starting: worker 1 answers them.
  await signMany(admin, 'admin', 6, 2, 'during');
  await pollUntil('worker 2 exit logged', 30_000, () => logs.slice(mark).some((l) => l.includes('"msg":"worker 2 exited; starting a new one"')));
  const restarted = await pollUntil('worker 2 restarted', 120_000, () => logs.slice(mark).find((l) => l.includes('"msg":"worker 2 restarted"')));
  const newPid = JSON.parse(restarted).workerPid as number;
  assert.notEqual(newPid, victim);
  workerPids.add(newPid);
  const answered = await signMany(admin, 'admin', 16, 4, 'after');
  assert.ok(answered.some((a) => a.pid === newPid), 'the new worker answers');
});

test('a worker that cannot start: serve --workers exits 1 with the reason, leaves nothing running, and keeps the running CA\'s pid file', async () => {
  const bad = join(dir, 'wrong-password.txt');
  writeFileSync(bad, 'not-the-password\n', { mode: 0o600 });
  const r = spawnSync(process.execPath, [BIN, 'serve', '--home', home, '--password-file', bad, '--address', '127.0.0.1:0', '--workers', '2'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /serve --workers 2: cannot decrypt the private key/);
  assert.equal(readFileSync(join(home, 'stepstone.pid'), 'utf8').trim(), String(proc.pid));
  const left = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try { return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(bad); } catch { return false; }
  });
  assert.deepEqual(left, []);
});

test('the ledger holds every issued certificate exactly once; SIGTERM stops the primary and every worker', async () => {
  const code = await stopProc(proc, 'SIGTERM');
  assert.equal(code, 0);
  for (const pid of workerPids) {
    assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `worker pid ${pid} is gone`);
  }
  assert.ok(!logs.some((l) => /failed to start/.test(l)), 'no worker failed while stopping');
  const db = new Database(join(home, 'db', 'ledger.sqlite'), { readonly: true });
  try {
    const rows = db.prepare("SELECT serial FROM certificates WHERE method = 'sign'").all() as { serial: string }[];
    assert.equal(rows.length, issued.length);
    assert.deepEqual(rows.map((r) => r.serial).sort(), [...issued].sort());
    assert.equal(new Set(issued).size, issued.length);
  } finally {
    db.close();
  }
});
