// A throwaway local CA: `stepstone init` into a temp dir and `stepstone serve` as a child.
// Kept apart from the driver so a run against another server needs none of this.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { BIN, cli } from '../test/helpers/ca.ts';

export interface LocalCa {
  dir: string;
  home: string;
  passwordFile: string;
  password: string;
  configPath: string;
  rootPem: string;
  /** Server stdout and stderr go here, not through a pipe we would have to read on our CPU. */
  logFile: string;
  /** Stops every server started from this CA and removes the temp dir. Safe to call twice. */
  cleanup(): Promise<void>;
}

export interface RunningServer {
  proc: ChildProcess;
  pid: number;
  url: string;
  /** Spawn to the first 200 from GET /health. */
  coldStartMs: number;
  stop(): Promise<void>;
}

const running = new Set<RunningServer>();

export function initLocalCa(provisioner = 'admin'): LocalCa {
  const dir = mkdtempSync(join(tmpdir(), 'stepstone-bench-'));
  const home = join(dir, 'ca');
  const passwordFile = join(dir, 'password.txt');
  const password = `bench-${Math.random().toString(36).slice(2)}`;
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  const init = cli(['init', '--name', 'Bench', '--dns', 'localhost,127.0.0.1', '--address', '127.0.0.1:0',
    '--provisioner', provisioner, '--password-file', passwordFile, '--home', home]);
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`stepstone init failed (${init.status}): ${init.stderr || init.stdout}`);
  }
  // The bench sends thousands of requests a minute from one address: it measures issuance, not
  // the per-IP limiter, which would (rightly) answer 429.
  const configPath = join(home, 'config', 'ca.json');
  const config = JSON.parse(readFileSync(configPath, 'utf8'));
  config.stepstone = { ...config.stepstone, rateLimit: { enabled: false } };
  // BENCH_CA_JSON_PATCH='{"tls":{"maxVersion":1.2}}' or '{"stepstone":{"sessionTickets":false}}': a
  // setting under test, merged into ca.json one level deep (the bench's own stepstone settings stay).
  const patch = process.env.BENCH_CA_JSON_PATCH ? JSON.parse(process.env.BENCH_CA_JSON_PATCH) as Record<string, unknown> : {};
  for (const [k, v] of Object.entries(patch)) {
    config[k] = v && typeof v === 'object' && !Array.isArray(v) && typeof config[k] === 'object' ? { ...config[k], ...v } : v;
  }
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  return {
    dir, home, passwordFile, password,
    configPath,
    rootPem: readFileSync(join(home, 'certs', 'root_ca.crt'), 'utf8'),
    logFile: join(dir, 'server.log'),
    async cleanup() {
      await Promise.all([...running].map((s) => s.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A port that was free a moment ago; the small race is acceptable on a bench box. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function healthOk(url: string, rootPem: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = https.get(`${url}/health`, { ca: rootPem, agent: false, timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

function stopProc(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    // A server that ignores SIGTERM must not leave the bench hanging or orphan a process.
    const kill = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    proc.once('exit', () => { clearTimeout(kill); resolve(); });
    proc.kill('SIGTERM');
  });
}

/**
 * What bin/stepstone's launcher line gives node when it runs as a program: its node flags (the
 * OpenSSL config resolved as the shell would) and its environment defaults. The bench starts
 * `node <these> <profiling flags> bin/stepstone` itself, because node refuses --cpu-prof in
 * NODE_OPTIONS; reading them from the file keeps the server measured as `stepstone serve` runs.
 */
export function launcherSettings(bin = BIN): { nodeArgs: string[]; env: Record<string, string> } {
  const line = readFileSync(bin, 'utf8').split('\n')[1] ?? '';
  const m = /exec node (.*?) "\$0" "\$@"/.exec(line);
  if (!m) throw new Error('bench: bin/stepstone has no `exec node … "$0" "$@"` launcher line');
  const expand = (word: string) => word.replace(/^"|"$/g, '')
    .replace(/\$\{(\w+):-([^}]*)\}/g, (_all, name: string, fallback: string) => process.env[name] || fallback)
    .replace(/\$here/g, dirname(bin));
  const env = Object.fromEntries([...line.matchAll(/(\w+)=\$\{\1:-(\w+)\}/g)].map((x) => [x[1]!, process.env[x[1]!] || x[2]!]));
  return { nodeArgs: m[1]!.split(/\s+/).filter(Boolean).map(expand), env };
}

/**
 * Which node runs the servers we start (ours and the floor), and from which checkout. By default
 * this node and this checkout. `BENCH_SERVER_NODE=/path/to/node BENCH_SERVER_CHECKOUT=/path/to/repo`
 * runs them on another Node release, from a checkout installed (`npm ci`, `npm run build`) with
 * that node, since better-sqlite3's addon is built for one Node ABI; the client, step-ca and
 * the CA's files stay as they are, so one run compares runtimes under the same load.
 */
export function serverRuntime(): { node: string; bin: string; checkout: string } {
  const node = process.env.BENCH_SERVER_NODE || process.execPath;
  const checkout = process.env.BENCH_SERVER_CHECKOUT || dirname(dirname(BIN));
  if (process.env.BENCH_SERVER_NODE && !process.env.BENCH_SERVER_CHECKOUT) {
    throw new Error('bench: BENCH_SERVER_NODE needs BENCH_SERVER_CHECKOUT, a checkout installed and built with that node');
  }
  return { node, bin: join(checkout, 'bin', 'stepstone'), checkout };
}

/**
 * Spawns `stepstone serve` on a known port and polls /health every 5 ms. The port is picked
 * up front so the clock measures what an operator waits for, not when a log line appears.
 */
export async function startServer(ca: LocalCa, timeoutMs = 30_000): Promise<RunningServer> {
  const port = await freePort();
  // BENCH_SERVER_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", profiles the server alone;
  // it comes after the node flags bin/stepstone's launcher line gives, so the server runs as
  // `stepstone serve` does, and a flag given here again wins.
  // The launcher of the checkout that serves (BENCH_SERVER_CHECKOUT), its config/openssl.cnf included.
  const runtime = serverRuntime();
  const launcher = launcherSettings(runtime.bin);
  const nodeArgs = [...launcher.nodeArgs, ...(process.env.BENCH_SERVER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean)];
  // BENCH_SERVE_ARGS, e.g. "--workers 2", adds flags to `serve` itself.
  const serveArgs = (process.env.BENCH_SERVE_ARGS ?? '').split(/\s+/).filter(Boolean);
  const announced = () => (existsSync(ca.logFile) ? readFileSync(ca.logFile, 'utf8').split('"msg":"Stepstone CA serving"').length : 0);
  const before = serveArgs.includes('--workers') ? announced() : 0;
  const server = await spawnServer(ca, 'stepstone serve', runtime.node,
    [...nodeArgs, runtime.bin, 'serve', '--home', ca.home, '--password-file', ca.passwordFile, '--address', `127.0.0.1:${port}`, ...serveArgs], port, { timeoutMs, env: { ...launcher.env, ...process.env } });
  // With workers, /health answers once worker 1 listens; the primary announces when all do.
  while (serveArgs.includes('--workers') && announced() === before) await new Promise((r) => setTimeout(r, 20));
  return server;
}

/** Any CA server of `ca`'s PKI on 127.0.0.1:`port`, stopped by ca.cleanup() like our own. */
export async function spawnServer(
  ca: LocalCa, label: string, command: string, args: string[], port: number,
  o: { timeoutMs?: number; trustPem?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<RunningServer> {
  const { timeoutMs = 30_000, trustPem = ca.rootPem, env = process.env } = o;
  const url = `https://127.0.0.1:${port}`;
  const log = openSync(ca.logFile, 'a');
  const t0 = performance.now();
  const proc = spawn(command, args, { stdio: ['ignore', log, log], env });
  closeSync(log);
  const server: RunningServer = {
    proc, pid: proc.pid!, url, coldStartMs: NaN,
    async stop() {
      await stopProc(proc);
      running.delete(server);
    },
  };
  running.add(server);
  let exited = false;
  proc.once('exit', () => { exited = true; });
  while (!(await healthOk(url, trustPem))) {
    if (exited || performance.now() - t0 > timeoutMs) {
      await server.stop();
      const tail = readFileSync(ca.logFile, 'utf8').split('\n').slice(-20).join('\n');
      throw new Error(`${label} ${exited ? `exited (${proc.exitCode ?? proc.signalCode})` : 'did not answer /health'}:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  server.coldStartMs = performance.now() - t0;
  return server;
}
