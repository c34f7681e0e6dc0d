// Whole-table access to a ledger for the maintenance tools (`ledger copy`, `ledger verify`): every
// row as stored, in batches, from one consistent snapshot, and a bulk load into an empty ledger.
// Not the CA's interface (that is Ledger): nothing here runs while serving.
import type Database from 'better-sqlite3';
import type pg from 'pg';
import { knownVersion, MIGRATIONS_DIR, PG_MIGRATIONS_DIR, postgresSchemaVersion } from './migrations-dir.js';
import type { LedgerTarget } from './open.js';
import { STORED_COLUMNS, type StoredRow } from './rows.js';
import { AUDIT_COLUMNS, type ChainHead, type StoredAuditRow } from './audit-chain.js';
import { AUDIT_TYPES } from './pg-chain.js';
import { auditRows } from './pg-events.js';

export interface TokenRow { jti: string; provisioner: string; expires_at: number; used_at: number }
export interface LedgerCounts { certificates: number; usedTokens: number; crlNumber: number; auditEvents: number }

export interface RawLedger {
  /** The newest migration this build has for the backend. */
  readonly knownVersion: number;
  schemaVersion(): Promise<number>;
  /** What the engine itself finds wrong (SQLite's integrity_check); [] when nothing. */
  integrity(): Promise<string[]>;
  counts(): Promise<LedgerCounts>;
  certificates(): AsyncIterable<StoredRow>;
  usedTokens(): AsyncIterable<TokenRow>;
  /** The audit trail's head; null for a ledger from before it (no audit tables). */
  auditHead(): Promise<ChainHead | null>;
  /** The audit trail in seq order, in pages (the caller may look rows up while it walks). */
  auditEvents(): AsyncIterable<StoredAuditRow>;
  /** The seq of the row holding `hash`, for telling a deletion from an insertion or a reordering. */
  seqOfHash(hash: string): Promise<number | null>;
  /** Every row of one of AUDIT_TABLES, in key order; nothing for a ledger from before the trail. */
  rowsOf(table: string, columns: string, key: string): AsyncIterable<Record<string, unknown>>;
  /** Loads everything of `from` in one transaction. The caller has checked this ledger is empty. */
  load(from: RawLedger): Promise<void>;
  close(): Promise<void>;
}

const BATCH = 500;
const TOKEN_COLUMNS = 'jti, provisioner, expires_at, used_at';
const EVENT_COLUMNS = `seq, ${AUDIT_COLUMNS}, prev_hash, hash`;
const CURSOR_COLUMNS = 'webhook, seq, attempts, next_attempt_at, last_error';
/**
 * Copied with the certificates: the audit trail with its head (the chain stays verifiable), the
 * webhook cursors (delivery resumes where it was), the expiry notices sent (none is sent twice)
 * and the ACME accounts, orders, authorizations and EAB keys (clients keep their accounts).
 */
