// Result shapes, the numbers derived from raw samples, and the text table.
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg, release } from 'node:os';
import { execFileSync } from 'node:child_process';
import type { DriveResult } from './driver.ts';

export interface PhaseResult {
  phase: string;
  target: string;
  path: string;
  concurrency: number;
  requests: number;
  ok: number;
  statuses: Record<string, number>;
  connections: number;
  firstError?: string;
  wallMs: number;
  /** Successful requests per second of wall time. */
  reqPerSec: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  /** p50 of each tenth of the phase, in completion order: a falling trend means the JIT was still warming. */
  p50ByTenthMs: number[];
  /** null when the server is not a local process we can read /proc for. */
  serverCpuMsPerReq: number | null;
  clientCpuMsPerReq: number;
  serverRssMiB: { start: number; max: number } | null;
}

export interface Machine {
  nproc: number; cpuModel: string; node: string; kernel: string; commit: string; date: string;
  /** 1-minute load average before the run: anything else busy on the box skews every number. */
  loadAvg1: number;
}

export interface BenchResults {
  machine: Machine;
  config: { sequential: number; requests: number; renews: number; concurrency: number; warmup: number; compare: string | null };
  setup: { csrs: number; csrMs: number };
  coldStartMs: { runs: number[]; median: number };
  phases: PhaseResult[];
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function median(xs: number[]): number {
  return percentile([...xs].sort((a, b) => a - b), 50);
}

export function summarise(
  base: { phase: string; target: string; path: string; concurrency: number },
  r: DriveResult,
  cost: { serverCpuMs: number | null; clientCpuMs: number; rss: { start: number; max: number } | null },
): PhaseResult {
  const sorted = [...r.latenciesMs].sort((a, b) => a - b);
  const requests = r.latenciesMs.length;
  const ok = Object.entries(r.statuses).filter(([s]) => s.startsWith('2')).reduce((n, [, c]) => n + c, 0);
  return {
    ...base, requests, ok, statuses: r.statuses, connections: r.connections, firstError: r.firstError,
    wallMs: r.wallMs,
    reqPerSec: ok / (r.wallMs / 1000),
    latencyMs: {
      p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99),
      max: sorted[sorted.length - 1] ?? NaN, mean: sorted.reduce((a, b) => a + b, 0) / (requests || 1),
    },
    p50ByTenthMs: Array.from({ length: 10 }, (_, i) => {
      const part = r.latenciesMs.slice(Math.floor((i * requests) / 10), Math.floor(((i + 1) * requests) / 10));
      return percentile(part.sort((a, b) => a - b), 50);
    }),
    serverCpuMsPerReq: cost.serverCpuMs === null ? null : cost.serverCpuMs / requests,
    clientCpuMsPerReq: cost.clientCpuMs / requests,
    serverRssMiB: cost.rss,
  };
}

