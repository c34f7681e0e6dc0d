// Three `stepstone serve` replicas on loopback sharing one CA home and one PostgreSQL database
// (its own, randomly named, dropped at the end), behaving as one CA: a token buys one certificate
// cluster-wide, a revocation on one is seen by all within 2 s, CRL numbers increase across them,
// a real HAProxy balances them (TLS passthrough, so mTLS renewal works through it), and when one
// is SIGKILLed under load the others carry on.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import pg from 'pg';
import { cli, REPO, request, serve, type HttpResult } from '../helpers/ca.ts';
import { mintToken, opensslCsr, provisionerKey, type ProvisionerKey } from '../helpers/tokens.ts';
import { createDatabase, postgresMissing, type TestDatabase } from '../helpers/postgres.ts';
import { requireCapability } from '../helpers/capability.ts';

interface Replica { name: string; url: string; proc: ChildProcess; logs: string[] }

let skip: string | null = null;
let dir = '';
let home = '';
let passwordFile = '';
let rootPem = '';
let rootFile = '';
let db: TestDatabase | null = null;
let admin: ProvisionerKey;
let sql: pg.Client | null = null;
const replicas: Replica[] = [];
const children: ChildProcess[] = [];

const AUD = 'https://127.0.0.1/1.0';
// A webhook every replica is configured with: the lease on its cursor lets one deliver at a time.
const hooked: { id: string; type: string }[] = [];
const receiver = http.createServer((req, res) => {
  let body = '';
  req.on('data', (d) => (body += d));
  req.on('end', () => {
    const e = JSON.parse(body);
    hooked.push({ id: e.id, type: e.type });
    res.writeHead(204).end();
  });
});

before(async () => {
  skip = await postgresMissing();
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'stepstone-replicas-'));
  home = join(dir, 'ca');
  passwordFile = join(dir, 'password.txt');
  writeFileSync(passwordFile, `pw-${Math.random().toString(36).slice(2)}\n`, { mode: 0o600 });
  const init = cli(['init', '--name', 'Replicas', '--dns', 'localhost,127.0.0.1', '--address', '127.0.0.1:0', '--provisioner', 'admin', '--password-file', passwordFile, '--home', home]);
  assert.equal(init.status, 0, init.stderr);
  db = await createDatabase();
  const configPath = join(home, 'config', 'ca.json');
  const cfg = JSON.parse(readFileSync(configPath, 'utf8'));
  cfg.db = { type: 'postgresql', dataSource: db.url };
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  writeFileSync(join(home, 'secrets', 'hook.secret'), 'replicas\n', { mode: 0o600 });
  cfg.stepstone = { ...cfg.stepstone, webhooks: [{ name: 'revocations', url: `http://127.0.0.1:${(receiver.address() as { port: number }).port}/`, events: ['revoked'], secretFile: 'secrets/hook.secret' }] };
  writeFileSync(configPath, JSON.stringify(cfg, null, 2));
  rootFile = join(home, 'certs', 'root_ca.crt');
  rootPem = readFileSync(rootFile, 'utf8');
  admin = await provisionerKey(configPath, readFileSync(passwordFile, 'utf8').trim());
  // All three start at once: they migrate the empty database together, once (advisory lock).
  const started = await Promise.all(['A', 'B', 'C'].map((name) => startReplica(name)));
  replicas.push(...started);
  sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
});

