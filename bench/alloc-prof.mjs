// Preloaded into the server for bench/wrk-probe.ts, to find what allocates per request (young
// garbage drives the scavenges and, through promotion, the mark-compacts behind the tail):
//   BENCH_SERVER_NODE_ARGS="--import ./bench/alloc-prof.mjs" DIAG_OUT=/tmp/alloc.txt node --import tsx bench/wrk-probe.ts --rounds 1
// wrk-probe sends SIGUSR2 before and after wrk: the first starts V8's sampling heap profiler
// counting objects that minor and major GCs collected too (what `--heap-prof` leaves out: it
// reports only what is still alive), the second writes bytes allocated by function (self, and
// with callees) to $DIAG_OUT as text.
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';

if (isMainThread && process.env.DIAG_OUT) {
  const session = new Session();
  session.connect();
  let sampling = false;
  process.on('SIGUSR2', async () => {
    if (!sampling) {
      sampling = true;
      await session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
      return;
    }
    sampling = false;
    const { profile } = await session.post('HeapProfiler.stopSampling');
    const self = new Map();
    const total = new Map();
    let all = 0;
    const name = (cf) => `${cf.functionName || '(anonymous)'} ${cf.url.replace(/^.*\/(node_modules|dist)\//, '$1/')}:${cf.lineNumber + 1}`;
    const walk = (node, onStack) => {
      const n = name(node.callFrame);
      self.set(n, (self.get(n) ?? 0) + node.selfSize);
      all += node.selfSize;
      let sub = node.selfSize;
      const seen = new Set(onStack).add(n);
      for (const c of node.children) sub += walk(c, seen);
      // Recursion counted once per frame name.
      if (!onStack.has(n)) total.set(n, (total.get(n) ?? 0) + sub);
      return sub;
    };
    walk(profile.head, new Set());
    const top = (m) => [...m].sort((a, b) => b[1] - a[1]).slice(0, 40).map(([k, v]) => `${(v / 1048576).toFixed(1).padStart(8)} MiB ${(100 * v / all).toFixed(1).padStart(5)} %  ${k}`).join('\n');
    writeFileSync(process.env.DIAG_OUT, `allocated while sampled: ${(all / 1048576).toFixed(1)} MiB\n\nself:\n${top(self)}\n\nwith callees:\n${top(total)}\n`);
  });
}
