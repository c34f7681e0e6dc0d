// `npm run bench`: measures POST /1.0/sign on a fresh local Stepstone CA. A script, not a test:
// it reports numbers and asserts nothing about them.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { provisionerKey } from '../test/helpers/tokens.ts';
import { initLocalCa, startServer, type LocalCa } from './ca.ts';
import { prefillLedger } from './prefill.ts';
import { createClient, drive, type Target } from './driver.ts';
import { startRssSampler, treeCpuMs } from './procstat.ts';
import { machine, median, summarise, table, type BenchResults, type PhaseResult } from './report.ts';
import { makeCsrs, signBodies, type PreparedCsr, type TokenIssuer } from './requests.ts';

const COLD_STARTS = 3;
const USAGE = `usage: npm run bench -- [--requests N] [--concurrency C] [--sequential N] [--warmup N] [--prefill N] [--json]
  --requests N      requests in the throughput phase (default 2000)
  --concurrency C   requests in flight in the throughput phase (default 16)
  --sequential N    requests in the latency phase (default 500)
  --warmup N        unmeasured requests before each phase (default 20; the throughput
                    phase uses at least one per connection)
  --prefill N       bulk-insert N certificate rows into the ledger before serving (default 0)
  --json            print only the JSON results`;

function intFlag(name: string, v: string, min = 1): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  return n;
}

// Later flags (--compare URL --root F --provisioner-key F --password F --iss NAME) slot in here:
// they build a second Target and TokenIssuer and runPhase() alternates between the two.
function parseFlags() {
  const { values: f } = parseArgs({
    options: {
      requests: { type: 'string', default: '2000' },
      concurrency: { type: 'string', default: '16' },
      sequential: { type: 'string', default: '500' },
      warmup: { type: 'string', default: '20' },
      prefill: { type: 'string', default: '0' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (f.help) {
    console.log(USAGE);
    process.exit(0);
  }
  return {
    requests: intFlag('requests', f.requests),
    concurrency: intFlag('concurrency', f.concurrency),
    sequential: intFlag('sequential', f.sequential),
    warmup: intFlag('warmup', f.warmup, 0),
    prefill: intFlag('prefill', f.prefill, 0),
    json: f.json,
  };
}

let opts: ReturnType<typeof parseFlags>;
try {
  opts = parseFlags();
} catch (e) {
  process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
  process.exit(2);
}
// Progress goes to stderr so stdout carries only the report; --json silences it altogether.
const progress = (msg: string) => { if (!opts.json) process.stderr.write(`[bench] ${msg}\n`); };

interface PhaseSpec { phase: string; concurrency: number; warmup: PreparedCsr[]; measured: PreparedCsr[] }

/**
 * One measured phase against one target: warm the keep-alive connections, then drive the
 * measured bodies while reading server CPU and RSS from /proc when the server is ours.
 */
async function runPhase(target: Target, issuer: TokenIssuer, spec: PhaseSpec, serverPid: number | null): Promise<PhaseResult> {
  const path = '/1.0/sign';
  // Tokens are minted now, not at setup, so a long CSR setup cannot outlive their 5 minutes.
  const [warm, bodies] = await Promise.all([signBodies(issuer, target.url, spec.warmup), signBodies(issuer, target.url, spec.measured)]);
  const client = createClient(target, spec.concurrency);
  try {
    await drive(client, path, warm, spec.concurrency);
    const rss = serverPid === null ? null : startRssSampler(serverPid);
    const cpu0 = serverPid === null ? 0 : treeCpuMs(serverPid);
    const client0 = process.cpuUsage();
    const r = await drive(client, path, bodies, spec.concurrency);
    const clientUsage = process.cpuUsage(client0);
    const serverCpuMs = serverPid === null ? null : treeCpuMs(serverPid) - cpu0;
    const rssMiB = rss?.stop() ?? null;
    return summarise({ phase: spec.phase, target: target.name, path, concurrency: spec.concurrency }, r, {
      serverCpuMs, clientCpuMs: (clientUsage.user + clientUsage.system) / 1000,
      rss: rssMiB && { start: rssMiB.startMiB, max: rssMiB.maxMiB },
    });
  } finally {
    client.close();
  }
}

async function coldStarts(ca: LocalCa): Promise<number[]> {
  const runs: number[] = [];
  for (let i = 0; i < COLD_STARTS; i++) {
    const s = await startServer(ca);
    runs.push(s.coldStartMs);
    await s.stop();
  }
  return runs;
}

async function main(): Promise<void> {
  const mach = machine();
  let ca: LocalCa | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    process.stderr.write(`[bench] ${sig}: stopping the server and removing the temp dir\n`);
    void (ca?.cleanup() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    progress('stepstone init');
    ca = initLocalCa();
    if (opts.prefill > 0) {
      progress(`pre-filling the ledger with ${opts.prefill} rows`);
      const ms = await prefillLedger(join(ca.home, 'db', 'ledger.sqlite'), opts.prefill);
      progress(`pre-filled in ${(ms / 1000).toFixed(1)} s`);
    }

    // Every CSR is distinct and made up front: client-side crypto stays out of the timed sections.
    const throughputWarmup = Math.max(opts.warmup, opts.concurrency);
    const total = opts.warmup + opts.sequential + throughputWarmup + opts.requests;
    progress(`making ${total} P-256 CSRs`);
    const t0 = performance.now();
    const csrs = await makeCsrs(total);
    const csrMs = performance.now() - t0;
    let at = 0;
    const take = (n: number) => csrs.slice(at, (at += n));

    progress(`serve cold start x${COLD_STARTS}`);
    const coldRuns = await coldStarts(ca);

    const server = await startServer(ca);
    const target: Target = { name: 'stepstone', url: server.url, rootPem: ca.rootPem };
    const issuer: TokenIssuer = { key: await provisionerKey(ca.configPath, ca.password), iss: 'admin' };
    // The throughput phase warms one request per socket so 16 TLS handshakes stay out of its numbers.
    const specs: PhaseSpec[] = [
      { phase: 'latency', concurrency: 1, warmup: take(opts.warmup), measured: take(opts.sequential) },
      { phase: 'throughput', concurrency: opts.concurrency, warmup: take(throughputWarmup), measured: take(opts.requests) },
    ];
    const phases: PhaseResult[] = [];
    for (const spec of specs) {
      progress(`${spec.phase}: ${spec.measured.length} requests, concurrency ${spec.concurrency}`);
      phases.push(await runPhase(target, issuer, spec, server.pid));
    }

    const results: BenchResults = {
      machine: mach,
      config: { sequential: opts.sequential, requests: opts.requests, concurrency: opts.concurrency, warmup: opts.warmup },
      setup: { csrs: total, csrMs },
      coldStartMs: { runs: coldRuns, median: median(coldRuns) },
      phases,
    };
    const dir = join(import.meta.dirname, 'results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
    console.log(opts.json ? JSON.stringify(results, null, 2) : `${table(results)}\n\nJSON: bench/results/latest.json`);
  } finally {
    await ca?.cleanup();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`[bench] failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exitCode = 1;
});
