// `npm run bench`: measures POST /1.0/sign on a fresh local Stepstone CA. A script, not a test:
// it reports numbers and asserts nothing about them.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { provisionerKey } from '../test/helpers/tokens.ts';
import { spawnSync } from 'node:child_process';
import { freePort, initLocalCa, serverRuntime, spawnServer, startServer, type LocalCa } from './ca.ts';
import { prefillLedger } from './prefill.ts';
import { createClient, drive, type Client, type Target } from './driver.ts';
import { provisionerKeyFromFile, type CompareSpec } from './compare.ts';
import { startStepCa, stepCaBinary } from './step-ca.ts';
import { startRssSampler, treeCpuMs } from './procstat.ts';
import { machine, median, summarise, table, type BenchResults, type PhaseResult } from './report.ts';
import { issueIdentities, makeCsrs, signBodies, type PreparedCsr, type TokenIssuer } from './requests.ts';

const COLD_STARTS = 3;
const USAGE = `usage: npm run bench -- [--crl N] [--requests N] [--renews N] [--concurrency C] [--sequential N] [--warmup N] [--prefill N] [--ledger postgresql] [--json]
                   [--step-ca | --compare URL --root F --provisioner-key F [--password F] [--iss NAME] [--compare-pid PID]]
  --requests N      requests in the /sign throughput phase (default 2000)
  --renews N        requests in the /renew phase: C hosts renew over mTLS keep-alive (default 1000, 0 skips)
  --step-ca         also drive step-ca 0.19 on the same PKI, alternating phase by phase
                    (built from Debian's packages, see bench/step-ca.ts; or STEP_CA=binary)
  --compare URL     also drive another step-ca-compatible CA, alternating phase by phase
  --root F          that CA's root certificate (PEM)
  --provisioner-key F  its JWK provisioner's private key: the encryptedKey JWE of ca.json, or a JWK
  --password F      file with the password of an encrypted provisioner key
  --iss NAME        that provisioner's name (default admin)
  --compare-pid PID read that CA's server CPU and RSS from /proc too (when it runs on this machine)
  --concurrency C   requests in flight in the throughput phase (default 16)
  --sequential N    requests in the latency phase (default 500)
  --warmup N        unmeasured requests before each phase (default 20, 2000 with
                    --fresh-connections; the throughput phase uses at least one per connection)
  --prefill N       bulk-insert N certificate rows into the ledger before serving (default 0)
  --ledger postgresql  instead of the phases above: /sign and /renew at C on SQLite (1 replica) and
                    PostgreSQL (1 and 2 replicas), server CPU summed over replicas, PostgreSQL's CPU
                    apart (needs the tests' PostgreSQL: STEPSTONE_TEST_PG or postgres@127.0.0.1:5432)
  --observe         instead of the phases above: /sign throughput with metrics + audit on vs off,
                    alternating --rounds times (default 3), and their ratio (with --ledger
                    postgresql: both on PostgreSQL)
  --fresh-connections  every request on a new TLS connection, full handshake (no keep-alive, no
                    session resumption): /sign and /renew (a new mTLS connection per host), also
                    against a bare fastify-over-node:https floor answering /sign with a canned 201
  --crl N           instead of the phases above: a ledger of N revoked certificates; the CRL snapshot,
                    buildCrl, ca crl's checks in process, GET /crl and the whole ca crl command
  --console         instead of the phases above: web console page times on a ledger of --prefill N
                    rows (default 1000 here), --rounds R loads of each page (default 3)
  --acme            instead of the phases above: full ACME order flows per second (newOrder, http-01
                    against a local responder, finalize, download; one account per client) at C,
                    beside /1.0/sign on the same CA; --requests is the number of flows
  --json            print only the JSON results`;

function intFlag(name: string, v: string, min = 1): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  return n;
}

