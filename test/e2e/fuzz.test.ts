// The short form of the fuzzer (test/fuzz/engine.ts): ~2,000 seeded cases against a real CA.
// `npm run soak` runs the long form. FUZZ_SEED and FUZZ_CASES override.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request, startTestCa, type TestCa } from '../helpers/ca.ts';
import { provisionerKey } from '../helpers/tokens.ts';
import { makeBases, runFuzz } from '../fuzz/engine.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 6061);
const CASES = Number(process.env.FUZZ_CASES ?? 2000);
let ca: TestCa;

before(async () => {
  // Thousands of requests a minute from one address: the limiter is not what this tests.
  ca = await startTestCa({ configure: (c) => { c.stepstone.rateLimit = { enabled: false }; } });
});
after(() => ca.cleanup());

test(`${CASES} fuzzed /sign, /renew and /revoke requests: no 5xx, step-ca error shapes, nothing off policy (seed ${SEED})`, async (t) => {
  const report = await runFuzz({ ca, admin: await provisionerKey(ca.configPath, ca.password), bases: await makeBases(20) }, CASES, SEED);
  t.diagnostic(JSON.stringify(report.outcomes));
  const serverErrors = ca.logs.filter((l) => l.includes('"level":50'));
  assert.deepEqual(report.failures, [], serverErrors.slice(0, 3).join('\n'));
  // The valid share must really issue, or the off-policy check checked nothing.
  assert.ok(report.issued > CASES / 20, `only ${report.issued} issued`);
  assert.equal((await request(ca, 'GET', '/health')).status, 200);
  assert.equal(ca.proc.exitCode, null, 'the server is still running');
});
