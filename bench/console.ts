// `npm run bench -- --console [--prefill N] [--rounds R]`: how long the web console takes per page
// on a ledger of N certificate rows (default 1000, a smoke run; the target is N = 1 000 000
// under 200 ms a page). A real CA with the console on, a real admin certificate, keep-alive HTTPS
// from this process; each time is request sent to last byte, so it includes the ledger query,
// rendering and TLS. 1 % of the rows are revoked so the revoked filter has something to find.
import https from 'node:https';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { mintToken, opensslCsr, provisionerKey } from '../test/helpers/tokens.ts';
import { initLocalCa, startServer, type LocalCa } from './ca.ts';
import { prefillLedger } from './prefill.ts';
import { median, percentile } from './report.ts';

export interface ConsoleBenchOptions { rows: number; rounds: number; progress: (msg: string) => void }
export interface ConsoleRow { page: string; runs: number; p50: number; p95: number; max: number; bytes: number; status: number }

const ADMIN = 'bench-admin.example';

function get(agent: https.Agent, url: string): Promise<{ status: number; body: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    https.get(url, { agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ms: performance.now() - t0 }));
    }).on('error', reject);
  });
}

async function post(url: string, rootPem: string, body: unknown): Promise<any> {
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: 'POST', ca: rootPem, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } }, (res) => {
      let b = '';
      res.on('data', (d) => (b += d));
      res.on('end', () => (res.statusCode === 201 ? resolve(JSON.parse(b)) : reject(new Error(`${url}: ${res.statusCode} ${b}`))));
    });
    req.on('error', reject);
    req.end(data);
  });
}

const nextLink = (body: string) => /rel="next" id="next-page" href="([^"]+)"/.exec(body)?.[1]?.replace(/&amp;/g, '&');

export async function consoleBench(o: ConsoleBenchOptions): Promise<{ rows: number; results: ConsoleRow[] }> {
  let ca: LocalCa | undefined;
  try {
    ca = initLocalCa();
    const config = JSON.parse(readFileSync(ca.configPath, 'utf8'));
    // Port 0, read back from the log: a port picked here could be the one startServer picks.
    config.stepstone.console = { address: '127.0.0.1:0', admins: [ADMIN] };
    writeFileSync(ca.configPath, JSON.stringify(config, null, 2));
    const file = join(ca.home, 'db', 'ledger.sqlite');
    o.progress(`pre-filling the ledger with ${o.rows} rows`);
    await prefillLedger(file, o.rows);
    const db = new Database(file);
    db.prepare("UPDATE certificates SET revoked_at = issued_at + 1000, revocation_reason_code = 1, revocation_reason = 'bench' WHERE rowid % 100 = 0").run();
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    o.progress('starting the CA');
    const server = await startServer(ca, 120_000);
    let consolePort = 0;
    for (let i = 0; i < 100 && !consolePort; i++) {
      consolePort = Number(/"consoleAddress":"127\.0\.0\.1:(\d+)"/.exec(readFileSync(ca.logFile, 'utf8'))?.[1] ?? 0);
      if (!consolePort) await new Promise((r) => setTimeout(r, 100));
    }
    if (!consolePort) throw new Error('the CA did not log its console address');
    const prov = await provisionerKey(ca.configPath, ca.password);
    const { csrPem, keyPem } = opensslCsr('', []);
    const signed = await post(`${server.url}/1.0/sign`, ca.rootPem, { csr: csrPem, ott: await mintToken(prov, { aud: `${server.url}/1.0/sign`, sub: ADMIN, sans: [ADMIN] }) });
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: ca.rootPem, cert: signed.certChain.join(''), key: keyPem, servername: 'localhost' });
    const base = `https://127.0.0.1:${consolePort}`;
    const sample = new Database(file, { readonly: true });
    const someSerial = sample.prepare('SELECT serial FROM certificates WHERE rowid = ?').pluck().get(Math.max(1, Math.floor(o.rows / 2))) as string;
    sample.close();
    const adminSerial = BigInt(`0x${new X509Certificate(signed.crt).serialNumber}`).toString();

    const pages: [string, string][] = [
      ['list, newest first', '/certificates'],
      ['list by expiry', '/certificates?sort=expires&dir=asc'],
      ['list by name, descending', '/certificates?sort=subject&dir=desc'],
      ['name prefix', '/certificates?q=host-12&match=prefix'],
      ['name substring (scan)', '/certificates?q=-4242.fill&match=contains'],
      ['serial', `/certificates?serial=${someSerial}`],
      ['provisioner', '/certificates?provisioner=admin'],
      ['state valid', '/certificates?state=valid'],
      ['state expiring, by expiry', '/certificates?state=expiring&sort=expires&dir=asc'],
      ['state revoked', '/certificates?state=revoked'],
      ['one certificate', `/certificates/${someSerial}`],
      ['admin certificate (lineage)', `/certificates/${adminSerial}`],
      ['audit events', '/audit'],
    ];
    const results: ConsoleRow[] = [];
    const measure = async (page: string, urls: () => Promise<string[]> | string[], gapMs = 0) => {
      const times: number[] = [];
      let bytes = 0;
      let status = 0;
      for (const u of await urls()) {
        if (gapMs) await new Promise((res) => setTimeout(res, gapMs));
        const r = await get(agent, `${base}${u}`);
        times.push(r.ms);
        bytes = r.body.length;
        status = r.status;
      }
      times.sort((a, b) => a - b);
      results.push({ page, runs: times.length, p50: median(times), p95: percentile(times, 95), max: times.at(-1)!, bytes, status });
      o.progress(`${page}: p50 ${median(times).toFixed(1)} ms`);
    };
    await get(agent, `${base}/certificates`); // the TLS handshake, once
    for (const [page, path] of pages) await measure(page, () => Array.from({ length: o.rounds }, () => path));
    // Deep pages: follow "Next page" links 20 pages in, then time those pages.
    for (const [page, start] of [['page 21, newest first', '/certificates'], ['page 21, by name', '/certificates?sort=subject&dir=asc']] as [string, string][]) {
      await measure(page, async () => {
        let url = start;
        for (let i = 0; i < 20; i++) {
          const next = nextLink((await get(agent, `${base}${url}`)).body);
          if (!next) break;
          url = next;
        }
        return Array.from({ length: o.rounds }, () => url);
      });
    }
    // The overview counts scan the ledger; loads within 2 s share a count, so space them out.
    await measure('overview (fresh count)', async () => {
      const urls: string[] = [];
      for (let i = 0; i < Math.min(o.rounds, 5); i++) urls.push('/');
      return urls;
    }, 2200);
    agent.destroy();
    return { rows: o.rows, results };
  } finally {
    await ca?.cleanup();
  }
}

export function consoleTable(r: { rows: number; results: ConsoleRow[] }): string {
  const lines = [`web console at ${r.rows.toLocaleString('en')} ledger rows (ms, request to last byte)`, '', 'page                           runs    p50     p95     max   status   KB'];
  for (const x of r.results) {
    lines.push(`${x.page.padEnd(30)} ${String(x.runs).padStart(4)} ${x.p50.toFixed(1).padStart(7)} ${x.p95.toFixed(1).padStart(7)} ${x.max.toFixed(1).padStart(7)}   ${String(x.status).padStart(3)}  ${(x.bytes / 1024).toFixed(0).padStart(4)}`);
  }
  return lines.join('\n');
}
