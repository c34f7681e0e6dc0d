// SQLite-only ledger behaviour: the file, its WAL, its migrations, full and read-only stores, and
// group commit measured in WAL frames. The backend-neutral contract is in ledger.test.ts.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { CaError } from '../../src/errors.ts';
import { migrate } from '../../src/ledger/migrate.ts';
import { MIGRATIONS_DIR } from '../../src/ledger/migrations-dir.ts';
import { openSqliteLedger, SqliteLedger } from '../../src/ledger/sqlite.ts';
import { cert, rejectsWith, token } from '../helpers/ledger-rows.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'stepstone-ledger-sqlite-'));
/** The migrations this build ships, by number: the tests follow them rather than restate them. */
const SHIPPED = fs.readdirSync(MIGRATIONS_DIR).map((f) => /^(\d+)\.do\.(.+)\.sql$/.exec(f)).filter((m) => m !== null)
  .map((m) => ({ version: Number(m[1]), name: m[2]! })).sort((a, b) => a.version - b.version);
const LATEST = SHIPPED.at(-1)!.version;
after(() => fs.rmSync(root, { recursive: true, force: true }));

let n = 0;
/** A fresh database path in a not-yet-existing directory. */
const dbPath = () => path.join(root, `case-${++n}`, 'ledger.db');

/** Opens a ledger that is closed when the test ends, passed or failed (issue 19). */
async function opened(t: { after(fn: () => Promise<void>): void }, ...args: Parameters<typeof openSqliteLedger>): Promise<SqliteLedger> {
  const ledger = await openSqliteLedger(...args);
  t.after(() => ledger.close());
  return ledger;
}

test('migrate creates the schema and records every version', async (t) => {
  const file = dbPath();
  const ledger = await opened(t, file);
  const tables = ledger.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
  assert.deepEqual(tables, ['acme_accounts', 'acme_authorizations', 'acme_eab_keys', 'acme_nonces', 'acme_orders', 'audit_events', 'audit_head', 'certificates', 'crl_state', 'notices', 'schema_version', 'used_tokens', 'webhook_cursors']);
  const versions = ledger.db.prepare('SELECT version, name FROM schema_version ORDER BY version').all();
  assert.deepEqual(versions, [{ version: 0, name: null }, ...SHIPPED]);
  assert.deepEqual(SHIPPED.slice(0, 4).map((m) => m.name), ['init', 'revocation', 'crl', 'fingerprint-not-unique']);
  assert.equal(ledger.db.pragma('journal_mode', { simple: true }), 'wal');
  assert.equal(ledger.db.pragma('foreign_keys', { simple: true }), 1);
  assert.equal(ledger.db.pragma('synchronous', { simple: true }), 2); // FULL
  // 4 MiB: the page cache is resident memory (issue 18, bench/README.md's fifth round).
  assert.equal(ledger.db.pragma('cache_size', { simple: true }), -4096);
});

test('reopening does not re-apply migrations', async (t) => {
  const file = dbPath();
  await (await openSqliteLedger(file)).close();
  const db = new Database(file);
  try {
    assert.deepEqual(await migrate(db, MIGRATIONS_DIR), { from: LATEST, to: LATEST });
  } finally {
    db.close();
  }
  const ledger = await opened(t, file);
  assert.equal(ledger.db.prepare('SELECT count(*) FROM schema_version WHERE version = 1').pluck().get(), 1);
});

