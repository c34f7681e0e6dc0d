// Start-up refusals (issue 6): a CA whose key or certificates are missing, mismatched or exposed
// does not start, and says which file and why in one line.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, serve, startTestCa, stopProc, type TestCa } from '../helpers/ca.ts';
import { waitForLog } from '../helpers/logs.ts';

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
  // The intermediate's own key and subject, certified by another root: the key matches, so only
  // the chains-to-root check can refuse it.
  const inter = join(certs(), 'intermediate_ca.crt');
  const saved = readFileSync(inter);
  const work = mkdtempSync(join(tmpdir(), 'other-root-'));
  const openssl = (args: string[]) => {
    const r = spawnSync('openssl', args, { encoding: 'utf8' });
    assert.equal(r.status, 0, `openssl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  try {
    const at = (f: string) => join(work, f);
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', at('other.key'), '-out', at('other.crt'),
      '-subj', '/CN=Another Root CA', '-days', '2', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    const subject = openssl(['x509', '-in', inter, '-noout', '-subject', '-nameopt', 'compat']).replace(/^subject=/, '').trim();
    openssl(['req', '-new', '-key', join(secrets(), 'intermediate_ca_key'), '-passin', `file:${ca.passwordFile}`, '-subj', subject, '-out', at('inter.csr')]);
    writeFileSync(at('ext.cnf'), 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n');
    openssl(['x509', '-req', '-in', at('inter.csr'), '-CA', at('other.crt'), '-CAkey', at('other.key'), '-set_serial', '4242', '-days', '1', '-extfile', at('ext.cnf'), '-out', inter]);
    // It is a good intermediate in every way but its issuer.
    openssl(['verify', '-CAfile', at('other.crt'), inter]);
    refusesWith(/^error: the intermediate .* is not signed by any configured root$/);
  } finally {
    writeFileSync(inter, saved);
    rmSync(work, { recursive: true, force: true });
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
    try {
      // Awaited, not read once: the warning may reach us after the address line.
      await waitForLog(logs, /"level":40.*open to other users/, 15_000);
    } finally {
      await stopProc(proc);
    }
  } finally {
    chmodSync(key, 0o600);
  }
});
