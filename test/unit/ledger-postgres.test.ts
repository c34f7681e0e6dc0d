// PostgreSQL-only ledger behaviour, on the real server: migrations under the advisory lock (many
// replicas opening at once), the two dialects' histories, a newer schema refused, the password
// kept out of every error, a connection lost mid-commit, LISTEN/NOTIFY between two ledgers, and
// `ledger copy` both ways. Each run uses its own randomly named databases and drops them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { CaError } from '../../src/errors.ts';
import { MIGRATIONS_DIR, PG_MIGRATIONS_DIR } from '../../src/ledger/migrations-dir.ts';
import { openPostgresLedger, type PostgresLedger } from '../../src/ledger/postgres.ts';
import type { AuditEventInput } from '../../src/ledger/ledger.ts';
import { pgSource } from '../../src/ledger/pg-source.ts';
import { copyLedger } from '../../src/ledger/copy.ts';
import { openRaw } from '../../src/ledger/raw.ts';
import { openSqliteLedger } from '../../src/ledger/sqlite.ts';
import { loadConfig } from '../../src/config/load.ts';
import { createDatabase, postgresMissing, type TestDatabase } from '../helpers/postgres.ts';
import { cert, rejectsWith, token } from '../helpers/ledger-rows.ts';
import { requireCapability } from '../helpers/capability.ts';

