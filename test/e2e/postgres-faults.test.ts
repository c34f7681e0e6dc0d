// PostgreSQL going away, on a private throwaway cluster (initdb into a temp dir, its own port, run
// as the postgres OS user; the shared server on 5432 is never touched): unreachable at start is
// one clear line and a non-zero exit; a restart under load gives 503s in step-ca's shape and
// /health 503, then service comes back by itself, and every certificate a client received is
// in the ledger; a connection ended in the middle of a transaction is a 503, never the CA's end.
// A bad dataSource is a config error naming the field.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { cli, request, serve, stopProc } from '../helpers/ca.ts';
import { mintToken, opensslCsr, provisionerKey, type ProvisionerKey } from '../helpers/tokens.ts';
import { inCi, requireCapability } from '../helpers/capability.ts';

const PG_BIN = '/usr/lib/postgresql/15/bin';
let skip: string | null = null;
let dir = '';
let data = '';
let port = 0;
let home = '';
let passwordFile = '';
let rootPem = '';
let admin: ProvisionerKey;
const children: ChildProcess[] = [];
const SECRET = 'Pg-S3cret-Walrus';

/** A new database on this file's own PostgreSQL cluster (the one started in before()). */
async function createDatabase(name: string): Promise<void> {
  const client = new pg.Client({ connectionString: `postgresql://postgres@127.0.0.1:${port}/postgres` });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer().once('error', rej).listen(0, '127.0.0.1', () => {
      const { port: p } = s.address() as { port: number };
      s.close(() => res(p));
    });
  });
}

const asPostgres = (cmd: string, args: string[]) => execFileSync('runuser', ['-u', 'postgres', '--', join(PG_BIN, cmd), ...args], { stdio: 'pipe', encoding: 'utf8' });
const pgCtl = (action: 'start' | 'stop') => asPostgres('pg_ctl', action === 'start'
  ? ['-D', data, '-l', join(data, 'log'), '-w', '-o', `-p ${port} -k ${data} -c listen_addresses=127.0.0.1`, 'start']
  : ['-D', data, '-m', 'fast', '-w', 'stop']);

before(async () => {
  if (!existsSync(join(PG_BIN, 'initdb'))) {
    skip = `PostgreSQL 15's binaries are not in ${PG_BIN}`;
    if (inCi()) throw new Error(`CI: ${skip}`);
    return; // each test then fails under CI or skips, through requireCapability
  }
  dir = mkdtempSync(join(tmpdir(), 'stepstone-pgfault-'));
  data = join(dir, 'pgdata');
  execFileSync('mkdir', ['-m', '0700', data]);
  const { uid, gid } = { uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' })), gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' })) };
  chownSync(data, uid, gid);
  execFileSync('chmod', ['0755', dir]);
  asPostgres('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  port = await freePort();
  pgCtl('start');

  home = join(dir, 'ca');
  passwordFile = join(dir, 'password.txt');
  writeFileSync(passwordFile, `pw-${Math.random().toString(36).slice(2)}\n`, { mode: 0o600 });
  const init = cli(['init', '--name', 'Faults', '--dns', 'localhost,127.0.0.1', '--address', '127.0.0.1:0', '--provisioner', 'admin', '--password-file', passwordFile, '--home', home]);
  assert.equal(init.status, 0, init.stderr);
  rootPem = readFileSync(join(home, 'certs', 'root_ca.crt'), 'utf8');
  admin = await provisionerKey(join(home, 'config', 'ca.json'), readFileSync(passwordFile, 'utf8').trim());
});

