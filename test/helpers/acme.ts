// ACME test fixtures: a CA with an ACME provisioner whose validator resolves names through a
// pebble-challtestsrv (Debian's pebble package) acting as DNS server, every name answering
// 127.0.0.1; the real clients (certbot, lego, caddy) as child processes. Nothing of ours mocked.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import http from 'node:http';
import { existsSync } from 'node:fs';
import { startTestCa, type TestCa, type TestCaOptions } from './ca.ts';
import { inCi } from './capability.ts';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** With CI=1 a missing binary fails the test; elsewhere the caller skips. */
export function missingBinary(...names: string[]): string | null {
  const missing = names.filter((n) => !existsSync(`/usr/bin/${n}`));
  if (!missing.length) return null;
  if (inCi()) throw new Error(`CI: ${missing.join(', ')} not installed (.ci/run installs them)`);
  return `${missing.join(', ')} not installed`;
}

export interface ChallTestSrv {
  dnsPort: number;
  mgmtPort: number;
  proc: ChildProcess;
  /** Adds a TXT record (dns-01) through the management API. */
  setTxt(host: string, value: string): Promise<void>;
  clearTxt(host: string): Promise<void>;
  stop(): Promise<void>;
}

/** pebble-challtestsrv as a DNS server only: A → 127.0.0.1 for every name, TXT as told. */
export async function startChallTestSrv(): Promise<ChallTestSrv> {
  const dnsPort = await freePort();
  const mgmtPort = await freePort();
  const proc = spawn('pebble-challtestsrv', ['-defaultIPv4', '127.0.0.1', '-defaultIPv6', '', '-dns01', `127.0.0.1:${dnsPort}`, '-management', `127.0.0.1:${mgmtPort}`,
    '-http01', '', '-https01', '', '-tlsalpn01', ''], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: string[] = [];
  proc.stdout!.on('data', (d) => out.push(String(d)));
  proc.stderr!.on('data', (d) => out.push(String(d)));
  const mgmt = (path: string, body: unknown) => new Promise<void>((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = http.request({ host: '127.0.0.1', port: mgmtPort, path, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`challtestsrv ${path}: ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(data);
  });
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await mgmt('/clear-txt', { host: '_probe.example.' });
      break;
    } catch (e) {
      if (Date.now() > deadline || proc.exitCode !== null) {
        proc.kill('SIGKILL');
        throw new Error(`pebble-challtestsrv did not start: ${(e as Error).message}\n${out.join('')}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return {
    dnsPort, mgmtPort, proc,
    setTxt: (host, value) => mgmt('/set-txt', { host: host.endsWith('.') ? host : `${host}.`, value }),
    clearTxt: (host) => mgmt('/clear-txt', { host: host.endsWith('.') ? host : `${host}.` }),
    stop: () => stopChild(proc),
  };
}

export function stopChild(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((res) => {
    proc.once('exit', () => res());
    proc.kill('SIGTERM');
    setTimeout(() => proc.kill('SIGKILL'), 5000).unref();
  });
}

export interface AcmeCaOptions extends TestCaOptions {
  /** Resolver for the validator (challtestsrv's DNS port). */
  dnsPort: number;
  httpPort: number;
  tlsPort?: number;
  acme?: Record<string, unknown>;
  provisioner?: Record<string, unknown>;
}

/** A test CA with an ACME provisioner "acme" validating through challtestsrv's DNS. */
export async function startAcmeCa(o: AcmeCaOptions): Promise<TestCa & { directory: string }> {
  const ca = await startTestCa({
    ...o,
    configure: (cfg) => {
      cfg.authority.provisioners.push({ type: 'ACME', name: 'acme', challenges: ['http-01', 'dns-01', 'tls-alpn-01'], ...o.provisioner });
      cfg.stepstone = {
        ...cfg.stepstone,
        acme: {
          validation: { resolver: `127.0.0.1:${o.dnsPort}`, httpPort: o.httpPort, tlsPort: o.tlsPort ?? 443, timeout: '5s' },
          ...o.acme,
        },
      };
      o.configure?.(cfg);
    },
  });
  return Object.assign(ca, { directory: `${ca.url}/acme/acme/directory` });
}

export interface Run { code: number | null; stdout: string; stderr: string }

/** Runs a client to completion (killed after `timeoutMs`). */
export function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 120_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0, stdout, stderr });
    });
  });
}