function parseFlags() {
  const { values: f } = parseArgs({
    options: {
      requests: { type: 'string', default: '2000' },
      concurrency: { type: 'string', default: '16' },
      sequential: { type: 'string', default: '500' },
      warmup: { type: 'string' },
      prefill: { type: 'string', default: '0' },
      ledger: { type: 'string' },
      observe: { type: 'boolean', default: false },
      crl: { type: 'string' },
      'fresh-connections': { type: 'boolean', default: false },
      console: { type: 'boolean', default: false },
      acme: { type: 'boolean', default: false },
      rounds: { type: 'string', default: '3' },
      renews: { type: 'string', default: '1000' },
      'step-ca': { type: 'boolean', default: false },
      compare: { type: 'string' },
      root: { type: 'string' },
      'provisioner-key': { type: 'string' },
      password: { type: 'string' },
      iss: { type: 'string', default: 'admin' },
      'compare-pid': { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (f['step-ca'] && f.compare) throw new Error('--step-ca and --compare each name the other server: give one');
  if (f.ledger !== undefined && f.ledger !== 'postgresql') throw new Error(`--ledger: only "postgresql" (compared with SQLite), not ${JSON.stringify(f.ledger)}`);
  if (f.help) {
    console.log(USAGE);
    process.exit(0);
  }
  return {
    requests: intFlag('requests', f.requests),
    concurrency: intFlag('concurrency', f.concurrency),
    sequential: intFlag('sequential', f.sequential),
    // A fresh-connection run warms each server with 2000 connections by default: a CA under
    // 10,000 hosts' timers is long past V8's tiers of compilation, and 20 connections are not.
    warmup: intFlag('warmup', f.warmup ?? (f['fresh-connections'] ? '2000' : '20'), 0),
    prefill: intFlag('prefill', f.prefill, 0),
    renews: intFlag('renews', f.renews, 0),
    compare: f.compare ? compareFlags(f) : null,
    stepCa: f['step-ca'],
    ledger: f.ledger === 'postgresql',
    observe: f.observe,
    crl: f.crl === undefined ? null : intFlag('crl', f.crl, 0),
    fresh: f['fresh-connections'],
    console: f.console,
    acme: f.acme,
    rounds: intFlag('rounds', f.rounds),
    json: f.json,
  };
}

function compareFlags(f: { compare?: string; root?: string; 'provisioner-key'?: string; password?: string; iss: string; 'compare-pid'?: string }): CompareSpec {
  if (!f.root || !f['provisioner-key']) throw new Error('--compare needs --root and --provisioner-key');
  return {
    url: f.compare!.replace(/\/+$/, ''), rootFile: f.root, keyFile: f['provisioner-key'], passwordFile: f.password, iss: f.iss,
    pid: f['compare-pid'] ? intFlag('compare-pid', f['compare-pid']) : null,
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

interface PhaseSpec { phase: string; path: '/1.0/sign' | '/1.0/renew'; concurrency: number; warmup: PreparedCsr[]; measured: PreparedCsr[]; fresh?: boolean }

/** A server under test: where it is, how to get tokens for it, which pid to read /proc of. */
interface Subject { target: Target; issuer: TokenIssuer; pid: number | null; signOnly?: boolean }

/**
 * The floor for --fresh-connections: bench/floor-server.ts in FLOOR_MODE=http (fastify over
 * node:https, a self-signed P-256 certificate, client certificates asked for as the CA asks,
 * /1.0/sign answered with a canned 201): what a connection costs before the CA does anything.
 */
async function floorSubject(ca: LocalCa, issuer: TokenIssuer): Promise<Subject> {
  const cert = join(ca.dir, 'floor.crt');
  const key = join(ca.dir, 'floor.key');
  const ssl = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert,
    '-subj', '/CN=127.0.0.1', '-days', '2', '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8' });
  if (ssl.status !== 0) throw new Error(`openssl: ${ssl.stderr}`);
  const pem = readFileSync(cert, 'utf8');
  const port = await freePort();
  // On the same node as our server (BENCH_SERVER_NODE), so the floor stays the floor.
  const runtime = serverRuntime();
  const server = await spawnServer(ca, 'floor-server (http)', runtime.node,
    ['--import', 'tsx', join(runtime.checkout, 'bench', 'floor-server.ts'), String(port), ca.configPath, cert, key],
    port, { trustPem: pem, env: { ...process.env, FLOOR_MODE: 'http' } });
  return { target: { name: 'floor', url: server.url, rootPem: pem }, issuer, pid: server.pid, signOnly: true };
}

/**
 * One measured phase against one target: warm the keep-alive connections, then drive the
 * measured bodies while reading server CPU and RSS from /proc when the server is ours.
 */
async function runPhase(subject: Subject, spec: PhaseSpec): Promise<PhaseResult> {
  const { target, issuer, pid: serverPid } = subject;
  const { path } = spec;
  let warm: Buffer[];
  let bodies: Buffer[];
  let client: Client | Client[];
  if (path === '/1.0/renew') {
    // C hosts, each renewing its own certificate over its own keep-alive mTLS connection.
    const ids = await issueIdentities(issuer, target, spec.concurrency);
    client = ids.map((id) => createClient(target, 1, id, { fresh: spec.fresh }));
    // One renewal per host, or the phase's warmup count when it asks for more (fresh connections).
    warm = Array.from({ length: Math.max(ids.length, spec.warmup.length) }, () => Buffer.alloc(0));
    bodies = Array.from({ length: spec.measured.length }, () => Buffer.alloc(0));
  } else {
    // Tokens are minted now, not at setup, so a long CSR setup cannot outlive their 5 minutes.
    [warm, bodies] = await Promise.all([signBodies(issuer, target.url, spec.warmup), signBodies(issuer, target.url, spec.measured)]);
    client = createClient(target, spec.concurrency, undefined, { fresh: spec.fresh });
  }
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
    for (const c of Array.isArray(client) ? client : [client]) c.close();
  }
}

async function compareSubject(c: CompareSpec): Promise<Subject> {
  const rootPem = readFileSync(c.rootFile, 'utf8');
  const password = c.passwordFile ? readFileSync(c.passwordFile, 'utf8').replace(/\r?\n$/, '') : undefined;
  const key = await provisionerKeyFromFile(c.keyFile, password);
  return { target: { name: 'compared', url: c.url, rootPem }, issuer: { key, iss: c.iss }, pid: c.pid };
}

async function stepCaSubject(ca: LocalCa, issuer: TokenIssuer): Promise<Subject> {
  const server = await startStepCa(ca, stepCaBinary(progress));
  progress(`step-ca serving at ${server.url} (pid ${server.pid})`);
  return { target: { name: 'step-ca', url: server.url, rootPem: ca.rootPem }, issuer, pid: server.pid };
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

async function ledgerMain(): Promise<void> {
  const { ledgerBench, ledgerTable } = await import('./ledgers.ts');
  const mach = machine();
  const rows = await ledgerBench({ requests: opts.requests, renews: opts.renews, concurrency: opts.concurrency, warmup: Math.max(opts.warmup, opts.concurrency), progress });
  const dir = join(import.meta.dirname, 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'ledgers.json'), `${JSON.stringify({ machine: mach, rows }, null, 2)}\n`);
  console.log(opts.json ? JSON.stringify({ machine: mach, rows }, null, 2) : `load average at start ${mach.loadAvg1}\n\n${ledgerTable(rows)}\n\nJSON: bench/results/ledgers.json`);
}

async function observeMain(): Promise<void> {
  const { observeBench, observeTable } = await import('./observe.ts');
  const mach = machine();
  const r = await observeBench({ requests: opts.requests, concurrency: opts.concurrency, warmup: Math.max(opts.warmup, opts.concurrency), rounds: opts.rounds, postgres: opts.ledger, progress });
  const dir = join(import.meta.dirname, 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'observe.json'), `${JSON.stringify({ machine: mach, ...r }, null, 2)}\n`);
  console.log(opts.json ? JSON.stringify({ machine: mach, ...r }, null, 2) : `load average at start ${mach.loadAvg1}\n\n${observeTable(r.rows, r.ratio)}\n\nJSON: bench/results/observe.json`);
}

async function crlMain(entries: number): Promise<void> {
  const { crlBench, crlTable } = await import('./crl.ts');
  const mach = machine();
  const r = await crlBench({ entries, progress });
  const dir = join(import.meta.dirname, 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'crl.json'), `${JSON.stringify({ machine: mach, ...r }, null, 2)}\n`);
  console.log(opts.json ? JSON.stringify({ machine: mach, ...r }, null, 2) : `load average at start ${mach.loadAvg1}\n\n${crlTable(r)}\n\nJSON: bench/results/crl.json`);
}

async function consoleMain(): Promise<void> {
  const { consoleBench, consoleTable } = await import('./console.ts');
  const mach = machine();
  const r = await consoleBench({ rows: opts.prefill || 1000, rounds: opts.rounds, progress });
  const dir = join(import.meta.dirname, 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'console.json'), `${JSON.stringify({ machine: mach, ...r }, null, 2)}\n`);
  console.log(opts.json ? JSON.stringify({ machine: mach, ...r }, null, 2) : `load average at start ${mach.loadAvg1}\n\n${consoleTable(r)}\n\nJSON: bench/results/console.json`);
}

