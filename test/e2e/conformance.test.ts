// The shared conformance kit (a vendored copy of shared/conformance, so a fresh clone runs it):
// ~46 token/CSR variants against /1.0/sign, each status compared with what Stepstone must answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO, startTestCa } from '../helpers/ca.ts';

const run = promisify(execFile);

test('conformance probe: every /1.0/sign case answers as expected.json says', async (t) => {
  const ca = await startTestCa({ dns: ['localhost', '127.0.0.1'] });
  t.after(() => ca.cleanup());
  const kit = join(REPO, 'test', 'conformance');
  const { stdout } = await run(process.execPath, [join(kit, 'probe-sign.mjs'), '--url', ca.url, '--root', ca.rootFile,
    '--password-file', ca.passwordFile, '--iss', 'admin', '--expect', join(kit, 'expected.json')], { cwd: REPO }).catch((e) => {
    assert.fail(`probe failed:\n${e.stdout}\n${e.stderr}`);
  });
  const m = /^(\d+) passed, (\d+) failed$/m.exec(stdout);
  assert.ok(m, `no summary line in:\n${stdout}`);
  assert.equal(Number(m[2]), 0, stdout);
  assert.ok(Number(m[1]) >= 46, `only ${m[1]} cases ran`);
});
