// Preloaded into the server for bench/wrk-probe.ts:
//   BENCH_SERVER_NODE_ARGS="--import ./bench/server-diag.mjs" DIAG_OUT=/tmp/diag.json node --import tsx bench/wrk-probe.ts
// Event-loop delay histogram, GC pauses by kind, process.memoryUsage() every 100 ms and
// /proc/self/smaps summed by kind; written as JSON to $DIAG_OUT on SIGUSR2, then reset.
import { monitorEventLoopDelay, PerformanceObserver, constants } from 'node:perf_hooks';
import { writeFileSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';
import * as fsmod from 'node:fs';
const require_fs = () => fsmod;
if (isMainThread && process.env.DIAG_OUT) {
  const h = monitorEventLoopDelay({ resolution: 2 }); h.enable();
  let gcs = [];
  const kinds = { [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major', [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor', [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental', [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb' };
  new PerformanceObserver((l) => { for (const e of l.getEntries()) gcs.push([kinds[e.detail?.kind ?? e.kind] ?? 'other', e.duration, e.startTime]); }).observe({ entryTypes: ['gc'] });
  let mem = [];
  const t = setInterval(() => { const m = process.memoryUsage(); mem.push([m.rss, m.heapTotal, m.heapUsed, m.external, m.arrayBuffers]); }, 100); t.unref();
  process.on('SIGUSR2', () => {
    const byKind = {};
    for (const [k, d] of gcs) { const o = (byKind[k] ??= { n: 0, total: 0, max: 0, over5: 0, over10: 0 }); o.n++; o.total += d; o.max = Math.max(o.max, d); if (d > 5) o.over5++; if (d > 10) o.over10++; }
    const MiB = (x) => +(x / 1048576).toFixed(1);
    const maxBy = (i) => mem.reduce((a, r) => Math.max(a, r[i]), 0);
    writeFileSync(process.env.DIAG_OUT, JSON.stringify({
      eld: { p50: h.percentile(50) / 1e6, p90: h.percentile(90) / 1e6, p99: h.percentile(99) / 1e6, max: h.max / 1e6, mean: h.mean / 1e6 },
      gc: byKind, gcOver5ms: gcs.filter((g) => g[1] > 5).map((g) => +g[1].toFixed(1)).slice(0, 50),
      mem: { rssMax: MiB(maxBy(0)), heapTotalMax: MiB(maxBy(1)), heapUsedMax: MiB(maxBy(2)), externalMax: MiB(maxBy(3)), arrayBuffersMax: MiB(maxBy(4)), last: mem.at(-1)?.map(MiB) },
      smaps: smapsSummary(),
    }));
    h.reset(); gcs = []; mem = [];
  });
}

function smapsSummary() {
  const out = {};
  const txt = require_fs().readFileSync('/proc/self/smaps', 'utf8');
  for (const m of txt.split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/)) {
    const head = m.split('\n')[0];
    const [range, , , , , path = ''] = head.split(/\s+/);
    const [a, b] = range.split('-').map((x) => BigInt('0x' + x));
    const rss = Number(/\nRss:\s+(\d+)/.exec(m)?.[1] ?? 0) / 1024;
    let k;
    if (path.endsWith('/node')) k = 'node binary';
    else if (path.startsWith('/')) k = 'other files';
    else if (path === '[heap]') k = 'brk heap';
    else if (path.startsWith('[')) k = path;
    else if (a % (1n << 26n) === 0n && b - a <= (1n << 26n)) k = 'malloc arenas';
    else k = 'other anon (V8 heaps, stacks)';
    out[k] = +((out[k] ?? 0) + rss).toFixed(1);
  }
  return out;
}
