// `node --import tsx bench/wrk.ts [--duration S] [--connections C] [--threads T] [--bodies N] [--step-ca]`: issuance driven
// by wrk, a load generator cheap enough that the server, not the client, is what is measured.
// Stepstone's POST /1.0/sign (a fresh token and CSR per request) and cfssl's unauthenticated
// POST /api/v1/cfssl/sign (a CSR per request), both over TLS on loopback, one after the other.
// Needs `apt-get install wrk golang-cfssl` (bench only; npm test never does).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { provisionerKey } from '../test/helpers/tokens.ts';
import { initLocalCa, startServer } from './ca.ts';
import { startStepCa, stepCaBinary } from './step-ca.ts';
import { wrkRun, type WrkResult } from './wrk-run.ts';
import { machine } from './report.ts';
import { makeCsrs, signBodies } from './requests.ts';

const { values: f } = parseArgs({ options: {
  duration: { type: 'string', default: '8' }, connections: { type: 'string', default: '16' }, threads: { type: 'string', default: '2' },
  bodies: { type: 'string', default: '36000' },
  'step-ca': { type: 'boolean', default: false },
  // `--no-cfssl` leaves cfssl out (a Stepstone vs step-ca run only).
  'no-cfssl': { type: 'boolean', default: false },
} });
const duration = Number(f.duration);
const connections = Number(f.connections);
const threads = Number(f.threads);
const bodyCount = Number(f.bodies);

for (const tool of ['wrk', 'cfssl', 'openssl']) {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
    process.stderr.write(`bench/wrk.ts needs ${tool}: apt-get install wrk golang-cfssl\n`);
    process.exit(2);
  }
}

const runWrk = (target: string, url: string, bodiesFile: string, pid: number): WrkResult =>
  wrkRun({ target, url, bodiesFile, bodyCount, pid, threads, connections, duration });

function post(url: string, body: string): Promise<number> {
  return new Promise((resolve) => {
    const req = https.request(url, { method: 'POST', rejectUnauthorized: false, agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

/** POST /1.0/sign on Stepstone, or with `which` = 'step-ca' on step-ca 0.19 serving the same kind of PKI. */
async function signTarget(dir: string, which: 'stepstone' | 'step-ca' = 'stepstone'): Promise<WrkResult> {
  const ca = initLocalCa();
  try {
    const server = which === 'stepstone' ? await startServer(ca) : await startStepCa(ca, stepCaBinary((m) => process.stderr.write(`[wrk] ${m}\n`)));
    const issuer = { key: await provisionerKey(ca.configPath, ca.password), iss: 'admin' };
    const warm = await signBodies(issuer, server.url, await makeCsrs(200, 'warm.bench.internal'));
    for (const b of warm) await post(`${server.url}/1.0/sign`, b.toString());
    process.stderr.write(`[wrk] minting ${bodyCount} /sign bodies\n`);
    const bodies = await signBodies(issuer, server.url, await makeCsrs(bodyCount));
    const file = join(dir, `${which}-bodies.txt`);
    writeFileSync(file, `${bodies.map((b) => b.toString()).join('\n')}\n`);
    process.stderr.write(`[wrk] ${which}: ${duration} s, ${connections} connections\n`);
    return runWrk(`${which} /1.0/sign`, `${server.url}/1.0/sign`, file, server.pid);
  } finally {
    await ca.cleanup();
  }
}

async function cfssl(dir: string): Promise<WrkResult> {
  const openssl = (args: string[]) => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args[0]}: ${r.stderr}`);
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=cfssl bench CA', '-days', '30', '-addext', 'basicConstraints=critical,CA:true', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  openssl(['req', '-x509', ...ec, '-keyout', 'tls.key', '-out', 'tls.crt', '-subj', '/CN=127.0.0.1', '-days', '30', '-addext', 'subjectAltName=IP:127.0.0.1']);
  const port = 20000 + Math.floor(Math.random() * 20000);
  const proc: ChildProcess = spawn('cfssl', ['serve', '-address', '127.0.0.1', '-port', String(port), '-ca', 'ca.crt', '-ca-key', 'ca.key', '-tls-cert', 'tls.crt', '-tls-key', 'tls.key', '-loglevel', '5'],
    { cwd: dir, stdio: 'ignore' });
  try {
    const url = `https://127.0.0.1:${port}/api/v1/cfssl/sign`;
    const warm = await makeCsrs(200, 'warm.cfssl.internal');
    for (let i = 0; i < 100 && (await post(url, JSON.stringify({ certificate_request: warm[0]!.pem }))) !== 200; i++) await new Promise((r) => setTimeout(r, 100));
    for (const c of warm) await post(url, JSON.stringify({ certificate_request: c.pem }));
    process.stderr.write(`[wrk] making ${bodyCount} CSRs for cfssl\n`);
    const csrs = await makeCsrs(bodyCount, 'cfssl.bench.internal');
    const file = join(dir, 'cfssl-bodies.txt');
    writeFileSync(file, `${csrs.map((c) => JSON.stringify({ certificate_request: c.pem })).join('\n')}\n`);
    process.stderr.write(`[wrk] cfssl: ${duration} s, ${connections} connections\n`);
    return runWrk('cfssl /api/v1/cfssl/sign', url, file, proc.pid!);
  } finally {
    proc.kill('SIGTERM');
  }
}

const dir = mkdtempSync(join(tmpdir(), 'stepstone-wrk-'));
try {
  const m = machine();
  const results = [await signTarget(dir), ...(f['no-cfssl'] ? [] : [await cfssl(dir)]), ...(f['step-ca'] ? [await signTarget(dir, 'step-ca')] : [])];
  const cfsslVersion = /Version: (\S+)/.exec(spawnSync('cfssl', ['version'], { encoding: 'utf8' }).stdout)?.[1] ?? '?';
  console.log(`wrk ${threads} threads, ${connections} connections, ${duration} s each; ${m.cpuModel}, ${m.nproc} cores shared with wrk; node ${m.node}; cfssl ${cfsslVersion}; ${m.date}; load ${m.loadAvg1.toFixed(2)} at start\n`);
  console.log('target                      requests  non-2xx   req/s   p50      p99      server CPU ms/req  RSS max MiB');
  for (const r of results) {
    console.log(`${r.target.padEnd(26)}  ${String(r.requests).padStart(8)}  ${String(r.non2xx).padStart(7)}  ${r.reqPerSec.toFixed(0).padStart(6)}   ${r.p50.padEnd(7)}  ${r.p99.padEnd(7)}  ${r.serverCpuMsPerReq.toFixed(3).padStart(17)}  ${r.rssMaxMiB.toFixed(0).padStart(11)}`);
    if (r.exhausted) console.log(`  ${r.target} used all ${bodyCount} bodies before the time was up: its req/s is a lower bound; raise --bodies`);
  }
  const [ours, ...others] = results as [WrkResult, ...WrkResult[]];
  console.log('');
  for (const theirs of others) {
    console.log(`stepstone vs ${theirs.target.split(' ')[0]}: req/s ${(ours.reqPerSec / theirs.reqPerSec).toFixed(2)}x, server CPU per request ${(ours.serverCpuMsPerReq / theirs.serverCpuMsPerReq).toFixed(2)}x`);
  }
  const out = join(import.meta.dirname, 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'wrk.json'), `${JSON.stringify({ machine: m, duration, connections, threads, results }, null, 2)}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