after(async () => {
  await Promise.all(children.map((p) => stop(p)));
  await sql?.end().catch(() => undefined);
  await new Promise((r) => receiver.close(r));
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A loaded 2-core box may take a while to start three servers at once. */
async function startReplica(name: string): Promise<Replica> {
  const s = await serve(home, passwordFile, ['--replica', name], 90_000);
  children.push(s.proc);
  return { name, url: `https://127.0.0.1:${s.port}`, proc: s.proc, logs: s.logs };
}

function stop(p: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((res) => {
    const kill = setTimeout(() => p.kill('SIGKILL'), 10_000);
    p.once('exit', () => { clearTimeout(kill); res(); });
    p.kill(signal);
  });
}

const serialOf = (pem: string) => BigInt(`0x${new X509Certificate(pem).serialNumber}`).toString();
const at = (url: string) => ({ url, rootPem });
const csr = opensslCsr('race.replicas.test', ['race.replicas.test']);
const signToken = (sub = 'race.replicas.test') => mintToken(admin, { aud: `${AUD}/sign`, sub, sans: [sub] });
const sign = async (url: string, ott: string, body = csr.csrPem): Promise<HttpResult> => request(at(url), 'POST', '/1.0/sign', { csr: body, ott });

async function issue(url: string, cn: string): Promise<{ serial: string; crt: string; key: string }> {
  const { csrPem, keyPem } = opensslCsr(cn, [cn]);
  const r = await sign(url, await signToken(cn), csrPem);
  assert.equal(r.status, 201, r.body);
  return { serial: serialOf(r.json.crt), crt: r.json.crt, key: keyPem };
}

/** Serials listed by a replica's CRL, and its number, through openssl. */
async function crlOf(url: string): Promise<{ number: number; serials: string[] }> {
  const r = await request(at(url), 'GET', '/crl?pem');
  assert.equal(r.status, 200, r.body);
  const text = spawnSync('openssl', ['crl', '-noout', '-text'], { input: r.body, encoding: 'utf8' }).stdout;
  const number = Number(/CRL Number:\s*\n\s*(\d+)/.exec(text)![1]);
  const serials = [...text.matchAll(/Serial Number: ([0-9A-F]+)/g)].map((m) => BigInt(`0x${m[1]}`).toString());
  return { number, serials };
}

async function until<T>(what: string, ms: number, fn: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) assert.fail(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('one token sent to all three replicas at once buys exactly one certificate (50 rounds)', async (t) => {
  if (!requireCapability(t, !skip, skip)) return;
  for (let round = 0; round < 50; round++) {
    const ott = await signToken();
    const results = await Promise.all(replicas.map((r) => sign(r.url, ott)));
    const statuses = results.map((r) => r.status).sort();
    assert.deepEqual(statuses, [201, 401, 401], `round ${round}: ${results.map((r) => r.body).join(' | ')}`);
  }
  const { rows } = await sql!.query("SELECT count(*)::int AS n FROM certificates WHERE subject = 'race.replicas.test'");
  assert.equal(rows[0].n, 50);
});

test('revoked on A: B refuses its renewal, C answers OCSP revoked and lists it in /crl within 2 s; CRL numbers rise across replicas', async (t) => {
  if (!requireCapability(t, !skip, skip)) return;
  const [A, B, C] = replicas as [Replica, Replica, Replica];
  const leaf = await issue(A.url, 'revoked.replicas.test');
  assert.equal((await request(at(B.url), 'POST', '/1.0/renew', undefined, { cert: leaf.crt, key: leaf.key })).status, 201, 'renewable before');
  const before = await Promise.all(replicas.map((r) => crlOf(r.url)));

  const revoke = await request(at(A.url), 'POST', '/1.0/revoke', { serial: leaf.serial, reasonCode: 1, ott: await mintToken(admin, { aud: `${AUD}/revoke`, sub: leaf.serial }) });
  assert.equal(revoke.status, 200, revoke.body);
  const revokedAt = Date.now();
  const renew = await request(at(B.url), 'POST', '/1.0/renew', undefined, { cert: leaf.crt, key: leaf.key });
  assert.equal(renew.status, 401, renew.body);

  const crt = join(dir, 'leaf.crt');
  const inter = join(home, 'certs', 'intermediate_ca.crt');
  writeFileSync(crt, leaf.crt);
  const ocsp = spawnSync('openssl', ['ocsp', '-issuer', inter, '-cert', crt, '-url', `${C.url}/ocsp`, '-CAfile', rootFile], { encoding: 'utf8' });
  assert.match(ocsp.stdout, new RegExp(`${crt}: revoked`), ocsp.stdout + ocsp.stderr);

  const after1 = await until('C lists the revocation', 2000, async () => {
    const c = await crlOf(C.url);
    return c.serials.includes(leaf.serial) ? c : undefined;
  });
  assert.ok(Date.now() - revokedAt <= 2000);
  // Every replica regenerated; each took its own number, all above every earlier one.
  const now1 = await until('A and B list it too', 2000, async () => {
    const all = await Promise.all(replicas.map((r) => crlOf(r.url)));
    return all.every((c) => c.serials.includes(leaf.serial)) ? all : undefined;
  });
  assert.equal(now1[2]!.number >= after1.number, true);
  const numbers1 = now1.map((c) => c.number);
  assert.equal(new Set(numbers1).size, 3, `distinct: ${numbers1}`);
  assert.ok(Math.min(...numbers1) > Math.max(...before.map((c) => c.number)), `${numbers1} after ${before.map((c) => c.number)}`);

  // Again from B: every new number is above every number of the round before.
  const second = await issue(C.url, 'revoked2.replicas.test');
  const r2 = await request(at(B.url), 'POST', '/1.0/revoke', { serial: second.serial, reasonCode: 4, ott: await mintToken(admin, { aud: `${AUD}/revoke`, sub: second.serial }) });
  assert.equal(r2.status, 200, r2.body);
  const now2 = await until('all list the second revocation', 2000, async () => {
    const all = await Promise.all(replicas.map((r) => crlOf(r.url)));
    return all.every((c) => c.serials.includes(second.serial)) ? all : undefined;
  });
  assert.ok(Math.min(...now2.map((c) => c.number)) > Math.max(...numbers1), `${now2.map((c) => c.number)} after ${numbers1}`);
});

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer().once('error', rej).listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}

/** config/haproxy/haproxy.cfg as shipped, pointed at these replicas. */
async function startHaproxy(): Promise<string> {
  const port = await freePort();
  const shipped = readFileSync(join(REPO, 'config', 'haproxy', 'haproxy.cfg'), 'utf8');
  const servers = replicas.map((r, i) => `    server replica${i + 1} ${new URL(r.url).host}`).join('\n');
  const cfg = shipped
    .replace('bind :9000', `bind 127.0.0.1:${port}`)
    .replace('ca-file /etc/haproxy/stepstone-root.crt', `ca-file ${rootFile}`)
    .replace('check-sni ca.internal', 'check-sni localhost')
    .replace(/( {4}server replica\d .*\n?)+/, `${servers}\n`);
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(file, cfg);
  const check = spawnSync('haproxy', ['-c', '-f', file], { encoding: 'utf8' });
  assert.equal(check.status, 0, check.stdout + check.stderr);
  const proc = spawn('haproxy', ['-db', '-f', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(proc);
  const url = `https://127.0.0.1:${port}`;
  await until('HAProxy answers', 10_000, async () => {
    const r = await request(at(url), 'GET', '/health').catch(() => null);
    return r?.status === 200 ? true : undefined;
  });
  return url;
}

test('through a real HAProxy (TCP, TLS passthrough): sign and mTLS renew; SIGKILL one replica under load and the others keep issuing', async (t) => {
  if (!requireCapability(t, !skip, skip)) return;
  const lb = await startHaproxy();
  const leaf = await issue(lb, 'lb.replicas.test');
  const renewed = await request(at(lb), 'POST', '/1.0/renew', undefined, { cert: leaf.crt, key: leaf.key });
  assert.equal(renewed.status, 201, renewed.body);

  // Load: 8 clients signing through HAProxy for ~4 s; A is SIGKILLed after 1 s.
  const received: string[] = [];
  const outcomes: { at: number; status: number | string }[] = [];
  // One CSR per client, made before the clock starts (openssl runs synchronously); a new token each time.
  const csrs = Array.from({ length: 8 }, (_, w) => opensslCsr(`load-${w}.replicas.test`, [`load-${w}.replicas.test`]).csrPem);
  const start = Date.now();
  const killAt = start + 1000;
  const stopAt = start + 4000;
  const worker = async (w: number) => {
    while (Date.now() < stopAt) {
      const r = await sign(lb, await signToken(`load-${w}.replicas.test`), csrs[w]).catch((e: Error) => e.message);
      const status = typeof r === 'string' ? r : r.status;
      outcomes.push({ at: Date.now(), status });
      if (typeof r !== 'string' && r.status === 201) received.push(r.json.crt);
    }
  };
  const killer = (async () => {
    await new Promise((r) => setTimeout(r, killAt - Date.now()));
    replicas[0]!.proc.kill('SIGKILL');
  })();
  await Promise.all([killer, ...Array.from({ length: 8 }, (_, w) => worker(w))]);
  const afterKill = outcomes.filter((o) => o.at > killAt + 1500);
  assert.ok(afterKill.length >= 5, `only ${afterKill.length} requests after the kill`);
  assert.deepEqual(afterKill.filter((o) => o.status !== 201), [], 'B and C answer every request once A is out');
  // Whatever a client received is in the ledger.
  const serials = received.map(serialOf);
  const { rows } = await sql!.query('SELECT count(*)::int AS n FROM certificates WHERE serial = ANY($1)', [serials]);
  assert.equal(rows[0].n, serials.length);
});

test('the replicas wrote one audit trail: every certificate on the record, the chain whole (ledger verify)', async (t) => {
  if (!requireCapability(t, !skip, skip)) return;
  // After the SIGKILL above: a transaction cut off mid-commit left no half-written chain.
  const { rows: missing } = await sql!.query(`SELECT count(*)::int AS n FROM certificates c
    WHERE NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.serial = c.serial AND e.type IN ('issued', 'renewed', 'rekeyed'))`);
  assert.equal(missing[0].n, 0, 'a certificate without its audit record');
  const { rows: by } = await sql!.query('SELECT replica, count(*)::int AS n FROM audit_events GROUP BY replica ORDER BY replica');
  assert.deepEqual(by.map((r) => r.replica), ['A', 'B', 'C']);
  // The racing replays: each replica's first at once, the rest aggregated when its minute ends.
  const { rows: refused } = await sql!.query("SELECT count(DISTINCT replica)::int AS n FROM audit_events WHERE type = 'refused' AND reason = 'token_used'");
  assert.ok(refused[0].n >= 2, 'the racing replays are on the record');
  // Every revocation delivered to the webhook once, though three replicas could each have sent it.
  const { rows: revoked } = await sql!.query("SELECT id FROM audit_events WHERE type = 'revoked' ORDER BY seq");
  assert.ok(revoked.length >= 1);
  await until('the revocations to reach the webhook', 15_000, async () => (revoked.every((r) => hooked.some((h) => h.id === r.id)) ? true : undefined));
  assert.deepEqual(hooked.map((h) => h.id), revoked.map((r) => r.id));
  // `ledger events` reads the same trail from PostgreSQL.
  const ev = cli(['ledger', 'events', '--home', home, '--json', '--type', 'revoked']);
  assert.equal(ev.status, 0, ev.stderr);
  assert.deepEqual(ev.stdout.trim().split('\n').map((l) => JSON.parse(l).id), revoked.map((r) => r.id));
  const v = cli(['ledger', 'verify', '--home', home]);
  assert.equal(v.status, 0, v.stdout + v.stderr);
  const m = /audit trail: (\d+) events, chain head (\d+):[0-9a-f]{64}\n/.exec(v.stdout);
  assert.ok(m, v.stdout);
  assert.equal(m[1], m[2]);
});