const AUDIT_TABLES: [table: string, columns: string, key: string, pgTypes: string[]][] = [
  ['audit_events', EVENT_COLUMNS, 'seq', AUDIT_TYPES],
  ['webhook_cursors', CURSOR_COLUMNS, 'webhook', ['text', 'int8', 'int4', 'int8', 'text']],
  ['notices', 'serial, kind', 'serial, kind', ['text', 'text']],
  // ACME (migration 0008): accounts before what references them; nonces are not worth carrying.
  ['acme_accounts', 'id, provisioner, thumbprint, status, created_at, doc', 'id', ['text', 'text', 'text', 'text', 'int8', 'text']],
  ['acme_orders', 'id, account_id, status, expires_at, created_at, certificate_serial, doc', 'id', ['text', 'text', 'text', 'int8', 'int8', 'text', 'text']],
  ['acme_authorizations', 'id, order_id, status, expires_at, doc', 'id', ['text', 'text', 'text', 'int8', 'text']],
  ['acme_eab_keys', 'key_id, provisioner, hmac_key, reference, created_at, account_id, bound_at', 'key_id', ['text', 'text', 'text', 'text', 'int8', 'text', 'int8']],
];

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
    return {
      certificates: n('SELECT count(*) FROM certificates'), usedTokens: n('SELECT count(*) FROM used_tokens'), crlNumber: n('SELECT number FROM crl_state WHERE id = 1'),
      auditEvents: this.hasAudit() ? n('SELECT count(*) FROM audit_events') : 0,
    };
  }

  private hasAudit(): boolean {
    return this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_head'").get() !== undefined;
  }

  async auditHead(): Promise<ChainHead | null> {
    return this.hasAudit() ? this.db.prepare<[], ChainHead>('SELECT seq, hash FROM audit_head WHERE id = 1').get()! : null;
  }

  async *auditEvents(): AsyncIterable<StoredAuditRow> {
    const page = this.db.prepare<[number], StoredAuditRow>(`SELECT ${EVENT_COLUMNS} FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ${BATCH}`);
    for (let after = Number.MIN_SAFE_INTEGER; ;) {
      const rows = page.all(after);
      yield* rows;
      if (rows.length < BATCH) return;
      after = rows[rows.length - 1]!.seq;
    }
  }

  async seqOfHash(hash: string): Promise<number | null> {
    return (this.db.prepare<[string], number>('SELECT seq FROM audit_events WHERE hash = ? LIMIT 1').pluck().get(hash)) ?? null;
  }

  /** Every row of an audit-side table, in key order (tables a ledger from before the trail lacks yield nothing). */
  async *rowsOf(table: string, columns: string, key: string): AsyncIterable<Record<string, unknown>> {
    if (!this.hasAudit()) return;
    yield* this.db.prepare(`SELECT ${columns} FROM ${table} ORDER BY ${key}`).iterate() as IterableIterator<Record<string, unknown>>;
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
      for (const [table, columns, key] of AUDIT_TABLES) {
        const insert = this.db.prepare(`INSERT INTO ${table} (${columns}) VALUES (${columns.split(', ').map(() => '?').join(', ')})`);
        for await (const r of from.rowsOf(table, columns, key)) insert.run(...columns.split(', ').map((c) => r[c]));
      }
      const head = await from.auditHead();
      if (head) this.db.prepare('UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1').run(head.seq, head.hash);
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
    return postgresSchemaVersion(await this.snapshot());
  }

  async integrity(): Promise<string[]> {
    return [];
  }

  async counts(): Promise<LedgerCounts> {
    const c = await this.snapshot();
    const { rows } = await c.query<{ certificates: number; used_tokens: number; crl: number; audit: number }>(
      'SELECT (SELECT count(*) FROM certificates)::int8 AS certificates, (SELECT count(*) FROM used_tokens)::int8 AS used_tokens, (SELECT number FROM crl_state WHERE id = 1) AS crl, (SELECT count(*) FROM audit_events)::int8 AS audit',
    );
    return { certificates: rows[0]!.certificates, usedTokens: rows[0]!.used_tokens, crlNumber: rows[0]!.crl, auditEvents: rows[0]!.audit };
  }

  // Keyset pages by primary key (text columns, one or several): memory stays flat however large the ledger.
  private async *pages<T>(table: string, columns: string, key: string): AsyncIterable<T> {
    const c = await this.snapshot();
    const keys = key.split(', ');
    let after: string[] = keys.map(() => '');
    for (;;) {
      const { rows } = await c.query(`SELECT ${columns} FROM ${table} WHERE (${key}) > (${keys.map((_, i) => `$${i + 1}`).join(', ')}) ORDER BY ${key} LIMIT ${BATCH}`, after);
      yield* rows as T[];
      if (rows.length < BATCH) return;
      after = keys.map((k) => (rows.at(-1) as Record<string, string>)[k]!);
    }
  }

  async auditHead(): Promise<ChainHead | null> {
    const { rows } = await (await this.snapshot()).query<ChainHead>('SELECT seq, hash FROM audit_head WHERE id = 1');
    return { seq: Number(rows[0]!.seq), hash: rows[0]!.hash };
  }

  async *auditEvents(): AsyncIterable<StoredAuditRow> {
    yield* auditRows(await this.snapshot());
  }

  async seqOfHash(hash: string): Promise<number | null> {
    const { rows } = await (await this.snapshot()).query<{ seq: number }>('SELECT seq FROM audit_events WHERE hash = $1 LIMIT 1', [hash]);
    return rows[0] ? Number(rows[0].seq) : null;
  }

  rowsOf(table: string, columns: string, key: string): AsyncIterable<Record<string, unknown>> {
    if (table === 'audit_events') return this.auditEvents() as AsyncIterable<unknown> as AsyncIterable<Record<string, unknown>>;
    return this.pages(table, columns, key);
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
      const certTypes = ['text', 'text', 'text', 'int8', 'int8', 'text', 'text', 'text', 'int8', 'text', 'text', 'text', 'int8', 'int4', 'text'];
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
      for (const [table, columns, key, types] of AUDIT_TABLES) {
        const sql = `INSERT INTO ${table} (${columns}) SELECT * FROM unnest(${types.map((t, i) => `$${i + 1}::${t}[]`).join(', ')})`;
        buf = [];
        for await (const r of from.rowsOf(table, columns, key)) if (buf.push(r) >= BATCH) await flush(sql, columns.split(', '), buf);
        await flush(sql, columns.split(', '), buf);
      }
      const head = await from.auditHead();
      if (head) await c.query('UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1', [head.seq, head.hash]);
      await c.query('COMMIT');
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      c.release();
    }
  }
}
