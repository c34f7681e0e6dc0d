// In-process cost of watching: Authority.sign with metrics and the audit trail on vs off, no
// HTTP. `node --import tsx bench/observe-core.ts [N] [ROUNDS]` prints CPU µs per issuance (the
// whole process, writer thread included) for each, alternating. AUDIT=0 or METRICS=0 leaves that
// part off on the "on" side too, to see what the other one costs alone.
import { writeFileSync, readFileSync } from 'node:fs';
import { loadConfig } from '../src/config/load.ts';
import { openSqliteLedger } from '../src/ledger/sqlite.ts';
import { loadAuthority } from '../src/authority/load.ts';
import { Metrics } from '../src/observe/metrics.ts';
import { provisionerKey } from '../test/helpers/tokens.ts';
import { initLocalCa, type LocalCa } from './ca.ts';
import { makeCsrs, signBodies } from './requests.ts';

const n = Number(process.argv[2] ?? 2000);
const rounds = Number(process.argv[3] ?? 3);
const cpu = () => { const u = process.cpuUsage(); return u.user + u.system; };

async function setup(ca: LocalCa, on: boolean) {
  const c = JSON.parse(readFileSync(ca.configPath, 'utf8'));
  c.stepstone = { ...c.stepstone, audit: { enabled: on && process.env.AUDIT !== '0' } };
  writeFileSync(ca.configPath, JSON.stringify(c));
  const loaded = loadConfig(ca.configPath);
  const ledger = await openSqliteLedger(loaded.resolvePath(loaded.config.db.dataSource));
  const metrics = on && process.env.METRICS !== '0' ? new Metrics() : null;
  if (metrics) ledger.onCommit(metrics.commit);
  const authority = await loadAuthority(loaded, ca.password, ledger, metrics ? { observer: metrics } : {});
  const key = await provisionerKey(ca.configPath, ca.password);
  return { ledger, authority, metrics, key };
}

const cas = [initLocalCa(), initLocalCa()];
try {
  const sides = [{ label: 'on', ...(await setup(cas[0]!, true)) }, { label: 'off', ...(await setup(cas[1]!, false)) }];
  const csrs = await makeCsrs((n + 100) * rounds * 2);
  let at = 0;
  const results: Record<string, number[]> = { on: [], off: [] };
  for (let r = 0; r < rounds; r++) {
    for (const s of r % 2 ? [...sides].reverse() : sides) {
      const bodies = (await signBodies({ key: s.key, iss: 'admin' }, 'https://localhost', csrs.slice(at, (at += n + 100)))).map((b) => JSON.parse(b.toString()) as { csr: string; ott: string });
      for (const b of bodies.slice(0, 100)) await s.authority.sign({ csr: b.csr, ott: b.ott });
      const rest = bodies.slice(100);
      const c0 = cpu();
      for (let i = 0; i < rest.length; i += 16) {
        await Promise.all(rest.slice(i, i + 16).map((b) => s.authority.sign({ csr: b.csr, ott: b.ott }, { requestId: `r${i}`, clientAddress: '127.0.0.1' })));
        s.metrics?.httpResponse('/sign', 'POST', 201, 0.001);
      }
      results[s.label]!.push((cpu() - c0) / rest.length);
    }
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(JSON.stringify({ n, rounds, onUs: results.on!.map(Math.round), offUs: results.off!.map(Math.round), medianOn: Math.round(med(results.on!)), medianOff: Math.round(med(results.off!)) }));
  for (const s of sides) await s.ledger.close();
} finally {
  for (const ca of cas) await ca.cleanup();
}
process.exit(0);
