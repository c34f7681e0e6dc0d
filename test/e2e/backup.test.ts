// `stepstone backup` while the CA serves, and `stepstone ledger verify` on the copy and the live
// ledger: a consistent copy, 0600, and a verifier that notices a tampered row.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { BIN, cli, request, startTestCa, type TestCa } from '../helpers/ca.ts';
import { mintToken, opensslCsr, provisionerKey, type ProvisionerKey } from '../helpers/tokens.ts';

let ca: TestCa;
let admin: ProvisionerKey;
before(async () => {
  ca = await startTestCa({ configure: (c) => { c.stepstone.rateLimit = { enabled: false }; } });
  admin = await provisionerKey(ca.configPath, ca.password);
});
after(() => ca.cleanup());

async function sign(cn: string): Promise<number> {
  const r = await request(ca, 'POST', '/1.0/sign', { csr: opensslCsr(cn).csrPem, ott: await mintToken(admin, { aud: `${ca.url}/1.0/sign`, sub: cn }) });
  return r.status;
}

test('backup during /sign load: a consistent 0600 copy that ledger verify accepts', async () => {
  for (let i = 0; i < 5; i++) assert.equal(await sign(`pre-${i}.internal`), 201);
  const out = join(ca.dir, 'ledger-backup.sqlite');
  const load = Promise.all(Array.from({ length: 30 }, (_, i) => sign(`during-${i}.internal`)));
  const backup = promisify(execFile)(process.execPath, [BIN, 'backup', out, '--home', ca.home]);
  const [statuses, b] = await Promise.all([load, backup]);
  assert.ok(statuses.every((s) => s === 201));
  assert.match(b.stderr, /backed up \d+ certificate records/);
  assert.equal(statSync(out).mode & 0o777, 0o600);
  const copy = new Database(out, { readonly: true });
  const n = (copy.prepare('SELECT count(*) AS n FROM certificates').get() as { n: number }).n;
  assert.equal(copy.pragma('journal_mode', { simple: true }), 'delete', 'one self-contained file, not a WAL database');
  copy.close();
  assert.ok(n >= 5, `the copy holds ${n} rows`);

  const onCopy = cli(['ledger', 'verify', '--db', out, '--home', ca.home]);
  assert.equal(onCopy.status, 0, onCopy.stderr);
  assert.match(onCopy.stdout, /signatures checked/);
  const live = cli(['ledger', 'verify', '--home', ca.home]);
  assert.equal(live.status, 0, live.stderr);
  assert.match(live.stdout, /ledger verify: ok/);

  const again = cli(['backup', out, '--home', ca.home]);
  assert.notEqual(again.status, 0);
  assert.match(again.stderr, /already exists/);
});

test('ledger verify finds a tampered row and exits non-zero with one line per problem', async () => {
  const out = join(ca.dir, 'tamper-source.sqlite');
  assert.equal(cli(['backup', out, '--home', ca.home]).status, 0);
  const tampered = join(ca.dir, 'tampered.sqlite');
  copyFileSync(out, tampered);
  const db = new Database(tampered);
  const row = db.prepare('SELECT serial FROM certificates WHERE method = ? LIMIT 1').get('sign') as { serial: string };
  db.prepare('UPDATE certificates SET subject = ?, not_after = not_after + 86400000 WHERE serial = ?').run('evil.internal', row.serial);
  db.close();
  const r = cli(['ledger', 'verify', '--db', tampered, '--home', ca.home]);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stdout, new RegExp(`${row.serial}: subject column "evil.internal"`));
  assert.match(r.stdout, new RegExp(`${row.serial}: validity columns`));
  assert.match(r.stderr, /^error: ledger verify: 2 problems/m);
});
