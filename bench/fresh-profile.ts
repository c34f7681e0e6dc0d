// `node --import tsx bench/fresh-profile.ts [--requests N] [--concurrency C] [--path renew|sign|health] [--top K] [--warmup N]`:
// where a fresh-connection request's server CPU goes. One `stepstone serve` under `node --cpu-prof`
// on a fresh CA, N requests each on a new TCP + TLS connection (renew: C hosts over mTLS), then the
// profile summed by self time: per function (top K) and per origin (Node's own lib, fastify, ours,
// other node_modules, native/GC/idle). Server CPU per request from /proc is printed beside it.
// BENCH_SERVE_ARGS adds flags to `serve` (e.g. "--workers 2"); the V8 profile is then the primary's,
// the per-process CPU line splits the tree.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { provisionerKey } from '../test/helpers/tokens.ts';
import { initLocalCa, startServer } from './ca.ts';
import { createClient, drive } from './driver.ts';
import { CLK_TCK, processTree, threadCpuMs, treeCpuMs } from './procstat.ts';
import { issueIdentities, makeCsrs, signBodies } from './requests.ts';

const { values: f } = parseArgs({ options: {
  requests: { type: 'string', default: '600' }, concurrency: { type: 'string', default: '8' },
  path: { type: 'string', default: 'renew' }, top: { type: 'string', default: '30' },
  // Unmeasured connections first: the measured window is V8's steady state, as a long-running CA's is.
  warmup: { type: 'string', default: '2000' },
  // health-mtls: POST /health (a 404) over a connection that presents a client certificate.
} });
const n = Number(f.requests);
const c = Number(f.concurrency);
const warmup = Math.max(Number(f.warmup), c);

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number; children?: number[] }
interface Profile { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

function perProcess(root: number): Map<number, number> {
  return new Map([...processTree(root)].map(([pid, st]) => [pid, (st.ticks * 1000) / CLK_TCK]));
}

function origin(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : '(native)';
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1]!;
  if (url.includes('/dist/') || url.includes('/src/')) return 'stepstone';
  return url;
}

const profDir = mkdtempSync(join(tmpdir(), 'stepstone-prof-'));
// With PERF_OUT, perf alone samples (V8's sampler would add its own signals); JS frames named by --perf-basic-prof.
// PROFILE=0: no profiler at all (CPU from /proc only), e.g. to compare --workers 1 and 2.
const profiling = process.env.PROFILE !== '0';
// Flags already in BENCH_SERVER_NODE_ARGS (e.g. V8's GC settings) are kept, the profiler's added.
process.env.BENCH_SERVER_NODE_ARGS = `${process.env.BENCH_SERVER_NODE_ARGS ?? ''} ${!profiling ? '' : process.env.PERF_OUT ? '--perf-basic-prof' : `--cpu-prof --cpu-prof-dir=${profDir}`}`;
const ca = initLocalCa();
try {
  const server = await startServer(ca);
  const target = { name: 'stepstone', url: server.url, rootPem: ca.rootPem };
  const issuer = { key: await provisionerKey(ca.configPath, ca.password), iss: 'admin' };
  let result;
  let cpu0: number;
  let perProc0 = new Map<number, number>();
  let threads0 = new Map<string, number>();
  let window: [number, number];
  // PERF_OUT=file: also `perf record -g` the server's process over the measured window (native
  // frames: OpenSSL's handshake, which the V8 profile cannot see).
  const perf = () => {
    if (!process.env.PERF_OUT) return () => Promise.resolve();
    const p = spawn('perf', ['record', '-F', '999', '-g', '-p', String(server.pid), '-o', process.env.PERF_OUT], { stdio: 'ignore' });
    return () => new Promise<void>((resolve) => { p.once('exit', () => resolve()); p.kill('SIGINT'); });
  };
  const now = () => Number(process.hrtime.bigint() / 1000n);
  if (f.path === 'renew' || f.path === 'health-mtls') {
    const path = f.path === 'renew' ? '/1.0/renew' : '/health';
    const ids = await issueIdentities(issuer, target, c);
    const clients = ids.map((id) => createClient(target, 1, id, { fresh: true }));
    await drive(clients, path, Array.from({ length: warmup }, () => Buffer.alloc(0)), c);
    cpu0 = treeCpuMs(server.pid);
    perProc0 = perProcess(server.pid);
    threads0 = threadCpuMs(server.pid);
    const t0 = now();
    const stopPerf = perf();
    result = await drive(clients, path, Array.from({ length: n }, () => Buffer.alloc(0)), c);
    window = [t0, now()];
    await stopPerf();
    clients.forEach((x) => x.close());
  } else {
    const csrs = await makeCsrs(n + warmup);
    const bodies = await signBodies(issuer, server.url, csrs);
    const client = createClient(target, c, undefined, { fresh: true });
    const path = f.path === 'sign' ? '/1.0/sign' : '/health';
    await drive(client, path, bodies.slice(0, warmup), c);
    cpu0 = treeCpuMs(server.pid);
    perProc0 = perProcess(server.pid);
    threads0 = threadCpuMs(server.pid);
    const t0 = now();
    const stopPerf = perf();
    result = await drive(client, path, bodies.slice(warmup), c);
    window = [t0, now()];
    await stopPerf();
    client.close();
  }
  const cpuMs = treeCpuMs(server.pid) - cpu0;
  // Per process of the tree (the primary and each worker with --workers), CPU ms per request of the phase.
  const perProc1 = perProcess(server.pid);
  const share = [...perProc1].map(([pid, ms]) => `${pid}: ${((ms - (perProc0.get(pid) ?? 0)) / n).toFixed(2)}`).join(', ');
  process.stdout.write(`per process, CPU ms/request: ${share}; ${(n / ((window[1] - window[0]) / 1e6)).toFixed(1)} req/s\n`);
  // The server process's threads (main, the ledger's writer, libuv's pool, V8's helpers) apart.
  const threads = [...threadCpuMs(server.pid)].map(([k, v]) => [k, (v - (threads0.get(k) ?? 0)) / n] as const).filter(([, v]) => v >= 0.005);
  process.stdout.write(`per thread, CPU ms/request: ${threads.sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}\n`);
  process.stdout.write(`${f.path}: ${JSON.stringify(result.statuses)}; server CPU ${(cpuMs / n).toFixed(2)} ms/request (whole tree, /proc)\n`);
  await server.stop();
  if (process.env.PERF_OUT) process.stdout.write(`perf data: ${process.env.PERF_OUT} (perf report -i ${process.env.PERF_OUT} --children --sort symbol)\n`);
  else if (profiling) summarise(window, profDir);
} finally {
  await ca.cleanup();
}

