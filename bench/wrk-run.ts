// One wrk run with a pre-made body per request (wrk-bodies.lua), and the server's CPU and RSS
// from /proc over the same time. Shared by wrk.ts and floor.ts.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { startRssSampler, treeCpuMs } from './procstat.ts';

export interface WrkResult { target: string; requests: number; non2xx: number; reqPerSec: number; exhausted: boolean; p50: string; p99: string; serverCpuMsPerReq: number; rssMaxMiB: number }

export interface WrkRun { target: string; url: string; bodiesFile: string; bodyCount: number; pid: number; threads: number; connections: number; duration: number }

export function wrkRun(o: WrkRun): WrkResult {
  const rss = startRssSampler(o.pid);
  const cpu0 = treeCpuMs(o.pid);
  const r = spawnSync('wrk', [`-t${o.threads}`, `-c${o.connections}`, `-d${o.duration}s`, '--latency', '-s', join(import.meta.dirname, 'wrk-bodies.lua'), o.url], {
    encoding: 'utf8', env: { ...process.env, WRK_BODIES: o.bodiesFile, WRK_THREADS: String(o.threads) },
  });
  const cpu = treeCpuMs(o.pid) - cpu0;
  const rssMax = rss.stop().maxMiB;
  if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr}`);
  const out = r.stdout;
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
  const requests = num(/(\d+) requests in/);
  const m = /requests in ([\d.]+)(ms|s|m)/.exec(out);
  const seconds = m ? Number(m[1]) * ({ ms: 0.001, s: 1, m: 60 } as Record<string, number>)[m[2]!]! : NaN;
  const non2xx = num(/Non-2xx or 3xx responses: (\d+)/) || 0;
  return {
    target: o.target, requests, non2xx,
    // Successful requests over the time wrk ran. A thread out of bodies stops, but wrk's clock runs
    // for the whole duration, so a run that used every body only gives a lower bound.
    reqPerSec: (requests - non2xx) / seconds,
    exhausted: requests >= o.bodyCount - o.connections,
    p50: /\s50%\s+(\S+)/.exec(out)?.[1] ?? '-', p99: /\s99%\s+(\S+)/.exec(out)?.[1] ?? '-',
    serverCpuMsPerReq: cpu / requests, rssMaxMiB: rssMax,
  };
}