export function machine(): Machine {
  const model = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['describe', '--always', '--dirty'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch { /* not a git checkout */ }
  // The server's node when BENCH_SERVER_NODE runs it on another release than the client's.
  const serverNode = process.env.BENCH_SERVER_NODE
    ? execFileSync(process.env.BENCH_SERVER_NODE, ['-p', 'process.version'], { encoding: 'utf8' }).trim()
    : process.version;
  const node = serverNode === process.version ? process.version : `${process.version} (server ${serverNode})`;
  return { nproc: availableParallelism(), cpuModel: model.trim(), node, kernel: release(), commit, date: new Date().toISOString(), loadAvg1: loadavg()[0]! };
}

const f1 = (x: number | null | undefined) => (x === null || x === undefined || Number.isNaN(x) ? '-' : x.toFixed(1));
const f2 = (x: number | null | undefined) => (x === null || x === undefined || Number.isNaN(x) ? '-' : x.toFixed(2));

export function table(res: BenchResults): string {
  const m = res.machine;
  const cols = res.phases.map((p) => `${p.phase} ${p.target} c=${p.concurrency}`);
  const rows: [string, (p: PhaseResult) => string][] = [
    ['endpoint', (p) => `POST ${p.path}`],
    ['ok / requests', (p) => `${p.ok}/${p.requests}`],
    ['TLS connections', (p) => String(p.connections)],
    ['req/s (ok)', (p) => f1(p.reqPerSec)],
    ['latency p50 ms', (p) => f1(p.latencyMs.p50)],
    ['latency p90 ms', (p) => f1(p.latencyMs.p90)],
    ['latency p99 ms', (p) => f1(p.latencyMs.p99)],
    ['latency max ms', (p) => f1(p.latencyMs.max)],
    ['server CPU ms/req', (p) => f2(p.serverCpuMsPerReq)],
    ['client CPU ms/req', (p) => f2(p.clientCpuMsPerReq)],
    ['server RSS MiB start/max', (p) => (p.serverRssMiB ? `${f1(p.serverRssMiB.start)}/${f1(p.serverRssMiB.max)}` : '-')],
    ['non-2xx by status', (p) => Object.entries(p.statuses).filter(([s]) => !s.startsWith('2')).map(([s, n]) => `${s}:${n}`).join(' ') || 'none'],
  ];
  const w0 = Math.max(...rows.map(([l]) => l.length));
  const widths = cols.map((c, i) => Math.max(c.length, ...rows.map(([, fn]) => fn(res.phases[i]!).length)));
  const line = (label: string, cells: string[]) => [label.padEnd(w0), ...cells.map((c, i) => c.padStart(widths[i]!))].join('   ');
  const out = [
    `Stepstone bench  ${m.date}  commit ${m.commit}`,
    `${m.cpuModel}, ${m.nproc} cores shared by client and server, node ${m.node}, Linux ${m.kernel}, load ${m.loadAvg1.toFixed(2)} at start`,
    '',
    line('', cols),
    ...rows.map(([label, fn]) => line(label, res.phases.map(fn))),
    '',
    `serve cold start (spawn to first 200 on /health): median ${f1(res.coldStartMs.median)} ms of ${res.coldStartMs.runs.map(f1).join(', ')}`,
    `setup (not timed above): ${res.setup.csrs} P-256 CSRs in ${(res.setup.csrMs / 1000).toFixed(1)} s`,
  ];
  out.push(...ratios(res.phases));
  for (const p of res.phases) if (p.firstError) out.push(`first failure in ${p.phase}: ${p.firstError}`);
  return out.join('\n');
}

/** The ratios a reader wants, each from phases of this one run. */
export function ratios(phases: PhaseResult[]): string[] {
  const find = (phase: string, target: string) => phases.find((p) => p.phase === phase && p.target === target);
  const x = (a: number | null | undefined, b: number | null | undefined) => (a && b ? `${(a / b).toFixed(2)}x` : '-');
  const out: string[] = [];
  for (const target of new Set(phases.map((p) => p.target))) {
    const sign = find('throughput', target);
    const renew = find('renew', target);
    if (sign && renew) out.push(`${target}: /renew vs /sign at c=${renew.concurrency}: req/s ${x(renew.reqPerSec, sign.reqPerSec)}, server CPU per request ${x(renew.serverCpuMsPerReq, sign.serverCpuMsPerReq)}`);
  }
  for (const phase of new Set(phases.map((p) => p.phase))) {
    const ours = find(phase, 'stepstone');
    const other = phases.find((p) => p.phase === phase && p.target !== 'stepstone')?.target;
    const theirs = other && find(phase, other);
    if (ours && theirs) out.push(`${phase}: stepstone vs ${other}: req/s ${x(ours.reqPerSec, theirs.reqPerSec)}, server CPU per request ${x(ours.serverCpuMsPerReq, theirs.serverCpuMsPerReq)}`);
  }
  return out;
}
