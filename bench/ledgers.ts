// `npm run bench -- --ledger postgresql`: /sign and /renew at concurrency C on the SQLite ledger
// (one replica) and on PostgreSQL (one replica, then two behind a client that splits its
// connections between them), in one run. Server CPU is summed over every replica's process tree;
// PostgreSQL's own CPU (the postmaster and all its backends, from /proc) is reported apart.
// Needs the PostgreSQL of the tests (STEPSTONE_TEST_PG, default postgres@127.0.0.1:5432), and
// /proc access to its postmaster (run as root, or as the postgres user).
import { readFileSync, writeFileSync } from 'node:fs';
import pg from 'pg';
import { provisionerKey } from '../test/helpers/tokens.ts';
import { createDatabase, PG_ADMIN_URL, type TestDatabase } from '../test/helpers/postgres.ts';
import { initLocalCa, startServer, type LocalCa, type RunningServer } from './ca.ts';
import { createClient, drive, type Client, type DriveResult } from './driver.ts';
import { treeCpuMs } from './procstat.ts';
import { percentile } from './report.ts';
import { issueIdentities, makeCsrs, signBodies, type PreparedCsr, type TokenIssuer } from './requests.ts';

interface Setup { label: string; ledger: 'sqlite' | 'postgresql'; replicas: number }
const SETUPS: Setup[] = [
  { label: 'SQLite, 1 replica', ledger: 'sqlite', replicas: 1 },
  { label: 'PostgreSQL, 1 replica', ledger: 'postgresql', replicas: 1 },
  { label: 'PostgreSQL, 2 replicas', ledger: 'postgresql', replicas: 2 },
];

export interface LedgerRow {
  setup: string; path: string; requests: number; ok: number; statuses: Record<string, number>;
  reqPerSec: number; serverCpuMsPerReq: number; postgresCpuMsPerReq: number | null; p50: number; p99: number;
}

export interface LedgerBenchOptions { requests: number; renews: number; concurrency: number; warmup: number; progress: (msg: string) => void }

async function postmasterPid(): Promise<number> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL });
  await c.connect();
  try {
    const dir = (await c.query<{ data_directory: string }>('SHOW data_directory')).rows[0]!.data_directory;
    return Number(readFileSync(`${dir}/postmaster.pid`, 'utf8').split('\n')[0]);
  } finally {
    await c.end();
  }
}

/** Each replica gets its share of the bodies and of the connections; the results are merged. */
async function driveSplit(clients: (Client | Client[])[], path: string, bodies: Buffer[], concurrency: number): Promise<DriveResult> {
  const n = clients.length;
  const parts = await Promise.all(clients.map((c, i) => drive(c, path, bodies.filter((_, j) => j % n === i), Math.ceil(concurrency / n))));
  const statuses: Record<string, number> = {};
  for (const p of parts) for (const [s, k] of Object.entries(p.statuses)) statuses[s] = (statuses[s] ?? 0) + k;
  return {
    latenciesMs: parts.flatMap((p) => p.latenciesMs), statuses, wallMs: Math.max(...parts.map((p) => p.wallMs)),
    connections: parts.reduce((a, p) => a + p.connections, 0), firstError: parts.find((p) => p.firstError)?.firstError,
  };
}

async function measure(setup: Setup, path: string, servers: RunningServer[], pgPid: number | null, run: () => Promise<DriveResult>): Promise<LedgerRow> {
  const cpu = () => servers.reduce((a, s) => a + treeCpuMs(s.pid), 0);
  const [c0, p0] = [cpu(), pgPid ? treeCpuMs(pgPid) : 0];
  const r = await run();
  const [c1, p1] = [cpu(), pgPid ? treeCpuMs(pgPid) : 0];
  const sorted = [...r.latenciesMs].sort((a, b) => a - b);
  const ok = Object.entries(r.statuses).filter(([s]) => s.startsWith('2')).reduce((a, [, k]) => a + k, 0);
  return {
    setup: setup.label, path, requests: sorted.length, ok, statuses: r.statuses, reqPerSec: ok / (r.wallMs / 1000),
    serverCpuMsPerReq: (c1 - c0) / sorted.length, postgresCpuMsPerReq: pgPid ? (p1 - p0) / sorted.length : null,
    p50: percentile(sorted, 50), p99: percentile(sorted, 99),
  };
}

