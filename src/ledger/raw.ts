// Whole-table access to a ledger for the maintenance tools (`ledger copy`, `ledger verify`): every
// row as stored, in batches, from one consistent snapshot, and a bulk load into an empty ledger.
// Not the CA's interface (that is Ledger): nothing here runs while serving.
import type Database from 'better-sqlite3';
import type pg from 'pg';
import { PG_MIGRATIONS_DIR } from './migrate-postgres.js';
import { knownVersion, MIGRATIONS_DIR } from './migrate.js';
import type { LedgerTarget } from './open.js';
import { STORED_COLUMNS, type StoredRow } from './rows.js';

export interface TokenRow { jti: string; provisioner: string; expires_at: number; used_at: number }
export interface LedgerCounts { certificates: number; usedTokens: number; crlNumber: number }

export interface RawLedger {
  /** The newest migration this build has for the backend. */
  readonly knownVersion: number;
  schemaVersion(): Promise<number>;
  /** What the engine itself finds wrong (SQLite's integrity_check); [] when nothing. */
  integrity(): Promise<string[]>;
  counts(): Promise<LedgerCounts>;
  certificates(): AsyncIterable<StoredRow>;
  usedTokens(): AsyncIterable<TokenRow>;
  /** Loads everything of `from` in one transaction. The caller has checked this ledger is empty. */
  load(from: RawLedger): Promise<void>;
  close(): Promise<void>;
}

const BATCH = 500;
const TOKEN_COLUMNS = 'jti, provisioner, expires_at, used_at';