async function acmeMain(): Promise<void> {
  const { acmeBench, acmeTable } = await import('./acme.ts');
  const rows = await acmeBench({ flows: opts.requests, concurrency: opts.concurrency, progress });
  const mach = machine();
  const dir = join(import.meta.dirname, 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'acme.json'), `${JSON.stringify({ machine: mach, rows }, null, 2)}\n`);
  console.log(opts.json ? JSON.stringify({ machine: mach, rows }, null, 2) : `load average at start ${mach.loadAvg1}\n\n${acmeTable(rows)}\n\nJSON: bench/results/acme.json`);
}

async function main(): Promise<void> {
  if (opts.acme) return acmeMain();
  if (opts.crl !== null) return crlMain(opts.crl);
  if (opts.console) return consoleMain();
  if (opts.observe) return observeMain();
  if (opts.ledger) return ledgerMain();
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
    // A fresh-connection run has no latency phase, so it needs no CSRs for one.
    const total = (opts.fresh ? 0 : opts.warmup + opts.sequential) + throughputWarmup + opts.requests;
    progress(`making ${total} P-256 CSRs`);
    const t0 = performance.now();
    const csrs = await makeCsrs(total);
    const csrMs = performance.now() - t0;
    let at = 0;
    const take = (n: number) => csrs.slice(at, (at += n));

    progress(`serve cold start x${COLD_STARTS}`);
    const coldRuns = await coldStarts(ca);

    const server = await startServer(ca);
    const ours: Subject = {
      target: { name: 'stepstone', url: server.url, rootPem: ca.rootPem },
      issuer: { key: await provisionerKey(ca.configPath, ca.password), iss: 'admin' },
      pid: server.pid,
    };
    const other = opts.compare ? await compareSubject(opts.compare) : opts.stepCa ? await stepCaSubject(ca, ours.issuer) : null;
    const subjects = [ours, ...(other ? [other] : []), ...(opts.fresh ? [await floorSubject(ca, ours.issuer)] : [])];
    // The throughput phase warms one request per socket so 16 TLS handshakes stay out of its numbers.
    const specs: PhaseSpec[] = [
      ...(opts.fresh ? [] : [{ phase: 'latency', path: '/1.0/sign' as const, concurrency: 1, warmup: take(opts.warmup), measured: take(opts.sequential) }]),
      { phase: opts.fresh ? 'fresh /sign' : 'throughput', path: '/1.0/sign', concurrency: opts.concurrency, warmup: take(throughputWarmup), measured: take(opts.requests), fresh: opts.fresh },
      ...(opts.renews ? [{ phase: opts.fresh ? 'fresh /renew' : 'renew', path: '/1.0/renew' as const, concurrency: opts.concurrency, warmup: Array<PreparedCsr>(opts.fresh ? opts.warmup : 0), measured: Array<PreparedCsr>(opts.renews), fresh: opts.fresh }] : []),
    ];
    const phases: PhaseResult[] = [];
    // Phase by phase, each server in turn: the same load, the same minutes of machine noise.
    for (const spec of specs) {
      for (const subject of subjects) {
        if (subject.signOnly && spec.path !== '/1.0/sign') continue;
        progress(`${spec.phase} ${spec.path} on ${subject.target.name}: ${spec.measured.length} requests, concurrency ${spec.concurrency}`);
        const sign = spec.path === '/1.0/sign';
        // A compared server gets CSRs of its own: the same names twice would be the same request.
        const own = subject === ours || !sign ? spec : { ...spec, warmup: await makeCsrs(spec.warmup.length, 'cmp.bench.internal'), measured: await makeCsrs(spec.measured.length, 'cmp.bench.internal', spec.warmup.length) };
        phases.push(await runPhase(subject, own));
      }
    }

    const results: BenchResults = {
      machine: mach,
      config: { sequential: opts.sequential, requests: opts.requests, renews: opts.renews, concurrency: opts.concurrency, warmup: opts.warmup, compare: opts.compare?.url ?? (opts.stepCa ? 'step-ca 0.19 (Debian build), same PKI' : null) },
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