function summarise(window: [number, number], profDir: string): void {
  // One profile per thread (main, the ledger's writer, the CRL worker); V8 stamps samples with the
  // monotonic clock process.hrtime reads here too, so only the measured window is summed.
  // Sample deltas are wall time: on a loaded box a preempted thread's wait lands on its current frame.
  const files = readdirSync(profDir).filter((x) => x.endsWith('.cpuprofile')).sort();
  const file = files[0];
  if (!file) throw new Error('no profile written');
  const self = new Map<number, number>();
  let p!: Profile;
  for (const [i, name] of files.entries()) {
    const q = JSON.parse(readFileSync(join(profDir, name), 'utf8')) as Profile;
    let t = q.startTime;
    let busy = 0;
    const idle = new Set(q.nodes.filter((x) => x.callFrame.functionName === '(idle)').map((x) => x.id));
    q.samples.forEach((id, k) => {
      t += q.timeDeltas[k] ?? 0;
      if (t < window[0] || t > window[1]) return;
      if (i === 0) self.set(id, (self.get(id) ?? 0) + (q.timeDeltas[k] ?? 0));
      if (!idle.has(id)) busy += q.timeDeltas[k] ?? 0;
    });
    if (i === 0) p = q;
    process.stdout.write(`thread ${i} (${name}): busy ${(busy / 1000).toFixed(0)} ms in the window, ${(busy / 1000 / n).toFixed(3)} ms/req\n`);
  }
  process.stdout.write(`window ${((window[1] - window[0]) / 1000).toFixed(0)} ms\n`);
  const byId = new Map(p.nodes.map((x) => [x.id, x]));
  const byFn = new Map<string, number>();
  const byOrigin = new Map<string, number>();
  let total = 0;
  for (const [id, us] of self) {
    const fr = byId.get(id)!.callFrame;
    if (fr.functionName === '(idle)') continue;
    total += us;
    const key = `${fr.functionName || '(anonymous)'} ${fr.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/(dist|src)\//, '$1/')}:${fr.lineNumber + 1}`;
    byFn.set(key, (byFn.get(key) ?? 0) + us);
    const o = origin(fr.url, fr.functionName);
    byOrigin.set(o, (byOrigin.get(o) ?? 0) + us);
  }
  const per = (us: number) => `${(us / 1000).toFixed(0).padStart(6)} ms  ${(us / 1000 / n).toFixed(3)} ms/req`;
  process.stdout.write(`main thread, measured window: busy ${(total / 1000).toFixed(0)} ms\nby origin:\n`);
  for (const [k, v] of [...byOrigin].sort((a, b) => b[1] - a[1]).slice(0, 15)) process.stdout.write(`  ${per(v)}  ${k}\n`);
  process.stdout.write(`top ${f.top} functions by self time:\n`);
  for (const [k, v] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, Number(f.top))) process.stdout.write(`  ${per(v)}  ${k}\n`);
  process.stdout.write(`profile: ${join(profDir, file)}\n`);
}