test('migration 4 rebuilds certificates without the fingerprint constraint and keeps every row, index and reference', async (t) => {
  // A ledger as version 3 left it, with a renewal chain, a revoked row and a spent token.
  const v3 = fs.mkdtempSync(path.join(root, 'v3-'));
  for (const f of fs.readdirSync(MIGRATIONS_DIR).filter((f) => /^000[1-3]\./.test(f))) fs.copyFileSync(path.join(MIGRATIONS_DIR, f), path.join(v3, f));
  const file = dbPath();
  // Rows written as version 3 held them, in its own columns: today's writer knows later columns.
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const old = new Database(file);
  await migrate(old, v3);
  const insert = old.prepare(`INSERT INTO certificates (serial, subject, sans, not_before, not_after, fingerprint, provisioner, pem, issued_at, method, replaces)
    VALUES (@serial, @subject, @sans, @notBefore, @notAfter, @fingerprint, @provisioner, @pem, @issuedAt, @method, @replaces)`);
  const write = (c: ReturnType<typeof cert>) => insert.run({ ...c, sans: JSON.stringify(c.sans), notBefore: c.notBefore.getTime(), notAfter: c.notAfter.getTime(), issuedAt: c.issuedAt.getTime(), issuer: undefined });
  const first = cert();
  write(first);
  old.prepare('INSERT INTO used_tokens (jti, provisioner, expires_at, used_at) VALUES (?, ?, ?, ?)').run('jti-m4', 'admin', Date.now() + 300_000, Date.now());
  const second = cert({ method: 'renew', replaces: first.serial });
  write(second);
  write(cert({ method: 'rekey', replaces: second.serial }));
  old.prepare('UPDATE certificates SET revoked_at = ?, revocation_reason_code = 1, revocation_reason = ? WHERE serial = ?').run(Date.now(), 'key compromise', first.serial);
  const V3_COLUMNS = 'serial, subject, sans, not_before, not_after, fingerprint, provisioner, pem, issued_at, method, replaces, revoked_at, revocation_reason_code, revocation_reason';
  const dump = (db: Database.Database) => db.prepare(`SELECT ${V3_COLUMNS} FROM certificates ORDER BY serial`).all();
  const before = dump(old);
  assert.equal(before.length, 3);
  assert.equal(old.prepare("SELECT count(*) FROM pragma_index_list('certificates') WHERE \"unique\" = 1 AND origin = 'u'").pluck().get(), 1);
  old.close();

  const ledger = await opened(t, file);
  assert.deepEqual(dump(ledger.db), before);
  const indexes = ledger.db.prepare("SELECT name, \"unique\", origin, partial FROM pragma_index_list('certificates') ORDER BY name").all();
  assert.deepEqual(indexes, [
    { name: 'certificates_issued_at', unique: 0, origin: 'c', partial: 0 },
    { name: 'certificates_not_after', unique: 0, origin: 'c', partial: 0 },
    { name: 'certificates_provisioner_issued_at', unique: 0, origin: 'c', partial: 0 },
    { name: 'certificates_replaces', unique: 0, origin: 'c', partial: 0 },
    { name: 'certificates_revoked_at', unique: 0, origin: 'c', partial: 1 },
    { name: 'certificates_revoked_issuer', unique: 0, origin: 'c', partial: 1 },
    { name: 'certificates_serving', unique: 0, origin: 'c', partial: 1 },
    { name: 'certificates_subject', unique: 0, origin: 'c', partial: 0 },
    { name: 'sqlite_autoindex_certificates_1', unique: 1, origin: 'pk', partial: 0 },
  ]);
  // Still enforced after the rebuild: the reference, the serial key, the checks.
  assert.equal(ledger.db.pragma('foreign_keys', { simple: true }), 1);
  assert.deepEqual(ledger.db.pragma('foreign_key_check'), []);
  await assert.rejects(ledger.recordIssuance(cert({ method: 'renew', replaces: '999999' })), /FOREIGN KEY/);
  await assert.rejects(ledger.recordIssuance({ ...cert(), serial: first.serial }), /UNIQUE|PRIMARY/);
  assert.equal(await ledger.isTokenUsed('jti-m4'), true);
  assert.deepEqual((await ledger.lineage(second.serial)).map((c) => c.serial), [first.serial, second.serial, (await ledger.listCertificates({})).at(-1)!.serial]);
  assert.equal((await ledger.getCertificate(first.serial))?.revokedAt instanceof Date, true);
});