let skip: string | null = null;
const dbs: TestDatabase[] = [];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'stepstone-pg-'));
before(async () => { skip = await postgresMissing(); });
after(async () => {
  await Promise.all(dbs.map((d) => d.drop()));
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function database(): Promise<TestDatabase> {
  const d = await createDatabase();
  dbs.push(d);
  return d;
}

async function opened(t: { after(fn: () => Promise<void>): void }, url: string, o: Parameters<typeof openPostgresLedger>[1] = {}): Promise<PostgresLedger> {
  const l = await openPostgresLedger(pgSource({ type: 'postgresql', dataSource: url }), o);
  t.after(() => l.close());
  return l;
}

const versions = (dir: string) => fs.readdirSync(dir).filter((f) => f.endsWith('.sql')).sort();

test('every migration has a PostgreSQL twin with the same number and name', () => {
  assert.deepEqual(versions(PG_MIGRATIONS_DIR), versions(MIGRATIONS_DIR));
});

test('replicas opening a fresh database at once migrate it exactly once', async (t) => {
  if (!requireCapability(t, !skip, skip)) return;
  const d = await database();
  const ledgers = await Promise.all(Array.from({ length: 5 }, () => opened(t, d.url)));
  const { rows } = await ledgers[0]!.pool.query('SELECT version, name FROM schema_version ORDER BY version');
  assert.deepEqual(rows, [{ version: 0, name: null }, ...versions(PG_MIGRATIONS_DIR).map((f) => {
    const [, v, name] = /^(\d+)\.do\.(.+)\.sql$/.exec(f)!;
    return { version: Number(v), name };
  })]);
  const tables = await ledgers[0]!.pool.query("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1");
  assert.deepEqual(tables.rows.map((r) => r.tablename), ['acme_accounts', 'acme_authorizations', 'acme_eab_keys', 'acme_nonces', 'acme_orders', 'audit_events', 'audit_head', 'certificates', 'crl_state', 'notices', 'schema_version', 'used_tokens', 'webhook_cursors']);
  // All five work on the same rows.
  await ledgers[1]!.recordIssuance(cert(), token('shared'));
  assert.equal(await ledgers[4]!.isTokenUsed('shared'), true);
});

test('a database with a newer schema version is refused and left untouched', async (t) => {
  if (!requireCapability(t, !skip, skip)) return;
  const d = await database();
  await (await openPostgresLedger(pgSource({ type: 'postgresql', dataSource: d.url }))).close();
  const c = new pg.Client({ connectionString: d.url });
  await c.connect();
  t.after(() => c.end());
  const latest = Math.max(...versions(PG_MIGRATIONS_DIR).map((f) => Number(/^(\d+)/.exec(f)![1])));
  const future = latest + 100;
  await c.query("INSERT INTO schema_version (version, name) VALUES ($1, 'future')", [future]);
  const before = (await c.query('SELECT * FROM schema_version ORDER BY version')).rows;
  await assert.rejects(openPostgresLedger(pgSource({ type: 'postgresql', dataSource: d.url })), new RegExp(`ledger schema version ${future} is newer than this Stepstone knows \\(max ${latest}\\)`));
  await assert.rejects(openPostgresLedger(pgSource({ type: 'postgresql', dataSource: d.url }), { role: 'tool' }), new RegExp(`schema version ${future}, newer than this Stepstone knows`));
  assert.deepEqual((await c.query('SELECT * FROM schema_version ORDER BY version')).rows, before);
});

test('the password never appears in an error, from the URL, a password file or PGPASSWORD', async (t) => {
  const secret = 'S3cret-pw-Zebra';
  // Nothing listens on port 1: the connection is refused after the password was handed to pg.
  await assert.rejects(openPostgresLedger(pgSource({ type: 'postgresql', dataSource: `postgresql://stepstone:${secret}@127.0.0.1:1/ledger` })), (e: Error) => {
    assert.match(e.message, /^cannot reach the ledger, database "ledger" on 127\.0\.0\.1:1 as user "stepstone": /);
    assert.ok(!e.message.includes(secret) && !String(e.stack).includes(secret), e.message);
    return true;
  });
  const pwFile = path.join(tmp, 'pg-password');
  fs.writeFileSync(pwFile, `${secret}\n`, { mode: 0o600 });
  const fromFile = pgSource({ type: 'postgresql', dataSource: 'postgresql://stepstone@127.0.0.1:1/ledger', passwordFile: pwFile });
  assert.equal(new URL(fromFile.connectionString).password, secret);
  assert.ok(!fromFile.describe.includes(secret));
  await assert.rejects(openPostgresLedger(fromFile), (e: Error) => !e.message.includes(secret));
  const fromEnv = pgSource({ type: 'postgresql', dataSource: 'postgresql://stepstone@127.0.0.1:1/ledger' }, undefined, { PGPASSWORD: secret });
  assert.equal(fromEnv.redact(`oops ${secret}`), 'oops ********');
  // A config error names the field and never echoes the value.
  const cfg = path.join(tmp, 'ca.json');
  for (const [dataSource, why] of [[`mysql://u:${secret}@h/db`, /db\.dataSource: a PostgreSQL ledger needs a postgresql:\/\/ URL/], [`postgresql://u:${secret}@[::1/db`, /db\.dataSource: not a URL/]] as const) {
    fs.writeFileSync(cfg, JSON.stringify({ root: 'r', crt: 'c', key: 'k', address: ':9000', dnsNames: ['ca'], authority: {}, db: { type: 'postgresql', dataSource } }));
    assert.throws(() => loadConfig(cfg), (e: Error) => why.test(e.message) && !e.message.includes(secret));
  }
  fs.writeFileSync(cfg, JSON.stringify({ root: 'r', crt: 'c', key: 'k', address: ':9000', dnsNames: ['ca'], authority: {}, db: { type: 'postgresql', dataSource: `postgresql://u:${secret}@h/db`, passwordFile: pwFile } }));
  assert.throws(() => loadConfig(cfg), (e: Error) => /db\.dataSource: has a password and db\.passwordFile is set too/.test(e.message) && !e.message.includes(secret));
});

test('a connection lost mid-commit hands out nothing, and the token stays usable', async (t) => {
  if (!requireCapability(t, !skip, skip)) return;
  const d = await database();
  const ledger = await opened(t, d.url);
  // Another session holds the same jti uncommitted: our batch waits on the unique index…
  const blocker = new pg.Client({ connectionString: d.url });
  await blocker.connect();
  t.after(() => blocker.end().catch(() => undefined));
  await blocker.query('BEGIN');
  await blocker.query("INSERT INTO used_tokens VALUES ('jti-lost', 'admin', $1, 0)", [Date.now() + 600_000]);
  const c = cert();
  const pending = ledger.recordIssuance(c, token('jti-lost'));
  pending.catch(() => undefined); // asserted below, after the kill
  // …and its connection is killed while it waits, so we cannot know whether it would commit.
  const admin = new pg.Client({ connectionString: d.url });
  await admin.connect();
  t.after(() => admin.end());
  for (let i = 0; ; i++) {
    const { rowCount } = await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'stepstone' AND wait_event_type = 'Lock'");
    if (rowCount) break;
    assert.ok(i < 100, 'the batch never waited on the lock');
    await new Promise((r) => setTimeout(r, 20));
  }
  await assert.rejects(pending, (e: unknown) => {
    rejectsWith('unavailable')(e);
    assert.match((e as CaError).detail, /outcome is unknown/);
    assert.equal((e as CaError).status, 503);
    return true;
  });
  await blocker.query('ROLLBACK');
  assert.equal(await ledger.getCertificate(c.serial), null);
  assert.equal(await ledger.isTokenUsed('jti-lost'), false);
  // The pool replaced the dead connection: the same token now buys its certificate.
  await ledger.recordIssuance(cert(), token('jti-lost'));
  assert.equal(await ledger.isTokenUsed('jti-lost'), true);
});

test('a revocation on one ledger reaches the other through NOTIFY, and a lost feed reconnects', async (t) => {
  if (!requireCapability(t, !skip, skip)) return;
  const d = await database();
  const [a, b] = [await opened(t, d.url), await opened(t, d.url)];
  const heard: (string | null)[] = [];
  b.revocations!.onRevocation((s) => heard.push(s));
  const own: (string | null)[] = [];
  a.revocations!.onRevocation((s) => own.push(s));
  const c = cert();
  await a.recordIssuance(c);
  assert.equal(await a.revoke({ serial: c.serial, reasonCode: 1, reason: '', revokedAt: new Date() }), 'revoked');
  const until = async (ok: () => boolean) => {
    for (let i = 0; !ok(); i++) {
      assert.ok(i < 100, 'nothing heard within 2 s');
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  await until(() => heard.length > 0);
  // Typed so the assertion does not narrow `heard` to string[]: a null is heard further on.
  assert.deepEqual(heard, [c.serial] as (string | null)[]);
  assert.deepEqual(own, [], 'a replica does not hear its own notices');
  // Kill b's listening connection: it comes back and says it may have missed something.
  const admin = new pg.Client({ connectionString: d.url });
  await admin.connect();
  t.after(() => admin.end());
  await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'stepstone-listen'");
  await until(() => heard.includes(null));
  const e = cert();
  await a.recordIssuance(e);
  await a.revoke({ serial: e.serial, reasonCode: 1, reason: '', revokedAt: new Date() });
  await until(() => heard.includes(e.serial));
});

test('ledger copy: SQLite to PostgreSQL and back keeps every row, refuses a non-empty target', async (t) => {
  if (!requireCapability(t, !skip, skip)) return;
  const file = path.join(tmp, 'src.sqlite');
  const src = await openSqliteLedger(file);
  t.after(() => src.close()); // a failure before the close below must not leave its writer thread running
  const a = cert();
  // A renewal issued "before" its parent by the clock: the copy must not depend on the order.
  const b = cert({ method: 'renew', replaces: a.serial, issuedAt: new Date(a.issuedAt.getTime() - 5000) });
  const event = (type: AuditEventInput['type'], serial: string) => ({ id: randomUUID(), time: new Date(), type, serial, replica: 'src' });
  await src.recordIssuance(a, token('copy-1'), event('issued', a.serial));
  await src.recordIssuance(b, token('copy-2'), event('renewed', b.serial));
  await src.revoke({ serial: a.serial, reasonCode: 4, reason: 'superseded', revokedAt: new Date() }, token('copy-3'), event('revoked', a.serial));
  await src.events.append([{ id: randomUUID(), time: new Date(), type: 'admin', actor: 'ops', outcome: 'copy' }]);
  const hook = await src.events.leaseCursor('ops', 'owner', new Date(), 1000);
  assert.ok(await src.events.saveCursor({ ...hook!, seq: 2 }, 'owner'));
  for (let i = 0; i < 3; i++) await src.nextCrlNumber();
  const srcHead = await src.events.head();
  await src.close();
  const d = await database();
  const pgTarget = { kind: 'postgresql' as const, source: pgSource({ type: 'postgresql', dataSource: d.url }) };
  const counts = await copyLedger({ kind: 'sqlite', file }, pgTarget);
  assert.deepEqual(counts, { certificates: 2, usedTokens: 3, crlNumber: 3, auditEvents: 4 });
  await assert.rejects(copyLedger({ kind: 'sqlite', file }, pgTarget), /is not empty \(2 certificates, 3 spent tokens, CRL number 3\)/);
  const back = path.join(tmp, 'back.sqlite');
  assert.deepEqual(await copyLedger(pgTarget, { kind: 'sqlite', file: back }), counts);
  await assert.rejects(copyLedger(pgTarget, { kind: 'sqlite', file: back }), /already exists/);
  const rows = async (target: Parameters<typeof openRaw>[0]) => {
    const raw = await openRaw(target, { write: false });
    try {
      const certs = [];
      for await (const r of raw.certificates()) certs.push(r);
      const tokens = [];
      for await (const r of raw.usedTokens()) tokens.push(r);
      const events = [];
      for await (const r of raw.auditEvents()) events.push({ ...r, seq: Number(r.seq), time: Number(r.time), count: Number(r.count) });
      const by = (k: string) => (x: any, y: any) => (x[k] < y[k] ? -1 : 1);
      return { certs: certs.sort(by('serial')), tokens: tokens.sort(by('jti')), events, head: await raw.auditHead(), counts: await raw.counts() };
    } finally {
      await raw.close();
    }
  };
  const original = await rows({ kind: 'sqlite', file });
  assert.deepEqual(await rows(pgTarget), original);
  assert.deepEqual(await rows({ kind: 'sqlite', file: back }), original);
  assert.deepEqual(original.head, srcHead);
  const copy = await opened(t, d.url);
  // The chain came across whole, and goes on from where it was; so does the webhook's cursor.
  assert.deepEqual(await copy.events.head(), srcHead);
  await copy.events.append([{ id: randomUUID(), time: new Date(), type: 'admin', actor: 'ops', outcome: 'after copy' }]);
  const report = await copy.events.verify();
  assert.equal(report.problem, null);
  assert.equal(report.events, 5);
  assert.equal((await copy.events.leaseCursor('ops', 'new-owner', new Date(Date.now() + 5000), 1000))?.seq, 2);
  assert.equal((await copy.getCertificate(a.serial))!.revocationReason, 'superseded');
  assert.equal((await copy.nextCrl(new Date())).number, 4, 'the CRL number carries on from the source');
  await assert.rejects(copy.recordIssuance(cert(), token('copy-2')), rejectsWith('token_used'));
});
