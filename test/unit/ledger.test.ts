import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { CaError } from '../../src/errors.ts';
import type { CertificateRecord, TokenClaim } from '../../src/ledger/ledger.ts';
import { migrate, MIGRATIONS_DIR } from '../../src/ledger/migrate.ts';
import { openSqliteLedger, SqliteLedger } from '../../src/ledger/sqlite.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'stepstone-ledger-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

let n = 0;
/** A fresh database path in a not-yet-existing directory. */
const dbPath = () => path.join(root, `case-${++n}`, 'ledger.db');

const HOUR = 3600_000;
let serial = 1000n;
function cert(over: Partial<CertificateRecord> = {}): CertificateRecord {
  const s = (serial++).toString();
  const now = Date.now();
  return {
    serial: s,
    subject: `host-${s}.example`,
    sans: [`host-${s}.example`, '10.0.0.1', 'ops@example.com', 'spiffe://example/x'],
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 24 * HOUR),
    fingerprint: crypto.createHash('sha256').update(s).digest('hex'),
    provisioner: 'admin',
    pem: `-----BEGIN CERTIFICATE-----\nMII${s}\n-----END CERTIFICATE-----\n`,
    issuedAt: new Date(now),
    method: 'sign',
    replaces: null,
    ...over,
  };
}
const token = (jti: string, expiresAt = new Date(Date.now() + 5 * 60_000)): TokenClaim => ({ jti, provisioner: 'admin', expiresAt });

