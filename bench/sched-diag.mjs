// Preloaded into the server for bench/wrk-probe.ts, to see how the kernel schedules its threads:
//   BENCH_SERVER_NODE_ARGS="--import ./bench/sched-diag.mjs" DIAG_OUT=/tmp/sched.json node --import tsx bench/wrk-probe.ts
// On the probe's SIGUSR2 before wrk it snapshots /proc/self/task/*/schedstat and status; on the one
// after, it writes per request: the main thread's CPU and its run-queue wait (ready, not running),
// its involuntary context switches, the other threads' CPU and wait summed, and the server-side
// latency (request event to response finish) p50/p99. SCHED_DIAG_NICE=N first lowers every other
// thread's priority to nice N (the experiment in bench/README.md, issue 18's sixth round).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import https from 'node:https';
import { isMainThread } from 'node:worker_threads';

if (isMainThread && process.env.DIAG_OUT) {
  const snap = () => new Map(readdirSync('/proc/self/task').map((t) => {
    try {
      const [run, wait] = readFileSync(`/proc/self/task/${t}/schedstat`, 'utf8').trim().split(' ').map(Number);
      const invol = Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/self/task/${t}/status`, 'utf8'))[1]);
      return [Number(t), { run, wait, invol }];
    } catch {
      return [Number(t), { run: 0, wait: 0, invol: 0 }]; // the thread ended meanwhile
    }
  }));
  let before = null;
  let latencies = [];
  const emit = https.Server.prototype.emit;
  https.Server.prototype.emit = function (event, req, res) {
    if (event === 'request') {
      const t0 = performance.now();
      res.on('finish', () => latencies.push(performance.now() - t0));
    }
    return emit.apply(this, arguments);
  };
  process.on('SIGUSR2', () => {
    const now = snap();
    if (!before) {
      if (process.env.SCHED_DIAG_NICE) for (const tid of now.keys()) if (tid !== process.pid) try { setPriority(tid, Number(process.env.SCHED_DIAG_NICE)); } catch { /* gone */ }
      before = now;
      latencies = [];
      return;
    }
    const n = latencies.length;
    latencies.sort((a, b) => a - b);
    const per = (ns) => +(ns / 1e6 / n).toFixed(3);
    const delta = (tid, k) => now.get(tid)[k] - (before.get(tid)?.[k] ?? 0);
    let othersRun = 0;
    let othersWait = 0;
    for (const tid of now.keys()) if (tid !== process.pid) { othersRun += delta(tid, 'run'); othersWait += delta(tid, 'wait'); }
    writeFileSync(process.env.DIAG_OUT, JSON.stringify({
      requests: n,
      serverMs: { p50: +latencies[n >> 1].toFixed(2), p99: +latencies[Math.floor(n * 0.99)].toFixed(2) },
      mainMsPerRequest: { run: per(delta(process.pid, 'run')), wait: per(delta(process.pid, 'wait')) },
      mainInvoluntarySwitches: delta(process.pid, 'invol'),
      otherThreadsMsPerRequest: { run: per(othersRun), wait: per(othersWait) },
    }));
    before = null;
  });
}