/** `write`: create and migrate the ledger when needed (a copy's target); else read-only. */
export async function openRaw(t: LedgerTarget, o: { write: boolean }): Promise<RawLedger> {
  if (t.kind === 'postgresql') {
    const { openPostgresLedger } = await import('./postgres.js');
    const ledger = await openPostgresLedger(t.source, { role: 'tool', write: o.write });
    return new PgRaw(ledger.pool, !o.write, () => ledger.close());
  }
  const { default: Db } = await import('better-sqlite3');
  if (o.write) {
    const { openSqliteLedger } = await import('./sqlite.js');
    const ledger = await openSqliteLedger(t.file, { writer: 'inline' });
    return new SqliteRaw(ledger.db, () => ledger.close());
  }
  const db = new Db(t.file, { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  // One read transaction for the whole run: a snapshot, whatever the CA writes meanwhile.
  db.exec('BEGIN');
  return new SqliteRaw(db, async () => { db.close(); });
}

class SqliteRaw implements RawLedger {
  readonly knownVersion = knownVersion(MIGRATIONS_DIR);
  constructor(private readonly db: Database.Database, readonly close: () => Promise<void>) {}

  async schemaVersion(): Promise<number> {
    return Number(this.db.prepare('SELECT max(version) FROM schema_version').pluck().get() ?? 0);
  }

  async integrity(): Promise<string[]> {
    const rows = this.db.pragma('integrity_check') as { integrity_check: string }[];
    return rows.length === 1 && rows[0]!.integrity_check === 'ok' ? [] : [`integrity_check: ${rows.map((r) => r.integrity_check).join('; ')}`];
  }

  async counts(): Promise<LedgerCounts> {
    const n = (sql: string) => Number(this.db.prepare(sql).pluck().get() ?? 0);
    return { certificates: n('SELECT count(*) FROM certificates'), usedTokens: n('SELECT count(*) FROM used_tokens'), crlNumber: n('SELECT number FROM crl_state WHERE id = 1') };
  }

  async *certificates(): AsyncIterable<StoredRow> {
    yield* this.db.prepare(`SELECT ${STORED_COLUMNS} FROM certificates ORDER BY rowid`).iterate() as IterableIterator<StoredRow>;
  }

  async *usedTokens(): AsyncIterable<TokenRow> {
    yield* this.db.prepare(`SELECT ${TOKEN_COLUMNS} FROM used_tokens ORDER BY rowid`).iterate() as IterableIterator<TokenRow>;
  }

  async load(from: RawLedger): Promise<void> {
    const cert = this.db.prepare(`INSERT INTO certificates (${STORED_COLUMNS}) VALUES (${STORED_COLUMNS.split(', ').map((c) => `@${c}`).join(', ')})`);
    const token = this.db.prepare(`INSERT INTO used_tokens (${TOKEN_COLUMNS}) VALUES (@jti, @provisioner, @expires_at, @used_at)`);
    this.db.exec('BEGIN IMMEDIATE');
    try {
      // Renewals may arrive before the certificate they replace: check references at COMMIT.
      this.db.pragma('defer_foreign_keys = ON');
      for await (const r of from.certificates()) cert.run(r);
      for await (const t of from.usedTokens()) token.run(t);
      this.db.prepare('UPDATE crl_state SET number = ? WHERE id = 1').run((await from.counts()).crlNumber);
      this.db.exec('COMMIT');
    } catch (e) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      throw e;
    }
  }
}

class PgRaw implements RawLedger {
  readonly knownVersion = knownVersion(PG_MIGRATIONS_DIR);
  private client: pg.PoolClient | null = null;
  /** `snapshot`: read everything in one transaction (a copy's source); else each read sees the latest (a copy's target). */
  constructor(private readonly pool: pg.Pool, private readonly snapshotReads: boolean, private readonly end: () => Promise<void>) {}

  /** One connection in one REPEATABLE READ transaction: every read sees the same snapshot. */
  private async snapshot(): Promise<pg.PoolClient | pg.Pool> {
    if (!this.snapshotReads) return this.pool;
    if (!this.client) {
      this.client = await this.pool.connect();
      await this.client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    }
    return this.client;
  }

  async close(): Promise<void> {
    if (this.client) {
      await this.client.query('ROLLBACK').catch(() => undefined);
      this.client.release();
      this.client = null;
    }
    await this.end();
  }

  async schemaVersion(): Promise<number> {
    const { postgresSchemaVersion } = await import('./migrate-postgres.js');
    return postgresSchemaVersion(await this.snapshot());
  }

  async integrity(): Promise<string[]> {
    return [];
  }

  async counts(): Promise<LedgerCounts> {
    const c = await this.snapshot();
    const { rows } = await c.query<{ certificates: number; used_tokens: number; crl: number }>(
      'SELECT (SELECT count(*) FROM certificates)::int8 AS certificates, (SELECT count(*) FROM used_tokens)::int8 AS used_tokens, (SELECT number FROM crl_state WHERE id = 1) AS crl',
    );
    return { certificates: rows[0]!.certificates, usedTokens: rows[0]!.used_tokens, crlNumber: rows[0]!.crl };
  }

  // Keyset pages by primary key: memory stays flat however large the ledger.
  private async *pages<T>(table: string, columns: string, key: 'serial' | 'jti'): AsyncIterable<T> {
    const c = await this.snapshot();
    let after = '';
    for (;;) {
      const { rows } = await c.query(`SELECT ${columns} FROM ${table} WHERE ${key} > $1 ORDER BY ${key} LIMIT ${BATCH}`, [after]);
      yield* rows as T[];
      if (rows.length < BATCH) return;
      after = (rows.at(-1) as Record<string, string>)[key]!;
    }
  }

  certificates(): AsyncIterable<StoredRow> {
    return this.pages<StoredRow>('certificates', STORED_COLUMNS, 'serial');
  }

  usedTokens(): AsyncIterable<TokenRow> {
    return this.pages<TokenRow>('used_tokens', TOKEN_COLUMNS, 'jti');
  }

  async load(from: RawLedger): Promise<void> {
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      await c.query('SET CONSTRAINTS ALL DEFERRED');
      const certCols = STORED_COLUMNS.split(', ');
      const certTypes = ['text', 'text', 'text', 'int8', 'int8', 'text', 'text', 'text', 'int8', 'text', 'text', 'int8', 'int4', 'text'];
      const certSql = `INSERT INTO certificates (${STORED_COLUMNS}) SELECT * FROM unnest(${certTypes.map((t, i) => `$${i + 1}::${t}[]`).join(', ')})`;
      const tokenSql = `INSERT INTO used_tokens (${TOKEN_COLUMNS}) SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[])`;
      const flush = async (sql: string, cols: string[], rows: Record<string, unknown>[]) => {
        if (rows.length) await c.query(sql, cols.map((k) => rows.map((r) => r[k] ?? null)));
        rows.length = 0;
      };
      let buf: Record<string, unknown>[] = [];
      for await (const r of from.certificates()) if (buf.push(r as unknown as Record<string, unknown>) >= BATCH) await flush(certSql, certCols, buf);
      await flush(certSql, certCols, buf);
      buf = [];
      for await (const t of from.usedTokens()) if (buf.push(t as unknown as Record<string, unknown>) >= BATCH) await flush(tokenSql, TOKEN_COLUMNS.split(', '), buf);
      await flush(tokenSql, TOKEN_COLUMNS.split(', '), buf);
      await c.query('UPDATE crl_state SET number = $1 WHERE id = 1', [(await from.counts()).crlNumber]);
      await c.query('COMMIT');
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      c.release();
    }
  }
}