test('a migration that would break a reference is refused and changes nothing', async (t) => {
  const dir = fs.mkdtempSync(path.join(root, 'bad-'));
  for (const f of fs.readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith('.sql'))) fs.copyFileSync(path.join(MIGRATIONS_DIR, f), path.join(dir, f));
  const file = dbPath();
  const ledger = await opened(t, file, { migrationsDir: dir });
  const a = cert();
  await ledger.recordIssuance(a);
  await ledger.recordIssuance(cert({ method: 'renew', replaces: a.serial }));
  fs.writeFileSync(path.join(dir, '0099.do.bad.sql'), `DELETE FROM certificates WHERE serial = '${a.serial}';\n`);
  await assert.rejects(openSqliteLedger(file, { migrationsDir: dir }), /would break 1 foreign key reference/);
  const db = new Database(file, { readonly: true });
  try {
    assert.equal(db.prepare('SELECT count(*) FROM certificates').pluck().get(), 2);
    assert.equal(db.prepare('SELECT max(version) FROM schema_version').pluck().get(), LATEST);
  } finally {
    db.close();
  }
});

test('a fresh database reports from 0 to 1', async (t) => {
  const db = new Database(path.join(root, `fresh-${++n}.db`));
  try {
    assert.deepEqual(await migrate(db, MIGRATIONS_DIR), { from: 0, to: LATEST });
  } finally {
    db.close();
  }
});

test('migrations are found even when their directory path has glob characters', async (t) => {
  const dir = path.join(root, 'odd [dir] {a,b} (x)*?');
  fs.mkdirSync(dir);
  for (const f of fs.readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith('.sql'))) fs.copyFileSync(path.join(MIGRATIONS_DIR, f), path.join(dir, f));
  const ledger = await opened(t, dbPath(), { migrationsDir: dir });
  assert.equal(await ledger.countCertificates(), 0);
});

test('an empty migrations directory is an error, not an empty ledger', async (t) => {
  const dir = fs.mkdtempSync(path.join(root, 'empty-'));
  await assert.rejects(openSqliteLedger(dbPath(), { migrationsDir: dir }), /no ledger migrations found/);
});

test('a database with a newer schema version is refused and left untouched', async (t) => {
  const file = dbPath();
  await (await openSqliteLedger(file)).close();
  const raw = new Database(file);
  raw.prepare("INSERT INTO schema_version (version, name) VALUES (?, 'future')").run(LATEST + 100);
  raw.pragma('journal_mode = DELETE'); // so every byte of state is in the one file we compare
  raw.close();
  const before = fs.readFileSync(file);

  await assert.rejects(
    openSqliteLedger(file),
    (err: Error) => err.message.includes(`ledger schema version ${LATEST + 100} is newer than this Stepstone knows (max ${LATEST}); upgrade Stepstone or restore a matching backup`),
  );
  assert.ok(fs.readFileSync(file).equals(before), 'database file changed');
  assert.ok(!fs.existsSync(`${file}-wal`));
});

