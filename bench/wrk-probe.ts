// `node --import tsx bench/wrk-probe.ts [--duration S] [--connections C] [--bodies N] [--rounds R] [--step-ca] [--prefill ROWS]`
// One Stepstone (and with --step-ca one step-ca) under wrk keep-alive /1.0/sign, with the server's
// CPU split per thread (/proc/PID/task) and, when BENCH_SERVER_NODE_ARGS preloads a diagnostics
// module, its own report. For finding where the time goes, not for the results table.
import { existsSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { provisionerKey } from '../test/helpers/tokens.ts';
import { freePort, initLocalCa, startServer } from './ca.ts';
import { startStepCa, stepCaBinary } from './step-ca.ts';
import { wrkRun } from './wrk-run.ts';
import { makeCsrs, signBodies } from './requests.ts';
import { prefillLedger } from './prefill.ts';
import { threadCpuMs } from './procstat.ts';

const { values: f } = parseArgs({ options: {
  duration: { type: 'string', default: '10' }, connections: { type: 'string', default: '16' },
  bodies: { type: 'string', default: '20000' }, 'step-ca': { type: 'boolean', default: false },
  rounds: { type: 'string', default: '1' },
  prefill: { type: 'string', default: '0' },
  // Turn metrics on and print the ledger's group commits (batch size, queue-to-durable time).
  metrics: { type: 'boolean', default: false },
} });

async function post(url: string, body: Buffer): Promise<void> {
  const https = await import('node:https');
  await new Promise<void>((resolve) => {
    const r = https.request(url, { method: 'POST', rejectUnauthorized: false, agent: false, headers: { 'content-type': 'application/json' } }, (res) => { res.resume(); res.on('end', () => resolve()); });
    r.on('error', () => resolve()); r.end(body);
  });
}

/** The group-commit histograms since the server started: count, mean batch, time buckets. */
async function commitStats(port: number): Promise<object> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const val = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  const buckets = [...text.matchAll(/^stepstone_ledger_commit_duration_seconds_bucket\{le="([^"]+)"\} (\d+)$/gm)].map((m) => [m[1], Number(m[2])]);
  const n = val('stepstone_ledger_commit_duration_seconds_count');
  return {
    commits: n, meanMs: +(1000 * val('stepstone_ledger_commit_duration_seconds_sum') / n).toFixed(2),
    meanBatch: +(val('stepstone_ledger_commit_batch_size_sum') / val('stepstone_ledger_commit_batch_size_count')).toFixed(1),
    cumulativeByLe: Object.fromEntries(buckets),
  };
}

const dir = mkdtempSync(join(tmpdir(), 'stepstone-probe-'));
const n = Number(f.bodies);
const csrs = await makeCsrs(n * Number(f.rounds) + 300);
for (const which of ['stepstone', ...(f['step-ca'] ? ['step-ca'] : [])]) {
  const ca = initLocalCa();
  try {
    // Stepstone's ledger only: step-ca keeps its own database.
    if (Number(f.prefill) > 0 && which === 'stepstone') await prefillLedger(join(ca.home, 'db', 'ledger.sqlite'), Number(f.prefill));
    const metricsPort = f.metrics && which === 'stepstone' ? await freePort() : 0;
    if (metricsPort) {
      const config = JSON.parse(readFileSync(ca.configPath, 'utf8'));
      writeFileSync(ca.configPath, JSON.stringify({ ...config, metricsAddress: `127.0.0.1:${metricsPort}` }, null, 2));
    }
    const server = which === 'stepstone' ? await startServer(ca) : await startStepCa(ca, stepCaBinary(() => {}));
    const issuer = { key: await provisionerKey(ca.configPath, ca.password), iss: 'admin' };
    for (const b of await signBodies(issuer, server.url, csrs.slice(0, 300))) await post(`${server.url}/1.0/sign`, b);
    for (let r = 0; r < Number(f.rounds); r++) {
      const bodies = await signBodies(issuer, server.url, csrs.slice(300 + r * n, 300 + (r + 1) * n));
      const file = join(dir, 'bodies.txt');
      writeFileSync(file, `${bodies.map((b) => b.toString()).join('\n')}\n`);
      const t0 = threadCpuMs(server.pid);
      if (process.env.DIAG_OUT) process.kill(server.pid, 'SIGUSR2'); // reset the server's own counters
      await new Promise((res) => setTimeout(res, 300));
      const res = wrkRun({ target: which, url: `${server.url}/1.0/sign`, bodiesFile: file, bodyCount: n, pid: server.pid, threads: 2, connections: Number(f.connections), duration: Number(f.duration) });
      const t1 = threadCpuMs(server.pid);
      const split = [...t1].map(([k, v]) => [k, (v - (t0.get(k) ?? 0)) / res.requests] as const).filter(([, v]) => v > 0.005).sort((a, b) => b[1] - a[1]);
      let diag = '';
      if (process.env.DIAG_OUT && which === 'stepstone') {
        rmSync(process.env.DIAG_OUT, { force: true });
        process.kill(server.pid, 'SIGUSR2');
        // The preload writes when it is done, which for a heap profile can take seconds.
        for (let i = 0; i < 300 && !existsSync(process.env.DIAG_OUT); i++) await new Promise((res) => setTimeout(res, 100));
        diag = readFileSync(process.env.DIAG_OUT, 'utf8');
      }
      console.log(JSON.stringify({ which, round: r, load: readFileSync('/proc/loadavg', 'utf8').split(' ')[0], reqPerSec: Math.round(res.reqPerSec), exhausted: res.exhausted, p50: res.p50, p99: res.p99, cpuMsPerReq: +res.serverCpuMsPerReq.toFixed(3), rssMaxMiB: Math.round(res.rssMaxMiB), non2xx: res.non2xx, threadsMsPerReq: Object.fromEntries(split.map(([k, v]) => [k, +v.toFixed(3)])) }));
      // Out of bodies before the clock ran out: the rate is only a lower bound (raise --bodies).
      if (res.exhausted) console.error(`[wrk-probe] ${which} used all ${n} bodies: ${Math.round(res.reqPerSec)} req/s is a lower bound; raise --bodies`);
      if (diag) console.log(diag);
      if (metricsPort) console.log(JSON.stringify({ commits: await commitStats(metricsPort) }));
    }
  } finally {
    await ca.cleanup();
  }
}
rmSync(dir, { recursive: true, force: true });
