// A real Stepstone CA for tests: `stepstone init` into a temp home, then `stepstone serve` as a
// child process on a free loopback port. No part of the CA is mocked.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import https from 'node:https';

export const REPO = resolve(import.meta.dirname, '..', '..');
export const BIN = join(REPO, 'bin', 'stepstone');

export interface TestCa {
  dir: string;
  home: string;
  passwordFile: string;
  password: string;
  rootFile: string;
  rootPem: string;
  fingerprint: string;
  configPath: string;
  dbPath: string;
  port: number;
  /** https://127.0.0.1:PORT */
  url: string;
  /** Every log line the server printed. */
  logs: string[];
  proc: ChildProcess;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  cleanup(): Promise<void>;
}

export interface TestCaOptions {
  dns?: string[];
  kty?: 'EC' | 'RSA' | 'OKP';
  /** Edit ca.json between init and serve. */
  configure?: (config: Record<string, any>) => void;
  /** Write files into the CA home between init and serve. */
  beforeServe?: (home: string) => void;
  /** Start serve as an operator does, bin/stepstone run as a program (its launcher line), not `node bin/stepstone`. */
  asProgram?: boolean;
  /** The server's environment, added to this process's. */
  env?: NodeJS.ProcessEnv;
}

/** Runs the stepstone CLI to completion; never throws on a non-zero exit. */
export function cli(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): { status: number; stdout: string; stderr: string } {
  try {
    const stdout = execFileSync(process.execPath, [BIN, ...args], { env: { ...process.env, ...opts.env }, input: opts.input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
    return { status: 0, stdout, stderr: '' };
  } catch (e: any) {
    return { status: e.status ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

export async function startTestCa(o: TestCaOptions = {}): Promise<TestCa> {
  const dir = mkdtempSync(join(tmpdir(), 'stepstone-test-'));
  const home = join(dir, 'ca');
  const passwordFile = join(dir, 'password.txt');
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  const init = cli(['init', '--name', 'Test', '--dns', (o.dns ?? ['localhost', '127.0.0.1']).join(','), '--address', '127.0.0.1:0',
    '--provisioner', 'admin', '--password-file', passwordFile, '--home', home, '--kty', o.kty ?? 'EC']);
  if (init.status !== 0) throw new Error(`init failed: ${init.stderr}`);
  const fingerprint = /Root fingerprint: ([0-9a-f]{64})/.exec(init.stdout)![1]!;
  const configPath = join(home, 'config', 'ca.json');
  if (o.configure) {
    const cfg = JSON.parse(readFileSync(configPath, 'utf8'));
    o.configure(cfg);
    writeFileSync(configPath, JSON.stringify(cfg, null, 2));
  }
  o.beforeServe?.(home);
  // A loaded machine (several test files at once) may take many seconds to start a CA.
  let started: Awaited<ReturnType<typeof serve>>;
  try {
    started = await serve(home, passwordFile, [], 60_000, { asProgram: o.asProgram, env: o.env });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const { proc, port, logs } = started;
  const rootFile = join(home, 'certs', 'root_ca.crt');
  const ca: TestCa = {
    dir, home, passwordFile, password, rootFile, rootPem: readFileSync(rootFile, 'utf8'), fingerprint, configPath,
    dbPath: join(home, 'db', 'ledger.sqlite'), port, url: `https://127.0.0.1:${port}`, logs, proc,
    stop: (signal = 'SIGTERM') => stopProc(proc, signal),
    async cleanup() {
      await stopProc(proc, 'SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return ca;
}

/**
 * Starts `stepstone serve` and resolves once it logs its bound address. A server that does not
 * start within `timeoutMs` is killed, never left running.
 */
export function serve(
  home: string, passwordFile: string, extra: string[] = [], timeoutMs = 60_000, o: { asProgram?: boolean; env?: NodeJS.ProcessEnv } = {},
): Promise<{ proc: ChildProcess; port: number; logs: string[] }> {
  const args = ['serve', '--home', home, '--password-file', passwordFile, '--address', '127.0.0.1:0', ...extra];
  const proc = spawn(o.asProgram ? BIN : process.execPath, o.asProgram ? args : [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...o.env } });
  const logs: string[] = [];
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`server did not start:\n${logs.join('\n')}`));
    }, timeoutMs);
    for (const stream of [proc.stdout!, proc.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => {
        logs.push(line);
        const m = /"address":"127\.0\.0\.1:(\d+)"/.exec(line);
        if (m) {
          clearTimeout(timer);
          resolvePromise({ proc, port: Number(m[1]), logs });
        }
      });
    }
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${logs.join('\n')}`));
    });
  });
}

/** Stops `proc` with `signal`; one that has not exited 15 s later is SIGKILLed, never waited on forever. */
export function stopProc(proc: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((res) => {
    const kill = setTimeout(() => proc.kill('SIGKILL'), 15_000);
    proc.once('exit', (code) => { clearTimeout(kill); res(code); });
    proc.kill(signal);
  });
}

export interface HttpResult { status: number; headers: Record<string, string | string[] | undefined>; body: string; json: any }

export interface RequestOptions {
  headers?: Record<string, string>;
  cert?: string;
  key?: string;
  /** The body as sent, instead of `body` as JSON (headers.content-type says what it is). */
  raw?: string;
  /** Connect to this port instead of the URL's (another replica behind the same name), the Host header unchanged. */
  via?: number;
}

/**
 * One HTTPS request that trusts only the test CA's root (as the step CLI does). `path` follows
 * `ca.url`, or is a whole https:// URL (as ACME directories hand them out).
 */
export function request(ca: { url?: string; rootPem: string }, method: string, path: string, body?: unknown, opts: RequestOptions = {}): Promise<HttpResult> {
  const data = opts.raw ?? (body === undefined ? undefined : JSON.stringify(body));
  const url = new URL(/^https:\/\//.test(path) ? path : `${ca.url ?? ''}${path}`);
  return new Promise((res, rej) => {
    const req = https.request(url, {
      method, ca: ca.rootPem, cert: opts.cert, key: opts.key, agent: false,
      ...(opts.via === undefined ? {} : { port: opts.via }),
      headers: { host: url.host, ...(data !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {}), ...opts.headers },
    }, (r) => {
      let b = '';
      r.setEncoding('utf8');
      r.on('data', (d) => (b += d));
      r.on('end', () => {
        let json: any;
        try { json = JSON.parse(b); } catch { json = undefined; }
        res({ status: r.statusCode ?? 0, headers: r.headers, body: b, json });
      });
    });
    req.on('error', rej);
    req.end(data);
  });
}