after(async () => {
  for (const p of children) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  if (data && existsSync(join(data, 'postmaster.pid'))) {
    try { pgCtl('stop'); } catch { /* already down */ }
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function setDb(db: Record<string, unknown>): void {
  const file = join(home, 'config', 'ca.json');
  const cfg = JSON.parse(readFileSync(file, 'utf8'));
  cfg.db = db;
  writeFileSync(file, JSON.stringify(cfg, null, 2));
}

test('unreachable at start: one line naming host and database, never the password, and a non-zero exit; a bad dataSource names the field', async (t) => {
  if (!requireCapability(t, !skip, skip)) return;
  const dead = await freePort();
  setDb({ type: 'postgresql', dataSource: `postgresql://stepstone:${SECRET}@127.0.0.1:${dead}/ledger` });
  const r = cli(['serve', '--home', home, '--password-file', passwordFile, '--address', '127.0.0.1:0']);
  assert.notEqual(r.status, 0);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, new RegExp(`^error: cannot reach the ledger, database "ledger" on 127\\.0\\.0\\.1:${dead} as user "stepstone": .*ECONNREFUSED`));
  assert.ok(!(r.stdout + r.stderr).includes(SECRET));

  setDb({ type: 'postgresql', dataSource: `https://stepstone:${SECRET}@db.internal/ledger` });
  const bad = cli(['serve', '--home', home, '--password-file', passwordFile, '--address', '127.0.0.1:0']);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /^error: config .*ca\.json: db\.dataSource: a PostgreSQL ledger needs a postgresql:\/\/ URL/);
  assert.ok(!bad.stderr.includes(SECRET));
});

test('PostgreSQL restarted under load: 503s and /health 503, then recovery by itself; every certificate received is in the ledger', async (t) => {
  if (!requireCapability(t, !skip, skip)) return;
  await createDatabase('ledger');
  const url = `postgresql://postgres@127.0.0.1:${port}/ledger`;
  setDb({ type: 'postgresql', dataSource: url });
  const { proc, port: caPort } = await serve(home, passwordFile, [], 90_000);
  children.push(proc);
  const ca = { url: `https://127.0.0.1:${caPort}`, rootPem };
  const csrs = Array.from({ length: 4 }, (_, w) => opensslCsr(`pg-${w}.faults.test`, [`pg-${w}.faults.test`]).csrPem);
  const received: string[] = [];
  const statuses: (number | string)[] = [];
  let running = true;
  const worker = async (w: number) => {
    while (running) {
      const ott = await mintToken(admin, { aud: 'https://127.0.0.1/1.0/sign', sub: `pg-${w}.faults.test`, sans: [`pg-${w}.faults.test`] });
      const r = await request(ca, 'POST', '/1.0/sign', { csr: csrs[w], ott }).catch((e: Error) => e.message);
      if (typeof r === 'string') { statuses.push(r); continue; }
      statuses.push(r.status);
      if (r.status === 201) received.push(r.json.crt);
      else if (r.status === 503) assert.equal(r.json.status, 503, r.body);
      if (r.status !== 201) await new Promise((res) => setTimeout(res, 50));
    }
  };
  const load = Promise.all([0, 1, 2, 3].map(worker));
  try {
    await until('issuing before the restart', 30_000, () => received.length >= 5);
    pgCtl('stop');
    const down = await request(ca, 'GET', '/health');
    assert.equal(down.status, 503, down.body);
    assert.equal(down.json.status, 503);
    await until('a 503 during the outage', 10_000, () => statuses.includes(503));
    pgCtl('start');
    const back = Date.now();
    const before = received.length;
    await until('issuing again after the restart', 10_000, () => received.length > before + 3);
    assert.ok(Date.now() - back < 10_000);
    assert.equal((await request(ca, 'GET', '/health')).status, 200);
  } finally {
    running = false;
    await load;
  }
  assert.deepEqual(statuses.filter((s) => s !== 201 && s !== 503), [], 'only 201 and 503');
  const serials = received.map((c) => BigInt(`0x${new X509Certificate(c).serialNumber}`).toString());
  const check = new pg.Client({ connectionString: url });
  await check.connect();
  try {
    const { rows } = await check.query('SELECT count(*)::int AS n FROM certificates WHERE serial = ANY($1)', [serials]);
    assert.equal(rows[0].n, serials.length, 'a certificate a client received is missing from the ledger');
  } finally {
    await check.end();
    await stopProc(proc);
  }
});

test('a connection PostgreSQL ends between two statements of a transaction: that request gets 503, the CA keeps serving', async (t) => {
  if (!requireCapability(t, !skip, skip)) return;
  await createDatabase('ledger_cut');
  const relay = await pgRelay(port);
  setDb({ type: 'postgresql', dataSource: `postgresql://postgres@127.0.0.1:${relay.port}/ledger_cut` });
  const { proc, port: caPort, logs } = await serve(home, passwordFile, [], 90_000);
  children.push(proc);
  const ca = { url: `https://127.0.0.1:${caPort}`, rootPem };
  const csr = opensslCsr('cut.faults.test', ['cut.faults.test']).csrPem;
  const sign = async () => request(ca, 'POST', '/1.0/sign', { csr, ott: await mintToken(admin, { aud: 'https://127.0.0.1/1.0/sign', sub: 'cut.faults.test', sans: ['cut.faults.test'] }) })
    .catch((e: Error) => assert.fail(`the CA went away (exit ${proc.exitCode}): ${e.message}\n${logs.slice(-30).join('\n')}`));
  try {
    assert.equal((await sign()).status, 201);
    relay.arm();
    const cut = await sign();
    assert.equal(relay.cuts, 1, 'the issuance ran no transaction to cut');
    assert.equal(cut.status, 503, cut.body);
    assert.equal(cut.json.status, 503);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(proc.exitCode, null, `the CA exited:\n${logs.slice(-30).join('\n')}`);
    assert.equal((await sign()).status, 201, 'the pool did not replace the lost connection');
  } finally {
    await stopProc(proc);
    await relay.close();
  }
});

/**
 * A TCP relay to PostgreSQL that can end a connection as a restart does (FATAL 57P01, then
 * close), at the moment a restart can only hit by chance: once armed, the next time the server
 * says "idle in a transaction" (ReadyForQuery 'T': the CA holds a pooled connection between two
 * statements), that message goes on with the FATAL in the same packet and the connection ends.
 */
async function pgRelay(pgPort: number): Promise<{ port: number; readonly cuts: number; arm(): void; close(): Promise<void> }> {
  let armed = false;
  let cuts = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((down) => {
    const up = connect(pgPort, '127.0.0.1');
    for (const s of [down, up]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => { down.destroy(); up.destroy(); });
    }
    down.pipe(up);
    // Server messages are framed as type (1 byte) + length (4, itself included) + body.
    let pending = Buffer.alloc(0);
    up.on('data', (d: Buffer) => {
      pending = Buffer.concat([pending, d]);
      let at = 0;
      while (pending.length - at >= 5 && pending.length - at >= 1 + pending.readInt32BE(at + 1)) {
        const end = at + 1 + pending.readInt32BE(at + 1);
        if (armed && pending[at] === 0x5a && pending[at + 5] === 0x54) {
          armed = false;
          cuts++;
          down.end(Buffer.concat([pending.subarray(0, end), FATAL_57P01]));
          up.destroy();
          return;
        }
        at = end;
      }
      down.write(pending.subarray(0, at));
      pending = pending.subarray(at);
    });
    up.on('end', () => down.end());
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  return {
    port: (server.address() as { port: number }).port,
    get cuts() { return cuts; },
    arm() { armed = true; },
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((res) => server.close(() => res()));
    },
  };
}

/** ErrorResponse as PostgreSQL sends it to each session when it shuts down (pg_ctl stop -m fast). */
const FATAL_57P01 = (() => {
  const fields = Buffer.concat([
    ...[['S', 'FATAL'], ['V', 'FATAL'], ['C', '57P01'], ['M', 'terminating connection due to administrator command']].map(([k, v]) => Buffer.from(`${k}${v}\0`)),
    Buffer.from([0]),
  ]);
  const head = Buffer.alloc(5);
  head.write('E');
  head.writeInt32BE(4 + fields.length, 1);
  return Buffer.concat([head, fields]);
})();

async function until(what: string, ms: number, ok: () => boolean): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) assert.fail(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
