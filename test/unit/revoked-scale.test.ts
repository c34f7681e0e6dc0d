// 100 000 revoked rows on both ledgers: OCSP's per-request lookup must stay an index search
// (the planner's own word, not a timing), and the CRL snapshot must carry every row.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openSqliteLedger, SELECT_CERTIFICATE_SQL as SQLITE_LOOKUP } from '../../src/ledger/sqlite.ts';
import { openPostgresLedger, SELECT_CERTIFICATE_SQL as PG_LOOKUP } from '../../src/ledger/postgres.ts';
import { pgSource } from '../../src/ledger/pg-source.ts';
import { createDatabase, postgresMissing } from '../helpers/postgres.ts';

const N = 100_000;
const HOUR = 3_600_000;

test('SQLite: with 100 000 revoked rows the OCSP lookup searches the primary key and nextCrl returns them all', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stepstone-revoked-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const ledger = await openSqliteLedger(path.join(dir, 'ledger.db'));
  t.after(() => ledger.close());
  const now = Date.now();
  ledger.db.prepare(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${N})
    INSERT INTO certificates (serial, subject, sans, not_before, not_after, fingerprint, provisioner, pem, issued_at, method, revoked_at, revocation_reason_code)
    SELECT CAST(1000000000 + i AS TEXT), 'h' || i, '[]', ?, ?, printf('%064x', i), 'admin', 'pem', ?, 'sign', ? - i, i % 11 FROM n`).run(now - HOUR, now + HOUR, now - HOUR, now);
  ledger.db.exec('ANALYZE');
  const plan = ledger.db.prepare(`EXPLAIN QUERY PLAN ${SQLITE_LOOKUP}`).all('1000000042') as { detail: string }[];
  assert.equal(plan.length, 1, JSON.stringify(plan));
  assert.match(plan[0]!.detail, /^SEARCH certificates USING INDEX sqlite_autoindex_certificates_1 \(serial=\?\)$/);
  assert.equal((await ledger.getCertificate('1000000042'))?.revokedAt?.getTime(), now - 42);
  const crl = await ledger.nextCrl(new Date(now - HOUR));
  assert.equal(crl.entries.length, N);
});

test('PostgreSQL: with 100 000 revoked rows the OCSP lookup is an index scan and nextCrl returns them all', async (t) => {
  const missing = await postgresMissing();
  if (missing) return t.skip(missing);
  const db = await createDatabase();
  t.after(() => db.drop());
  const ledger = await openPostgresLedger(pgSource({ type: 'postgresql', dataSource: db.url }));
  t.after(() => ledger.close());
  const now = Date.now();
  await ledger.pool.query(`INSERT INTO certificates (serial, subject, sans, not_before, not_after, fingerprint, provisioner, pem, issued_at, method, revoked_at, revocation_reason_code)
    SELECT (1000000000 + i)::text, 'h' || i, '[]', $1::bigint, $2::bigint, lpad(to_hex(i), 64, '0'), 'admin', 'pem', $1::bigint, 'sign', $3::bigint - i, i % 11 FROM generate_series(1, ${N}) AS i`,
  [now - HOUR, now + HOUR, now]);
  await ledger.pool.query('ANALYZE certificates');
  const { rows } = await ledger.pool.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) ${PG_LOOKUP}`, ['1000000042']);
  const top = (rows[0]!['QUERY PLAN'] as { Plan: { 'Node Type': string; 'Index Name'?: string } }[])[0]!.Plan;
  assert.equal(top['Node Type'], 'Index Scan', JSON.stringify(top));
  assert.equal(top['Index Name'], 'certificates_pkey');
  assert.equal((await ledger.getCertificate('1000000042'))?.revokedAt?.getTime(), now - 42);
  const crl = await ledger.nextCrl(new Date(now - HOUR));
  assert.equal(crl.entries.length, N);
});
