// `node --import tsx bench/floor.ts [--duration S] [--rounds R]`: what the stack costs before the
// CA does anything. Three servers under the same wrk load, alternating round by round:
//   http floor    fastify over Node's HTTPS answering /1.0/sign with a canned 201 (bench/floor-server.ts)
//   crypto floor  the same plus /sign's cryptography (CSR key import and verify, token verify, one
//                 signature), the verifications and the signature on libuv's pool as the CA does them
//   crypto on loop  the same cryptography on the event loop
//   stepstone     the real CA
// The gaps are the answer: crypto floor - http floor is the cryptography; stepstone - crypto floor
// is everything else the CA does (names, policy, the leaf, the ledger with its fsync, the log).
// Needs `apt-get install wrk`.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { provisionerKey } from '../test/helpers/tokens.ts';
import { freePort, initLocalCa, spawnServer, startServer, type RunningServer } from './ca.ts';
import { machine } from './report.ts';
import { makeCsrs, signBodies } from './requests.ts';
import { wrkRun, type WrkResult } from './wrk-run.ts';

const { values: f } = parseArgs({ options: {
  duration: { type: 'string', default: '8' }, rounds: { type: 'string', default: '2' }, connections: { type: 'string', default: '16' },
} });
const duration = Number(f.duration);
const rounds = Number(f.rounds);
const connections = Number(f.connections);
const bodyCount = 3600 * duration; // above any of the three's rate here

if (spawnSync('sh', ['-c', 'command -v wrk']).status !== 0) {
  process.stderr.write('bench/floor.ts needs wrk: apt-get install wrk\n');
  process.exit(2);
}
const log = (m: string) => process.stderr.write(`[floor] ${m}\n`);

const ca = initLocalCa();
try {
  const serving = { cert: join(ca.dir, 'floor.crt'), key: join(ca.dir, 'floor.key') };
  const ssl = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', serving.key, '-out', serving.cert,
    '-subj', '/CN=127.0.0.1', '-days', '2', '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8' });
  if (ssl.status !== 0) throw new Error(`openssl: ${ssl.stderr}`);
  const floor = async (mode: string): Promise<RunningServer> => {
    const port = await freePort();
    return spawnServer(ca, `floor-server (${mode})`, process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, 'floor-server.ts'), String(port), ca.configPath, serving.cert, serving.key],
      port, { trustPem: readFileSync(serving.cert, 'utf8'), env: { ...process.env, FLOOR_MODE: mode } });
  };
  const servers: [string, RunningServer][] = [
    ['http floor', await floor('http')], ['crypto floor', await floor('crypto')], ['crypto on loop', await floor('crypto-sync')], ['stepstone', await startServer(ca)],
  ];
  const issuer = { key: await provisionerKey(ca.configPath, ca.password), iss: 'admin' };
  const results = new Map<string, WrkResult[]>();
  for (let round = 0; round <= rounds; round++) {
    for (const [name, server] of servers) {
      const n = round === 0 ? 400 : bodyCount;
      log(`${round === 0 ? 'warming' : `round ${round}:`} ${name}, minting ${n} bodies`);
      const bodies = await signBodies(issuer, server.url, await makeCsrs(n, `r${round}.floor.internal`));
      const file = join(ca.dir, 'bodies.txt');
      writeFileSync(file, `${bodies.map(String).join('\n')}\n`);
      const r = wrkRun({ target: name, url: `${server.url}/1.0/sign`, bodiesFile: file, bodyCount: n, pid: server.pid, threads: 2, connections, duration: round === 0 ? 2 : duration });
      if (r.non2xx) throw new Error(`${name}: ${r.non2xx} non-2xx answers`);
      if (round > 0) results.set(name, [...(results.get(name) ?? []), r]);
    }
  }
  const m = machine();
  console.log(`wrk 2 threads, ${connections} connections, ${duration} s, ${rounds} alternating rounds; ${m.cpuModel}, ${m.nproc} cores shared with wrk; node ${m.node}; ${m.date}\n`);
  console.log('server          req/s (each round)   server CPU ms/req (each round)   p99 (each round)');
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const cpu = new Map<string, number>();
  for (const [name, rs] of results) {
    cpu.set(name, mean(rs.map((r) => r.serverCpuMsPerReq)));
    console.log(`${name.padEnd(14)}  ${rs.map((r) => r.reqPerSec.toFixed(0)).join(' ').padEnd(19)}  ${rs.map((r) => r.serverCpuMsPerReq.toFixed(3)).join(' ').padEnd(31)}  ${rs.map((r) => r.p99).join(' ')}`);
    if (rs.some((r) => r.exhausted)) console.log(`  ${name} used all its bodies in some round: its req/s there is a lower bound`);
  }
  const [h, c, s] = ['http floor', 'crypto floor', 'stepstone'].map((k) => cpu.get(k)!) as [number, number, number];
  console.log(`\nmean server CPU per request: stack ${h.toFixed(3)} ms + cryptography ${(c - h).toFixed(3)} ms + the rest of the CA ${(s - c).toFixed(3)} ms = ${s.toFixed(3)} ms`);
} finally {
  await ca.cleanup();
}