// The server migrates on a short-lived thread (migrateOn: 'thread', so postgrator never stays
// loaded in it): the same schema, the same refusals, nothing left behind.
test('migrating on a thread of its own: the same schema, and a refused database left untouched', async (t) => {
  const file = dbPath();
  const ledger = await opened(t, file, { migrateOn: 'thread' });
  const versions = ledger.db.prepare('SELECT version, name FROM schema_version ORDER BY version').all();
  assert.deepEqual(versions, [{ version: 0, name: null }, ...SHIPPED]);
  assert.equal(ledger.db.pragma('journal_mode', { simple: true }), 'wal');
  await ledger.recordIssuance(cert(), token('jti-thread'));
  assert.equal(await ledger.countCertificates(), 1);

  const newer = dbPath();
  await (await openSqliteLedger(newer)).close();
  const raw = new Database(newer);
  raw.prepare("INSERT INTO schema_version (version, name) VALUES (?, 'future')").run(LATEST + 100);
  raw.pragma('journal_mode = DELETE');
  raw.close();
  const before = fs.readFileSync(newer);
  await assert.rejects(openSqliteLedger(newer, { migrateOn: 'thread' }),
    (err: Error) => err.message.includes(`ledger schema version ${LATEST + 100} is newer than this Stepstone knows (max ${LATEST})`));
  assert.ok(fs.readFileSync(newer).equals(before), 'database file changed');
  assert.ok(!fs.existsSync(`${newer}-wal`));

  const empty = fs.mkdtempSync(path.join(root, 'empty-thread-'));
  await assert.rejects(openSqliteLedger(dbPath(), { migrationsDir: empty, migrateOn: 'thread' }), /no ledger migrations found/);
});

test('the database file is created 0600 in a 0700 directory', async (t) => {
  const file = dbPath();
  const ledger = await opened(t, file);
  await ledger.recordIssuance(cert());
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  assert.equal(fs.statSync(path.dirname(file)).mode & 0o777, 0o700);
  assert.equal(fs.statSync(`${file}-wal`).mode & 0o777, 0o600);
});

// Tests run as root, which writes through chmod 0444, so a file-mode trick would prove nothing.
// Instead: a connection SQLite itself opened read-only, and a database capped at its current size.
test('a read-only store maps to unavailable and records nothing', async (t) => {
  const file = dbPath();
  await (await openSqliteLedger(file)).close();
  const ledger = new SqliteLedger(new Database(file, { readonly: true }), { writer: 'inline' });
  t.after(() => ledger.close());
  const c = cert();
  await assert.rejects(ledger.recordIssuance(c, token('jti-ro')), (err: unknown) => {
    rejectsWith('unavailable')(err);
    assert.match((err as CaError).detail, /^ledger cannot write: SQLITE_READONLY/);
    assert.equal((err as CaError).status, 503);
    return true;
  });
  const check = await opened(t, file);
  assert.equal(await check.countCertificates(), 0);
  assert.equal(await check.isTokenUsed('jti-ro'), false);
});

// max_page_count is per connection, so this one commits inline on the connection it limits.
test('a full disk maps to unavailable and records nothing', async (t) => {
  const ledger = await opened(t, dbPath(), { writer: 'inline' });
  await ledger.recordIssuance(cert());
  const pages = ledger.db.pragma('page_count', { simple: true });
  ledger.db.pragma(`max_page_count = ${String(pages)}`);
  const big = cert({ pem: 'x'.repeat(64 * 1024) });
  await assert.rejects(ledger.recordIssuance(big, token('jti-full')), (err: unknown) => {
    rejectsWith('unavailable')(err);
    assert.match((err as CaError).detail, /^ledger cannot write: SQLITE_FULL/);
    return true;
  });
  assert.equal(await ledger.countCertificates(), 1);
  assert.equal(await ledger.isTokenUsed('jti-full'), false);
});

test('group commit: concurrent issuances share one transaction (WAL frames)', async (t) => {
  const ledger = await opened(t, dbPath());
  const framesFor = async (write: () => Promise<unknown>) => {
    ledger.db.pragma('wal_checkpoint(TRUNCATE)');
    await write();
    return (ledger.db.pragma('wal_checkpoint(PASSIVE)') as { log: number }[])[0]!.log;
  };
  const grouped = await framesFor(() => Promise.all(Array.from({ length: 20 }, (_, i) => ledger.recordIssuance(cert(), token(`grp-${i}`)))));
  const sequential = await framesFor(async () => {
    for (let i = 0; i < 20; i++) await ledger.recordIssuance(cert(), token(`seq-${i}`));
  });
  assert.ok(grouped * 4 < sequential, `WAL frames: ${grouped} grouped vs ${sequential} one by one`);
});
