// `npm run bench -- --crl N` (issue 18 item 2): a CA whose ledger holds N revoked, unexpired
// certificates. Measures, in process, the ledger's CRL snapshot and buildCrl (wall and CPU) and
// `ca crl`'s checks on the result; then against the running server, GET /crl (served from the
// cached encoding) and the whole `ca crl` command (a fresh Node process: fetch, verify, write).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { BIN } from '../test/helpers/ca.ts';
import { buildCrl } from '../src/authority/crl.ts';
import { makeIssuer } from '../src/authority/profiles.ts';
import { verifyCrl } from '../src/client/crl.ts';
import { layout } from '../src/config/layout.ts';
import { openSqliteLedger } from '../src/ledger/sqlite.ts';
import { loadPrivateKey } from '../src/pki/keys.ts';
import { parseCertificates } from '../src/pki/pem.ts';
import { initLocalCa, startServer } from './ca.ts';
import { prefillLedger } from './prefill.ts';
import { median } from './report.ts';

const ROUNDS = 3;

export interface CrlBenchResult {
  entries: number;
  crlBytes: number;
  /** Per round, ms. */
  snapshotMs: number[];
  snapshotCpuMs: number[];
  buildMs: number[];
  buildCpuMs: number[];
  verifyMs: number[];
  verifyCpuMs: number[];
  getCrlMs: number[];
  caCrlMs: number[];
  /** `stepstone --version`: what any CLI command pays for starting Node and loading the CLI. */
  cliStartMs: number[];
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function get(url: string, rootPem: string): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    https.get(url, { ca: rootPem, agent: false }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => { bytes += c.length; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
    }).on('error', reject);
  });
}

function timedCli(args: string[]): number {
  const t = performance.now();
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`stepstone ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return performance.now() - t;
}

export async function crlBench(o: { entries: number; progress: (m: string) => void }): Promise<CrlBenchResult> {
  const ca = initLocalCa();
  try {
    const l = layout(ca.home);
    o.progress(`pre-filling the ledger with ${o.entries} revoked certificates`);
    await prefillLedger(join(ca.home, 'db', 'ledger.sqlite'), o.entries, { revoked: true });
    const inter = parseCertificates(readFileSync(l.intermediateCert, 'utf8'));
    const roots = parseCertificates(ca.rootPem);
    const issuer = await makeIssuer(inter[0]!, loadPrivateKey(readFileSync(l.intermediateKey, 'utf8'), ca.password));
    const r: CrlBenchResult = { entries: 0, crlBytes: 0, snapshotMs: [], snapshotCpuMs: [], buildMs: [], buildCpuMs: [], verifyMs: [], verifyCpuMs: [], getCrlMs: [], caCrlMs: [], cliStartMs: [] };

    const ledger = await openSqliteLedger(join(ca.home, 'db', 'ledger.sqlite'));
    try {
      for (let i = 0; i < ROUNDS; i++) {
        o.progress(`round ${i + 1}: snapshot, build, verify in process`);
        let t = performance.now();
        let c = cpuMs();
        const { number, entries } = await ledger.nextCrl(new Date(Date.now() - 3_600_000));
        r.snapshotCpuMs.push(cpuMs() - c);
        r.snapshotMs.push(performance.now() - t);
        const now = new Date(Math.floor(Date.now() / 1000) * 1000);
        t = performance.now();
        c = cpuMs();
        const der = await buildCrl({ issuer, number, thisUpdate: now, nextUpdate: new Date(now.getTime() + 86_400_000), entries });
        r.buildCpuMs.push(cpuMs() - c);
        r.buildMs.push(performance.now() - t);
        t = performance.now();
        c = cpuMs();
        const summary = await verifyCrl(der, inter, roots);
        r.verifyCpuMs.push(cpuMs() - c);
        r.verifyMs.push(performance.now() - t);
        r.entries = summary.entries;
        r.crlBytes = der.length;
      }
    } finally {
      await ledger.close();
    }

    o.progress('starting the server (it builds the first CRL at start-up)');
    o.progress(`in process: build ${r.buildMs.map((x) => x.toFixed(0)).join(', ')} ms (CPU ${r.buildCpuMs.map((x) => x.toFixed(0)).join(', ')}), checks ${r.verifyMs.map((x) => x.toFixed(0)).join(', ')} ms (CPU ${r.verifyCpuMs.map((x) => x.toFixed(0)).join(', ')})`);
    // A generous start-up deadline: a shared, loaded machine is slow to start Node.
    const server = await startServer(ca, 120_000);
    // The first CRL is built after /health answers: the first GET /crl waits for it; not timed.
    await get(`${server.url}/crl`, ca.rootPem);
    for (let i = 0; i < ROUNDS; i++) {
      const t = performance.now();
      const g = await get(`${server.url}/crl`, ca.rootPem);
      r.getCrlMs.push(performance.now() - t);
      if (g.status !== 200) throw new Error(`GET /crl answered ${g.status}`);
    }
    for (let i = 0; i < ROUNDS; i++) {
      o.progress(`round ${i + 1}: ca crl`);
      r.cliStartMs.push(timedCli(['--version']));
      r.caCrlMs.push(timedCli(['ca', 'crl', '--ca-url', server.url, '--root', join(ca.home, 'certs', 'root_ca.crt'), '--out', join(ca.dir, `crl-${i}.der`)]));
    }
    return r;
  } finally {
    await ca.cleanup();
  }
}

export function crlTable(r: CrlBenchResult): string {
  const f = (xs: number[]) => `${median(xs).toFixed(0)} ms (${xs.map((x) => x.toFixed(0)).join(', ')})`;
  return [
    `CRL of ${r.entries} entries, ${(r.crlBytes / 1048576).toFixed(1)} MiB; median (rounds)`,
    `  ledger snapshot (nextCrl)        ${f(r.snapshotMs)}`,
    `  ledger snapshot CPU              ${f(r.snapshotCpuMs)}`,
    `  buildCrl wall                    ${f(r.buildMs)}`,
    `  buildCrl CPU                     ${f(r.buildCpuMs)}`,
    `  ca crl checks, in process        ${f(r.verifyMs)}`,
    `  ca crl checks CPU                ${f(r.verifyCpuMs)}`,
    `  GET /crl (cached encoding)       ${f(r.getCrlMs)}`,
    `  ca crl, whole command            ${f(r.caCrlMs)}`,
    `  stepstone --version (CLI start)  ${f(r.cliStartMs)}`,
  ].join('\n');
}
