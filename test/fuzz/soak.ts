// `npm run soak [-- --cases N --seed S]`: the fuzzer's long form (default 100,000 cases) against
// a fresh CA; prints the outcome counts and every contract violation, exits 1 if there was one.
import { parseArgs } from 'node:util';
import { request, startTestCa } from '../helpers/ca.ts';
import { provisionerKey } from '../helpers/tokens.ts';
import { makeBases, runFuzz } from './engine.ts';

const { values } = parseArgs({ options: { cases: { type: 'string', default: '100000' }, seed: { type: 'string', default: '6061' }, concurrency: { type: 'string', default: '8' } } });
const cases = Number(values.cases);
const seed = Number(values.seed);
const ca = await startTestCa({ configure: (c) => { c.stepstone.rateLimit = { enabled: false }; } });
try {
  const t0 = Date.now();
  const report = await runFuzz({ ca, admin: await provisionerKey(ca.configPath, ca.password), bases: await makeBases(50) }, cases, seed, Number(values.concurrency),
    (done) => process.stderr.write(`[soak] ${done}/${cases}\n`));
  const health = await request(ca, 'GET', '/health');
  console.log(`soak: ${cases} cases, seed ${seed}, ${((Date.now() - t0) / 1000).toFixed(0)} s; issued ${report.issued}; server ${ca.proc.exitCode === null ? 'alive' : 'DEAD'}, /health ${health.status}`);
  for (const [k, n] of Object.entries(report.outcomes).sort()) console.log(`  ${k.padEnd(20)} ${n}`);
  console.log(`violations: ${report.failures.length}`);
  for (const f of report.failures.slice(0, 50)) console.log(`  ${f}`);
  process.exitCode = report.failures.length || health.status !== 200 ? 1 : 0;
} finally {
  await ca.cleanup();
}