async function runSetup(setup: Setup, o: LedgerBenchOptions, csrs: PreparedCsr[]): Promise<LedgerRow[]> {
  let ca: LocalCa | undefined;
  let db: TestDatabase | undefined;
  try {
    ca = initLocalCa();
    if (setup.ledger === 'postgresql') {
      db = await createDatabase();
      const cfg = JSON.parse(readFileSync(ca.configPath, 'utf8'));
      cfg.db = { type: 'postgresql', dataSource: db.url };
      writeFileSync(ca.configPath, JSON.stringify(cfg, null, 2));
    }
    const servers: RunningServer[] = [];
    for (let i = 0; i < setup.replicas; i++) servers.push(await startServer(ca));
    const pgPid = setup.ledger === 'postgresql' ? await postmasterPid() : null;
    const issuer: TokenIssuer = { key: await provisionerKey(ca.configPath, ca.password), iss: 'admin' };
    const targets = servers.map((s) => ({ name: setup.label, url: s.url, rootPem: ca!.rootPem }));
    const rows: LedgerRow[] = [];

    o.progress(`${setup.label}: /sign, ${o.requests} requests at c=${o.concurrency}`);
    const warm = csrs.slice(0, o.warmup);
    const measured = csrs.slice(o.warmup, o.warmup + o.requests);
    const signClients = targets.map((t) => createClient(t, Math.ceil(o.concurrency / targets.length)));
    try {
      const bodiesFor = (list: PreparedCsr[]) => signBodies(issuer, targets[0]!.url, list);
      await driveSplit(signClients, '/1.0/sign', await bodiesFor(warm), o.concurrency);
      const bodies = await bodiesFor(measured);
      rows.push(await measure(setup, '/sign', servers, pgPid, () => driveSplit(signClients, '/1.0/sign', bodies, o.concurrency)));
    } finally {
      signClients.forEach((c) => c.close());
    }

    if (o.renews > 0) {
      o.progress(`${setup.label}: /renew, ${o.renews} requests at c=${o.concurrency}`);
      const perReplica = Math.ceil(o.concurrency / targets.length);
      const hosts = await Promise.all(targets.map(async (t) => (await issueIdentities(issuer, t, perReplica)).map((id) => createClient(t, 1, id))));
      try {
        const empty = (n: number) => Array.from({ length: n }, () => Buffer.alloc(0));
        await driveSplit(hosts, '/1.0/renew', empty(o.concurrency), o.concurrency);
        rows.push(await measure(setup, '/renew', servers, pgPid, () => driveSplit(hosts, '/1.0/renew', empty(o.renews), o.concurrency)));
      } finally {
        hosts.flat().forEach((c) => c.close());
      }
    }
    return rows;
  } finally {
    await ca?.cleanup();
    await db?.drop();
  }
}

export async function ledgerBench(o: LedgerBenchOptions): Promise<LedgerRow[]> {
  o.progress(`making ${o.warmup + o.requests} P-256 CSRs`);
  const csrs = await makeCsrs(o.warmup + o.requests);
  const rows: LedgerRow[] = [];
  // Each setup its own CA and database; the same CSRs, with fresh tokens, for each.
  for (const s of SETUPS) rows.push(...(await runSetup(s, o, csrs)));
  return rows;
}

export function ledgerTable(rows: LedgerRow[]): string {
  const head = ['setup', 'path', 'req/s', 'server CPU ms/req (all replicas)', 'PostgreSQL CPU ms/req', 'p50 ms', 'p99 ms', 'non-2xx'];
  const body = rows.map((r) => [r.setup, r.path, r.reqPerSec.toFixed(0), r.serverCpuMsPerReq.toFixed(2), r.postgresCpuMsPerReq === null ? '-' : r.postgresCpuMsPerReq.toFixed(2),
    r.p50.toFixed(1), r.p99.toFixed(1), String(r.requests - r.ok)]);
  const sign = (label: string) => rows.find((r) => r.setup === label && r.path === '/sign');
  const [lite, one] = [sign(SETUPS[0]!.label), sign(SETUPS[1]!.label)];
  const ratio = lite && one ? `\nPostgreSQL ×1 /sign throughput: ${((one.reqPerSec / lite.reqPerSec) * 100).toFixed(0)} % of SQLite's` : '';
  return `| ${head.join(' | ')} |\n|${head.map(() => '---').join('|')}|\n${body.map((b) => `| ${b.join(' | ')} |`).join('\n')}${ratio}`;
}
