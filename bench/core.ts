// In-process cost of Authority.sign without HTTP: where the CPU of one issuance goes.
// `node --import tsx bench/core.ts [N]` — prints CPU µs per stage and per full sign.
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../src/config/load.ts';
import { openSqliteLedger } from '../src/ledger/sqlite.ts';
import { loadAuthority } from '../src/authority/load.ts';
import { parseCsr } from '../src/pki/csr.ts';
import { provisionerKey } from '../test/helpers/tokens.ts';
import { initLocalCa } from './ca.ts';
import { makeCsrs, signBodies } from './requests.ts';

const n = Number(process.argv[2] ?? 2000);
const ca = initLocalCa();
try {
  const loaded = loadConfig(ca.configPath);
  const ledger = await openSqliteLedger(loaded.resolvePath(loaded.config.db.dataSource));
  const authority = await loadAuthority(loaded, ca.password, ledger);
  const key = await provisionerKey(ca.configPath, ca.password);
  const csrs = await makeCsrs(n + 1200);
  const bodies = (await signBodies({ key, iss: 'admin' }, 'https://localhost', csrs)).map((b) => JSON.parse(b.toString()) as { csr: string; ott: string });
  const cpu = () => { const u = process.cpuUsage(); return u.user + u.system; };
  // warm-up
  for (const b of bodies.slice(0, 200)) await authority.sign({ csr: b.csr, ott: b.ott });
  const rest = bodies.slice(200, n + 200);
  const forRenew = bodies.slice(n + 200);
  let c0 = cpu();
  for (const b of rest) await parseCsr(b.csr);
  const csrUs = (cpu() - c0) / rest.length;
  c0 = cpu(); let t0 = performance.now();
  for (let i = 0; i < rest.length; i += 16) await Promise.all(rest.slice(i, i + 16).map((b) => authority.sign({ csr: b.csr, ott: b.ott })));
  const signUs = (cpu() - c0) / rest.length;
  const wall = performance.now() - t0;
  // Renew each certificate just issued once, as its holder would over mTLS.
  const issued = await Promise.all(forRenew.map((b) => authority.sign({ csr: b.csr, ott: b.ott })));
  const peers = issued.map((c) => ({ der: new Uint8Array(Buffer.from(c.chainPem[0]!.replace(/-----[^-]+-----|\s/g, ''), 'base64')).buffer as ArrayBuffer }));
  c0 = cpu(); t0 = performance.now();
  for (let i = 0; i < peers.length; i += 16) await Promise.all(peers.slice(i, i + 16).map((p) => authority.renew(p)));
  const renewUs = (cpu() - c0) / peers.length;
  console.log(JSON.stringify({ n: rest.length, parseCsrUs: Math.round(csrUs), signUs: Math.round(signUs), signPerSec: Math.round(rest.length / (wall / 1000)), renewUs: Math.round(renewUs), renewPerSec: Math.round(peers.length / ((performance.now() - t0) / 1000)) }));
  await ledger.close();
} finally {
  await ca.cleanup();
}
process.exit(0);
