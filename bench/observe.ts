// `npm run bench -- --observe`: what watching the CA costs. Two CAs of the same make, one with
// metrics (metricsAddress, scraped every 2 s during the run, far more often than Prometheus
// would) and the audit trail on, one with metrics off and stepstone.audit.enabled false. The
// /sign throughput phase runs on each in turn, `rounds` times, so both see the same minutes of
// machine noise; the report is the median of each and their ratio. With `--ledger postgresql`
// both CAs keep their ledgers in PostgreSQL (a database each, on the tests' server).
import http from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { provisionerKey } from '../test/helpers/tokens.ts';
import { freePort, initLocalCa, startServer, type LocalCa, type RunningServer } from './ca.ts';
import { createClient, drive } from './driver.ts';
import { treeCpuMs } from './procstat.ts';
import { median, summarise, type PhaseResult } from './report.ts';
import { makeCsrs, signBodies, type PreparedCsr, type TokenIssuer } from './requests.ts';
import { createDatabase, type TestDatabase } from '../test/helpers/postgres.ts';

export interface ObserveOptions { requests: number; concurrency: number; warmup: number; rounds: number; postgres: boolean; progress: (msg: string) => void }

interface Side { label: 'on' | 'off'; ca: LocalCa; server: RunningServer; issuer: TokenIssuer; metricsPort: number | null; db: TestDatabase | null }

export interface ObserveRow { side: 'on' | 'off'; runs: PhaseResult[]; reqPerSec: number; serverCpuMsPerReq: number; p50: number; p99: number; scrapes: number }

function configure(ca: LocalCa, on: boolean, metricsPort: number, db: TestDatabase | null): void {
  const c = JSON.parse(readFileSync(ca.configPath, 'utf8'));
  if (on) c.metricsAddress = `127.0.0.1:${metricsPort}`;
  if (db) c.db = { type: 'postgresql', dataSource: db.url };
  c.stepstone = { ...c.stepstone, audit: { enabled: on } };
  writeFileSync(ca.configPath, JSON.stringify(c, null, 2));
}

function scrape(port: number): Promise<number> {
  return new Promise((resolve) => {
    http.get({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    }).on('error', () => resolve(0));
  });
}

async function phase(side: Side, warmup: PreparedCsr[], measured: PreparedCsr[], concurrency: number): Promise<PhaseResult> {
  const target = { name: `observe-${side.label}`, url: side.server.url, rootPem: side.ca.rootPem };
  const [warm, bodies] = await Promise.all([signBodies(side.issuer, target.url, warmup), signBodies(side.issuer, target.url, measured)]);
  const client = createClient(target, concurrency);
  try {
    await drive(client, '/1.0/sign', warm, concurrency);
    const cpu0 = treeCpuMs(side.server.pid);
    const client0 = process.cpuUsage();
    const r = await drive(client, '/1.0/sign', bodies, concurrency);
    const c = process.cpuUsage(client0);
    return summarise({ phase: 'throughput', target: target.name, path: '/1.0/sign', concurrency }, r, {
      serverCpuMs: treeCpuMs(side.server.pid) - cpu0, clientCpuMs: (c.user + c.system) / 1000, rss: null,
    });
  } finally {
    client.close();
  }
}

export async function observeBench(o: ObserveOptions): Promise<{ rows: ObserveRow[]; ratio: number }> {
  const sides: Side[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  const scrapes = { count: 0, failed: 0 };
  let timer: NodeJS.Timeout | undefined;
  try {
    for (const label of ['on', 'off'] as const) {
      const ca = initLocalCa();
      const db = o.postgres ? await createDatabase() : null;
      cleanups.push(async () => {
        await ca.cleanup();
        await db?.drop();
      });
      const metricsPort = label === 'on' ? await freePort() : null;
      configure(ca, label === 'on', metricsPort ?? 0, db);
      const server = await startServer(ca);
      sides.push({ label, ca, server, issuer: { key: await provisionerKey(ca.configPath, ca.password), iss: 'admin' }, metricsPort, db });
      o.progress(`metrics and audit ${label} (${db ? 'PostgreSQL' : 'SQLite'}): ${server.url}${metricsPort ? `, metrics on :${metricsPort}` : ''}`);
    }
    const per = o.warmup + o.requests;
    o.progress(`making ${per * o.rounds * 2} P-256 CSRs`);
    const csrs = await makeCsrs(per * o.rounds * 2);
    let at = 0;
    const take = (n: number) => csrs.slice(at, (at += n));
    const on = sides[0]!;
    timer = setInterval(() => {
      void scrape(on.metricsPort!).then((s) => { scrapes.count++; if (s !== 200) scrapes.failed++; });
    }, 2000);
    const runs = new Map<string, PhaseResult[]>([['on', []], ['off', []]]);
    for (let round = 1; round <= o.rounds; round++) {
      // Alternate which goes first, so neither always runs on a machine the other just warmed.
      for (const side of round % 2 ? sides : [...sides].reverse()) {
        o.progress(`round ${round}/${o.rounds}: /sign x${o.requests} at c=${o.concurrency}, metrics and audit ${side.label}`);
        runs.get(side.label)!.push(await phase(side, take(o.warmup), take(o.requests), o.concurrency));
      }
    }
    clearInterval(timer);
    if (scrapes.failed) throw new Error(`${scrapes.failed} of ${scrapes.count} scrapes failed`);
    const rows = sides.map((s): ObserveRow => {
      const r = runs.get(s.label)!;
      return {
        side: s.label, runs: r, reqPerSec: median(r.map((x) => x.reqPerSec)), serverCpuMsPerReq: median(r.map((x) => x.serverCpuMsPerReq ?? NaN)),
        p50: median(r.map((x) => x.latencyMs.p50)), p99: median(r.map((x) => x.latencyMs.p99)), scrapes: s.label === 'on' ? scrapes.count : 0,
      };
    });
    return { rows, ratio: rows[0]!.reqPerSec / rows[1]!.reqPerSec };
  } finally {
    if (timer) clearInterval(timer);
    for (const c of cleanups) await c();
  }
}

export function observeTable(rows: ObserveRow[], ratio: number): string {
  const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '-');
  const lines = [
    '| metrics + audit | req/s (median) | server CPU ms/req | p50 ms | p99 ms | runs (req/s) | non-2xx |',
    '|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.side}${r.side === 'on' ? ` (${r.scrapes} scrapes)` : ''} | ${f(r.reqPerSec, 0)} | ${f(r.serverCpuMsPerReq, 2)} | ${f(r.p50, 2)} | ${f(r.p99, 1)} | ${r.runs.map((x) => f(x.reqPerSec, 0)).join(', ')} | ${r.runs.reduce((n, x) => n + x.requests - x.ok, 0)} |`),
  ];
  return `${lines.join('\n')}\n\non / off throughput: ${(ratio * 100).toFixed(1)} % (target >= 90 %)`;
}
