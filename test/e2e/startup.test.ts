// Start-up refusals (issue 6): a CA whose key or certificates are missing, mismatched or exposed
// does not start, and says which file and why in one line.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, serve, startTestCa, type TestCa } from '../helpers/ca.ts';

let ca: TestCa;
before(async () => {
  ca = await startTestCa();
  await ca.stop();
});
after(() => ca.cleanup());

const serveOnce = () => spawnSync(process.execPath, [BIN, 'serve', '--home', ca.home, '--password-file', ca.passwordFile, '--address', '127.0.0.1:0'], { encoding: 'utf8', timeout: 30_000 });
const secrets = () => join(ca.home, 'secrets');
const certs = () => join(ca.home, 'certs');

function refusesWith(pattern: RegExp): void {
  const r = serveOnce();
  assert.equal(r.status, 1, `expected a refusal, got ${r.status}: ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line: ${r.stderr}`);
  assert.match(lines[0]!, pattern);
}

test('a missing intermediate key or certificate is named', () => {
  renameSync(join(secrets(), 'intermediate_ca_key'), join(secrets(), 'moved'));
  try {
    refusesWith(/^error: cannot read the intermediate key .*intermediate_ca_key: no such file$/);
  } finally {
    renameSync(join(secrets(), 'moved'), join(secrets(), 'intermediate_ca_key'));
  }
  renameSync(join(certs(), 'intermediate_ca.crt'), join(certs(), 'moved.crt'));
  try {
    refusesWith(/^error: .*intermediate_ca\.crt/);
  } finally {
    renameSync(join(certs(), 'moved.crt'), join(certs(), 'intermediate_ca.crt'));
  }
});

test('a key that does not belong to the intermediate certificate is refused', () => {
  const key = join(secrets(), 'intermediate_ca_key');
  const saved = readFileSync(key);
  // The root's key: a real key, encrypted with the same password, just not the intermediate's.
  copyFileSync(join(secrets(), 'root_ca_key'), key);
  chmodSync(key, 0o600);
  try {
    refusesWith(/^error: .*(does not match|not the key of)/i);
  } finally {
    writeFileSync(key, saved, { mode: 0o600 });
  }
});

test('an intermediate not signed by the root is refused', () => {
  const inter = join(certs(), 'intermediate_ca.crt');
  const saved = readFileSync(inter);
  copyFileSync(join(certs(), 'root_ca.crt'), inter);
  try {
    // The root in place of the intermediate: the intermediate key no longer matches it.
    refusesWith(/^error: /);
  } finally {
    writeFileSync(inter, saved);
  }
});

test('a group- or world-readable key file is refused by default, and only warned about with keyPermissions "warn"', async () => {
  const key = join(secrets(), 'intermediate_ca_key');
  chmodSync(key, 0o644);
  try {
    refusesWith(/^error: .*intermediate_ca_key is open to other users \(mode 0644\): chmod 600 it/);
    const cfg = JSON.parse(readFileSync(ca.configPath, 'utf8'));
    cfg.stepstone.keyPermissions = 'warn';
    writeFileSync(ca.configPath, JSON.stringify(cfg, null, 2));
    const { proc, logs } = await serve(ca.home, ca.passwordFile);
    proc.kill('SIGTERM');
    await new Promise((res) => proc.once('exit', res));
    assert.ok(logs.some((l) => /"level":40.*open to other users/.test(l)), logs.join('\n'));
  } finally {
    chmodSync(key, 0o600);
  }
});