function rejectsWith(code: string) {
  return (err: unknown) => {
    assert.ok(err instanceof CaError, `expected CaError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  };
}

test('migrate creates the schema and records every version', async () => {
  const file = dbPath();
  const ledger = await openSqliteLedger(file);
  const tables = ledger.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
  assert.deepEqual(tables, ['certificates', 'crl_state', 'schema_version', 'used_tokens']);
  const versions = ledger.db.prepare('SELECT version, name FROM schema_version ORDER BY version').all();
  assert.deepEqual(versions, [{ version: 0, name: null }, { version: 1, name: 'init' }, { version: 2, name: 'revocation' }, { version: 3, name: 'crl' }, { version: 4, name: 'fingerprint-not-unique' }]);
  assert.equal(ledger.db.pragma('journal_mode', { simple: true }), 'wal');
  assert.equal(ledger.db.pragma('foreign_keys', { simple: true }), 1);
  assert.equal(ledger.db.pragma('synchronous', { simple: true }), 2); // FULL
  await ledger.close();
});

test('reopening does not re-apply migrations', async () => {
  const file = dbPath();
  await (await openSqliteLedger(file)).close();
  const db = new Database(file);
  try {
    assert.deepEqual(await migrate(db, MIGRATIONS_DIR), { from: 4, to: 4 });
  } finally {
    db.close();
  }
  const ledger = await openSqliteLedger(file);
  assert.equal(ledger.db.prepare('SELECT count(*) FROM schema_version WHERE version = 1').pluck().get(), 1);
  await ledger.close();
});

test('migration 4 rebuilds certificates without the fingerprint constraint and keeps every row, index and reference', async () => {
  // A ledger as version 3 left it, with a renewal chain, a revoked row and a spent token.
  const v3 = fs.mkdtempSync(path.join(root, 'v3-'));
  for (const f of fs.readdirSync(MIGRATIONS_DIR).filter((f) => /^000[1-3]\./.test(f))) fs.copyFileSync(path.join(MIGRATIONS_DIR, f), path.join(v3, f));
  const file = dbPath();
  const old = await openSqliteLedger(file, { migrationsDir: v3 });
  const first = cert();
  await old.recordIssuance(first, token('jti-m4'));
  const second = cert({ method: 'renew', replaces: first.serial });
  await old.recordIssuance(second);
  await old.recordIssuance(cert({ method: 'rekey', replaces: second.serial }));
  assert.equal(await old.revoke({ serial: first.serial, reasonCode: 1, reason: 'key compromise', revokedAt: new Date() }), 'revoked');
  const dump = (db: Database.Database) => db.prepare('SELECT * FROM certificates ORDER BY serial').all();
  const before = dump(old.db);
  assert.equal(old.db.prepare("SELECT count(*) FROM pragma_index_list('certificates') WHERE \"unique\" = 1 AND origin = 'u'").pluck().get(), 1);
  await old.close();

  const ledger = await openSqliteLedger(file);
  assert.deepEqual(dump(ledger.db), before);
  const indexes = ledger.db.prepare("SELECT name, \"unique\", origin, partial FROM pragma_index_list('certificates') ORDER BY name").all();
  assert.deepEqual(indexes, [
    { name: 'certificates_not_after', unique: 0, origin: 'c', partial: 0 },
    { name: 'certificates_provisioner', unique: 0, origin: 'c', partial: 0 },
    { name: 'certificates_replaces', unique: 0, origin: 'c', partial: 0 },
    { name: 'certificates_revoked_at', unique: 0, origin: 'c', partial: 1 },
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
  await ledger.close();
});

test('a migration that would break a reference is refused and changes nothing', async () => {
  const dir = fs.mkdtempSync(path.join(root, 'bad-'));
  for (const f of fs.readdirSync(MIGRATIONS_DIR)) fs.copyFileSync(path.join(MIGRATIONS_DIR, f), path.join(dir, f));
  const file = dbPath();
  const ledger = await openSqliteLedger(file, { migrationsDir: dir });
  const a = cert();
  await ledger.recordIssuance(a);
  await ledger.recordIssuance(cert({ method: 'renew', replaces: a.serial }));
  await ledger.close();
  fs.writeFileSync(path.join(dir, '0099.do.bad.sql'), `DELETE FROM certificates WHERE serial = '${a.serial}';\n`);
  await assert.rejects(openSqliteLedger(file, { migrationsDir: dir }), /would break 1 foreign key reference/);
  const db = new Database(file, { readonly: true });
  try {
    assert.equal(db.prepare('SELECT count(*) FROM certificates').pluck().get(), 2);
    assert.equal(db.prepare('SELECT max(version) FROM schema_version').pluck().get(), 4);
  } finally {
    db.close();
  }
});

test('a fresh database reports from 0 to 1', async () => {
  const db = new Database(path.join(root, `fresh-${++n}.db`));
  try {
    assert.deepEqual(await migrate(db, MIGRATIONS_DIR), { from: 0, to: 4 });
  } finally {
    db.close();
  }
});

test('migrations are found even when their directory path has glob characters', async () => {
  const dir = path.join(root, 'odd [dir] {a,b} (x)*?');
  fs.mkdirSync(dir);
  for (const f of fs.readdirSync(MIGRATIONS_DIR)) fs.copyFileSync(path.join(MIGRATIONS_DIR, f), path.join(dir, f));
  const ledger = await openSqliteLedger(dbPath(), { migrationsDir: dir });
  assert.equal(await ledger.countCertificates(), 0);
  await ledger.close();
});

test('an empty migrations directory is an error, not an empty ledger', async () => {
  const dir = fs.mkdtempSync(path.join(root, 'empty-'));
  await assert.rejects(openSqliteLedger(dbPath(), { migrationsDir: dir }), /no ledger migrations found/);
});

test('a database with a newer schema version is refused and left untouched', async () => {
  const file = dbPath();
  await (await openSqliteLedger(file)).close();
  const raw = new Database(file);
  raw.prepare("INSERT INTO schema_version (version, name) VALUES (7, 'future')").run();
  raw.pragma('journal_mode = DELETE'); // so every byte of state is in the one file we compare
  raw.close();
  const before = fs.readFileSync(file);

  await assert.rejects(
    openSqliteLedger(file),
    (err: Error) =>
      /ledger schema version 7 is newer than this Stepstone knows \(max 4\); upgrade Stepstone or restore a matching backup/.test(
        err.message,
      ),
  );
  assert.ok(fs.readFileSync(file).equals(before), 'database file changed');
  assert.ok(!fs.existsSync(`${file}-wal`));
});

test('the database file is created 0600 in a 0700 directory', async () => {
  const file = dbPath();
  const ledger = await openSqliteLedger(file);
  await ledger.recordIssuance(cert());
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  assert.equal(fs.statSync(path.dirname(file)).mode & 0o777, 0o700);
  assert.equal(fs.statSync(`${file}-wal`).mode & 0o777, 0o600);
  await ledger.close();
});

test('recordIssuance then getCertificate round-trips every field', async () => {
  const ledger = await openSqliteLedger(dbPath());
  const first = cert({ provisioner: null, subject: '', sans: [] });
  const second = cert({ method: 'renew', replaces: first.serial, sans: ['a.example', 'ünïcode.example'] });
  await ledger.recordIssuance(first);
  await ledger.recordIssuance(second, token('jti-rt'));
  const notRevoked = { revokedAt: null, revocationReasonCode: null, revocationReason: null };
  assert.deepEqual(await ledger.getCertificate(first.serial), { ...first, ...notRevoked });
  assert.deepEqual(await ledger.getCertificate(second.serial), { ...second, ...notRevoked });
  assert.equal(await ledger.getCertificate('999999999'), null);
  assert.equal(await ledger.countCertificates(), 2);
  await ledger.close();
});

test('the same jti twice is token_used and the second certificate is not recorded', async () => {
  const ledger = await openSqliteLedger(dbPath());
  assert.equal(await ledger.isTokenUsed('jti-1'), false);
  await ledger.recordIssuance(cert(), token('jti-1'));
  assert.equal(await ledger.isTokenUsed('jti-1'), true);
  const replay = cert();
  await assert.rejects(ledger.recordIssuance(replay, token('jti-1')), rejectsWith('token_used'));
  assert.equal(await ledger.countCertificates(), 1);
  assert.equal(await ledger.getCertificate(replay.serial), null);
  await ledger.close();
});

test('a failed certificate insert does not spend the token', async () => {
  const ledger = await openSqliteLedger(dbPath());
  const c = cert();
  await ledger.recordIssuance(c);
  // Duplicate serial: a plain constraint error (a bug, not a replay), and the whole transaction rolls back.
  await assert.rejects(ledger.recordIssuance({ ...c, fingerprint: 'ff' }, token('jti-dup')), (err: unknown) => !(err instanceof CaError));
  assert.equal(await ledger.isTokenUsed('jti-dup'), false);
  await ledger.close();
});

test('listCertificates filters by expiry window, provisioner and limit, ordered by issuedAt', async () => {
  const ledger = await openSqliteLedger(dbPath());
  const now = Date.now();
  const expired = cert({ notAfter: new Date(now - HOUR), issuedAt: new Date(now - 5000) });
  const soon = cert({ notAfter: new Date(now + HOUR), issuedAt: new Date(now - 4000), provisioner: 'acme' });
  const later = cert({ notAfter: new Date(now + 48 * HOUR), issuedAt: new Date(now - 3000) });
  const soonToo = cert({ notAfter: new Date(now + 2 * HOUR), issuedAt: new Date(now - 6000) });
  for (const c of [expired, soon, later, soonToo]) await ledger.recordIssuance(c);
  const serials = (cs: CertificateRecord[]) => cs.map((c) => c.serial);

  assert.deepEqual(serials(await ledger.listCertificates()), serials([soonToo, expired, soon, later]));
  assert.deepEqual(serials(await ledger.listCertificates({ expiringBefore: new Date(now + 24 * HOUR) })), serials([soonToo, soon]));
  assert.deepEqual(serials(await ledger.listCertificates({ provisioner: 'acme' })), serials([soon]));
  assert.deepEqual(serials(await ledger.listCertificates({ provisioner: 'admin', expiringBefore: new Date(now + 24 * HOUR) })), serials([soonToo]));
  assert.deepEqual(serials(await ledger.listCertificates({ limit: 2 })), serials([soonToo, expired]));
  assert.deepEqual(await ledger.listCertificates({ limit: 0 }), []);
  await assert.rejects(ledger.listCertificates({ limit: -1 }), RangeError);
  await ledger.close();
});

test('pruneUsedTokens deletes only rows that expired before the cut-off', async () => {
  const ledger = await openSqliteLedger(dbPath());
  const now = Date.now();
  await ledger.recordIssuance(cert(), token('old', new Date(now - HOUR)));
  await ledger.recordIssuance(cert(), token('older', new Date(now - 2 * HOUR)));
  await ledger.recordIssuance(cert(), token('fresh', new Date(now + HOUR)));
  assert.equal(await ledger.pruneUsedTokens(new Date(now)), 2);
  assert.equal(await ledger.isTokenUsed('old'), false);
  assert.equal(await ledger.isTokenUsed('older'), false);
  assert.equal(await ledger.isTokenUsed('fresh'), true);
  assert.equal(await ledger.pruneUsedTokens(new Date(now)), 0);
  assert.equal(await ledger.countCertificates(), 3, 'pruning tokens never touches certificates');
  await ledger.close();
});

// Tests run as root, which writes through chmod 0444, so a file-mode trick would prove nothing.
// Instead: a connection SQLite itself opened read-only, and a database capped at its current size.
test('a read-only store maps to unavailable and records nothing', async () => {
  const file = dbPath();
  await (await openSqliteLedger(file)).close();
  const ledger = new SqliteLedger(new Database(file, { readonly: true }));
  const c = cert();
  await assert.rejects(ledger.recordIssuance(c, token('jti-ro')), (err: unknown) => {
    rejectsWith('unavailable')(err);
    assert.match((err as CaError).detail, /^ledger cannot write: SQLITE_READONLY/);
    assert.equal((err as CaError).status, 503);
    return true;
  });
  await ledger.close();
  const check = await openSqliteLedger(file);
  assert.equal(await check.countCertificates(), 0);
  assert.equal(await check.isTokenUsed('jti-ro'), false);
  await check.close();
});

// max_page_count is per connection, so this one commits inline on the connection it limits.
test('a full disk maps to unavailable and records nothing', async () => {
  const ledger = await openSqliteLedger(dbPath(), { writer: 'inline' });
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
  await ledger.close();
});

test('lineage lists the whole renewal chain, oldest first, from any member', async () => {
  const ledger = await openSqliteLedger(dbPath());
  const a = cert({ issuedAt: new Date(1000) });
  const b = cert({ method: 'renew', replaces: a.serial, issuedAt: new Date(2000) });
  const c = cert({ method: 'rekey', replaces: b.serial, issuedAt: new Date(3000) });
  const other = cert({ issuedAt: new Date(1500) });
  for (const x of [a, other, b, c]) await ledger.recordIssuance(x);
  for (const from of [a, b, c]) {
    assert.deepEqual((await ledger.lineage(from.serial)).map((r) => r.serial), [a.serial, b.serial, c.serial]);
  }
  assert.deepEqual((await ledger.lineage(other.serial)).map((r) => r.serial), [other.serial]);
  assert.deepEqual(await ledger.lineage('424242'), []);
  await ledger.close();
});

test('revoke: marks once, spends the token only when it revoked, and says why it did not', async () => {
  const ledger = await openSqliteLedger(dbPath());
  const c = cert();
  await ledger.recordIssuance(c);
  const at = new Date(1_800_000_000_000);
  assert.equal(await ledger.revoke({ serial: '31337', reasonCode: 1, reason: 'x', revokedAt: at }, token('t-unknown')), 'not_found');
  assert.equal(await ledger.isTokenUsed('t-unknown'), false);
  assert.equal(await ledger.revoke({ serial: c.serial, reasonCode: 1, reason: 'key compromise', revokedAt: at }, token('t-1')), 'revoked');
  assert.equal(await ledger.isTokenUsed('t-1'), true);
  const stored = await ledger.getCertificate(c.serial);
  assert.deepEqual([stored!.revokedAt, stored!.revocationReasonCode, stored!.revocationReason], [at, 1, 'key compromise']);
  assert.equal(await ledger.revoke({ serial: c.serial, reasonCode: 4, reason: 'again', revokedAt: new Date() }, token('t-2')), 'already_revoked');
  assert.equal(await ledger.isTokenUsed('t-2'), false);
  assert.equal((await ledger.getCertificate(c.serial))!.revocationReasonCode, 1, 'the first revocation stands');
  // A replayed token rolls the revocation back.
  const d = cert();
  await ledger.recordIssuance(d);
  await assert.rejects(ledger.revoke({ serial: d.serial, reasonCode: 0, reason: '', revokedAt: at }, token('t-1')), rejectsWith('token_used'));
  assert.equal((await ledger.getCertificate(d.serial))!.revokedAt, null);
  await ledger.close();
});

test('listRevoked drops expired certificates; list filter revoked; CRL numbers only increase', async () => {
  const ledger = await openSqliteLedger(dbPath());
  const live = cert();
  const gone = cert({ notAfter: new Date(Date.now() - HOUR) });
  const good = cert();
  for (const c of [live, gone, good]) await ledger.recordIssuance(c);
  for (const c of [live, gone]) await ledger.revoke({ serial: c.serial, reasonCode: 5, reason: '', revokedAt: new Date() });
  assert.deepEqual((await ledger.listRevoked(new Date())).map((e) => [e.serial, e.reasonCode]), [[live.serial, 5]]);
  assert.deepEqual((await ledger.listCertificates({ revoked: true })).map((r) => r.serial), [live.serial, gone.serial]);
  assert.deepEqual([await ledger.nextCrlNumber(), await ledger.nextCrlNumber(), await ledger.nextCrlNumber()], [1, 2, 3]);
  await ledger.close();
});

test('group commit: concurrent issuances share a transaction, and a replayed token fails alone', async () => {
  const ledger = await openSqliteLedger(dbPath());
  await ledger.recordIssuance(cert(), token('spent'));
  const framesFor = async (write: () => Promise<unknown>) => {
    ledger.db.pragma('wal_checkpoint(TRUNCATE)');
    await write();
    return (ledger.db.pragma('wal_checkpoint(PASSIVE)') as { log: number }[])[0]!.log;
  };
  const batch = Array.from({ length: 20 }, (_, i) => cert({ subject: `batch-${i}` }));
  let results: PromiseSettledResult<void>[] = [];
  const grouped = await framesFor(async () => {
    results = await Promise.allSettled(batch.map((c, i) => ledger.recordIssuance(c, token(i === 7 ? 'spent' : `fresh-${i}`))));
  });
  assert.deepEqual(results.map((r) => r.status), batch.map((_, i) => (i === 7 ? 'rejected' : 'fulfilled')));
  assert.equal((results[7] as PromiseRejectedResult).reason.code, 'token_used');
  assert.equal(await ledger.getCertificate(batch[7]!.serial), null, 'the replay rolled back to its savepoint');
  assert.equal(await ledger.countCertificates(), 20);
  const sequential = await framesFor(async () => {
    for (let i = 0; i < 20; i++) await ledger.recordIssuance(cert(), token(`seq-${i}`));
  });
  assert.ok(grouped * 4 < sequential, `WAL frames: ${grouped} grouped vs ${sequential} one by one`);
  await ledger.close();
});
