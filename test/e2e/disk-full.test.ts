// A full disk under the ledger (issue 6): /sign answers 503 with step-ca's JSON and a clear
// message, issues nothing, and works again once space returns. The ledger lives on a small tmpfs,
// which needs root with CAP_SYS_ADMIN; elsewhere the test skips and says why, and under CI fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { request, startTestCa } from '../helpers/ca.ts';
import { mintToken, opensslCsr, provisionerKey } from '../helpers/tokens.ts';
import { markerId, waitForRequestLog } from '../helpers/logs.ts';
import { requireCapability } from '../helpers/capability.ts';

test('disk full: 503 and nothing issued; space back: issuing again', async (t) => {
  const mnt = mkdtempSync(join(tmpdir(), 'stepstone-full-'));
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt], { encoding: 'utf8' });
  if (mount.status !== 0) rmSync(mnt, { recursive: true, force: true });
  if (!requireCapability(t, mount.status === 0, `cannot mount a tmpfs to fill (${(mount.stderr || mount.error?.message || 'not root').trim()}); root with CAP_SYS_ADMIN is needed`)) return;
  // Unmounted however the test ends, a CA that never started included (issue 19).
  t.after(() => {
    spawnSync('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
  });
  const db = join(mnt, 'db', 'ledger.sqlite');
  mkdirSync(join(mnt, 'db'), { mode: 0o700 });
  const ca = await startTestCa({ configure: (c) => { c.db.dataSource = db; } });
  try {
    const admin = await provisionerKey(ca.configPath, ca.password);
    let lastId = '';
    const sign = async (cn: string) => {
      lastId = markerId(cn);
      return request(ca, 'POST', '/1.0/sign', { csr: opensslCsr(cn).csrPem, ott: await mintToken(admin, { aud: `${ca.url}/1.0/sign`, sub: cn }) }, { headers: { 'x-request-id': lastId } });
    };
    assert.equal((await sign('before.internal')).status, 201);
    const rows = () => {
      const d = new Database(db, { readonly: true });
      try { return (d.prepare('SELECT count(*) AS n FROM certificates').get() as { n: number }).n; } finally { d.close(); }
    };
    const before = rows();

    // Fill what is left of the filesystem.
    const filler = join(mnt, 'filler');
    spawnSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=4k'], { encoding: 'utf8' });
    let full;
    let issuedWhileFilling = 0;
    for (let i = 0; i < 20 && (!full || full.status === 201); i++) {
      full = await sign(`full-${i}.internal`);
      if (full.status === 201) issuedWhileFilling++;
    }
    assert.equal(full!.status, 503, full!.body);
    assert.equal(full!.json.status, 503);
    assert.equal(full!.json.message, 'The certificate authority is temporarily unavailable: its ledger is out of disk space; nothing was issued or recorded. Please retry later.');
    // This request's own log line, awaited (pino writes asynchronously): it names the SQLite code.
    await waitForRequestLog(ca.logs, lastId, 15_000, /ledger cannot write: SQLITE_FULL/);
    assert.equal((await request(ca, 'GET', '/health')).status, 200, 'the server stays up');

    rmSync(filler);
    const back = await sign('after.internal');
    assert.equal(back.status, 201, back.body);
    // Exactly what was answered 201 is in the ledger: the refused request left nothing behind.
    assert.equal(rows(), before + issuedWhileFilling + 1);
  } finally {
    await ca.cleanup();
  }
});
