// The PostgreSQL ledger: the Ledger interface on node-postgres's pool, for several active
// replicas sharing one database. Every guarantee the SQLite ledger gives within one process holds
// here across processes, because each is decided inside one PostgreSQL transaction:
// - a token is spent in the statement that records its certificate (pg-issuance.ts);
// - a revocation is a row update, read fresh by every renewal and OCSP lookup on every replica,
//   and announced with NOTIFY in the same transaction, so the other replicas' CRLs follow (notify.ts);
// - a CRL number is taken under the crl_state row lock, with the revoked list read after it.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { tokenUsed } from '../errors.js';
import { GroupCommit } from './group-commit.js';
import type { IssuanceItem, ItemOutcome } from './issuance-batch.js';
import type {
  AuditEventInput, CertificateFilter, CertificateRecord, CommitObserver, CrlSnapshot, IssuerScope, Ledger, LedgerStats, Revocation, RevocationFeed, RevokedEntry, RevokeOutcome,
  StoredCertificate, TokenClaim,
} from './ledger.js';
import { toAuditRow } from './audit-chain.js';
import { appendChain } from './pg-chain.js';
import { PgEventStore, pgStats } from './pg-events.js';
import { PgAcmeStore } from './pg-acme.js';
import { knownVersion, PG_MIGRATIONS_DIR, postgresSchemaVersion } from './migrations-dir.js';
import { PgRevocationFeed, REVOCATION_CHANNEL } from './notify.js';
import { isConnectionLoss, mapPgError, pgUnavailable } from './pg-errors.js';
import { commitIssuances, PgBatchFailed, spendTokensSql } from './pg-issuance.js';
import { PG_CONNECTION_SETTINGS, PG_UNREACHABLE, type PgSource } from './pg-source.js';
import { runOnce } from '../util/worker.js';
import { checkLimit, fromRow, STORED_COLUMNS, toRow, type StoredRow } from './rows.js';
import { searchSql, seriesSql, toPage, toSeries, windowCursor, windowEndSql, type CertificatePage, type CertificateSearch, type Dialect, type InventorySeries } from './inventory.js';

// BIGINT columns come back as strings by default; every one of ours is a unix-milliseconds time
// or a counter well inside 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export interface PostgresLedgerOptions {
  /** 'server' migrates the schema and listens for other replicas' revocations. 'tool' (the CLI)
   * does neither, refuses a schema that is not current, and opens read-only sessions unless `write`. */
  role?: 'server' | 'tool';
  /** Tools only: allow writes (ledger copy into this database). */
  write?: boolean;
  migrationsDir?: string;
  poolSize?: number;
  /** Where pool and listener problems are reported (never with the password). */
  warn?: (msg: string, err?: unknown) => void;
}

export async function openPostgresLedger(source: PgSource, o: PostgresLedgerOptions = {}): Promise<PostgresLedger> {
  const role = o.role ?? 'server';
  const warn = o.warn ?? (() => undefined);
  const dir = o.migrationsDir ?? PG_MIGRATIONS_DIR;
  // The server migrates on a thread that ends with it (migrate-postgres-worker.ts), so postgrator
  // and its glob never stay loaded in a replica; its connection is closed before the pool opens.
  if (role === 'server') await migrateOnThread(source, dir);
  const pool = new pg.Pool({
    connectionString: source.connectionString,
    max: o.poolSize ?? 8,
    idleTimeoutMillis: 30_000,
    ...PG_CONNECTION_SETTINGS,
    ...(role === 'tool' && !o.write ? { options: '-c default_transaction_read_only=on' } : {}),
  });
  // An idle connection that dies (PostgreSQL restarted) is reported here; without a listener
  // node would treat it as unhandled and exit. The pool replaces it on the next query.
  pool.on('error', (err) => warn('ledger connection lost (the pool reconnects on demand)', err));
  // The pool listens only to idle connections. One checked out for a transaction that PostgreSQL
  // ends between two statements (a restart's FATAL 57P01 arriving right after a reply) emitted
  // 'error' with nobody listening, which ended the whole CA. Heard here, it only makes that
  // connection unusable: the transaction's next statement fails as a connection loss (503) and
  // the connection is released broken.
  const lostInUse = (err: Error) => warn('ledger connection lost while in use (its request fails)', err);
  pool.on('acquire', (client) => client.on('error', lostInUse));
  pool.on('release', (_err, client) => client.removeListener('error', lostInUse));
  try {
    const client = await pool.connect().catch((err: unknown) => {
      throw new Error(`cannot reach the ledger, ${source.describe}: ${source.redact((err as Error).message)}`, { cause: err });
    });
    try {
      // A tool that writes (ledger copy into this database) migrates here: it is short-lived.
      if (role === 'tool' && o.write) await (await import('./migrate-postgres.js')).migratePostgres(client, dir);
      else if (role === 'tool') await requireCurrentSchema(client, dir, source);
    } finally {
      client.release();
    }
    const ledger = new PostgresLedger(pool, source, warn);
    if (role === 'server') await ledger.listen();
    return ledger;
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }
}

async function migrateOnThread(source: PgSource, dir: string): Promise<void> {
  try {
    await runOnce<{ from: number; to: number }>('./migrate-postgres-worker', import.meta.url, { connectionString: source.connectionString, dir });
  } catch (err) {
    const message = source.redact((err as Error).message);
    if ((err as { code?: string }).code === PG_UNREACHABLE) throw new Error(`cannot reach the ledger, ${source.describe}: ${message}`);
    throw new Error(message);
  }
}

async function requireCurrentSchema(client: pg.PoolClient, dir: string, source: PgSource): Promise<void> {
  const have = await postgresSchemaVersion(client);
  const known = knownVersion(dir);
  if (have > known) throw new Error(`the ledger ${source.describe} is at schema version ${have}, newer than this Stepstone knows (max ${known}); upgrade Stepstone`);
  if (have < known) throw new Error(`the ledger ${source.describe} is at schema version ${have}, this Stepstone expects ${known}: start \`stepstone serve\` once to migrate it`);
}

/** getCertificate's query (OCSP asks it per request): the primary key's index. */
export const SELECT_CERTIFICATE_SQL = `SELECT ${STORED_COLUMNS} FROM certificates WHERE serial = $1`;

export class PostgresLedger implements Ledger {
  private readonly group: GroupCommit;
  private readonly instance = randomUUID();
  private feed: PgRevocationFeed | null = null;
  readonly events: PgEventStore;
  readonly acme: PgAcmeStore;

  /** @param pool the ledger owns it from here on; exposed for maintenance code (copy, verify) and tests. */
  constructor(readonly pool: pg.Pool, readonly source: PgSource, private readonly warn: (msg: string, err?: unknown) => void = () => undefined) {
    this.group = new GroupCommit((items) => this.commit(items));
    this.events = new PgEventStore(pool, this.group, (op, fn) => this.transaction(op, fn));
    this.acme = new PgAcmeStore(pool);
  }

  get revocations(): RevocationFeed | undefined {
    return this.feed ?? undefined;
  }

  /** Starts the LISTEN connection that tells this replica about the others' revocations. */
  async listen(): Promise<void> {
    this.feed = new PgRevocationFeed(this.source, this.instance, this.warn);
    await this.feed.start();
  }

  private async commit(items: IssuanceItem[]): Promise<ItemOutcome[]> {
    try {
      return await commitIssuances(this.pool, items);
    } catch (err) {
      if (err instanceof PgBatchFailed && err.outcomeUnknown) this.reportUnknownOutcome(items.flatMap((i) => (i.row ? [i.row.serial] : [])));
      throw err;
    }
  }

  /** Resolves once the row is committed (synchronous_commit decides how durable): only then may the certificate leave. */
  async recordIssuance(cert: CertificateRecord, token?: TokenClaim, event?: AuditEventInput): Promise<void> {
    const item: IssuanceItem = {
      row: toRow(cert),
      token: token && { jti: token.jti, provisioner: token.provisioner, expiresAt: token.expiresAt.getTime() },
      events: event && [toAuditRow(event)],
    };
    let outcome: ItemOutcome;
    try {
      outcome = await this.group.enqueue(item);
    } catch (err) {
      if (err instanceof PgBatchFailed) throw pgUnavailable('write', err.cause, err.outcomeUnknown);
      throw mapPgError('write', err);
    }
    if (outcome === null) return;
    if ('tokenUsed' in outcome) throw tokenUsed(`token ${outcome.tokenUsed} already used`);
    throw Object.assign(new Error(outcome.message), { code: outcome.code });
  }

  async revoke(r: Revocation, token?: TokenClaim, event?: AuditEventInput | AuditEventInput[]): Promise<RevokeOutcome> {
    return this.transaction('write', async (c) => {
      const changed = await c.query(
        'UPDATE certificates SET revoked_at = $1, revocation_reason_code = $2, revocation_reason = $3 WHERE serial = $4 AND revoked_at IS NULL',
        [r.revokedAt.getTime(), r.reasonCode, r.reason, r.serial],
      );
      if (changed.rowCount === 0) {
        const exists = await c.query('SELECT 1 FROM certificates WHERE serial = $1', [r.serial]);
        return { rollback: true, value: exists.rowCount ? 'already_revoked' as const : 'not_found' as const };
      }
      if (token) {
        const spent = await c.query(
          spendTokensSql('VALUES ($1, $2, $3, $4)'),
          [token.jti, token.provisioner, token.expiresAt.getTime(), Date.now()],
        );
        if (spent.rowCount === 0) throw tokenUsed(`token ${token.jti} already used`);
      }
      if (event) await appendChain(c, [event].flat().map(toAuditRow));
      // Delivered to every listening replica when, and only if, this transaction commits.
      await c.query('SELECT pg_notify($1, $2)', [REVOCATION_CHANNEL, `${this.instance} ${r.serial}`]);
      return { value: 'revoked' as const };
    });
  }

  async listRevoked(notAfterAfter: Date): Promise<RevokedEntry[]> {
    return this.guard('read', async () => revokedRows(this.pool, notAfterAfter));
  }

  async nextCrlNumber(): Promise<number> {
    return this.guard('write', async () => (await this.pool.query<{ number: number }>('UPDATE crl_state SET number = number + 1 WHERE id = 1 RETURNING number')).rows[0]!.number);
  }

  async nextCrl(notAfterAfter: Date, scope?: IssuerScope): Promise<CrlSnapshot> {
    // The row lock orders replicas: one that takes a higher number reads the revoked list after
    // this one committed, so a higher-numbered CRL never lacks an entry a lower one has.
    return this.transaction('write', async (c) => {
      const number = (await c.query<{ number: number }>('UPDATE crl_state SET number = number + 1 WHERE id = 1 RETURNING number')).rows[0]!.number;
      return { value: { number, entries: await revokedRows(c, notAfterAfter, scope) } };
    });
  }

  async isTokenUsed(jti: string): Promise<boolean> {
    return this.guard('read', async () => ((await this.pool.query({ name: 'stepstone_token_used', text: 'SELECT 1 FROM used_tokens WHERE jti = $1', values: [jti] })).rowCount ?? 0) > 0);
  }

  async getCertificate(serial: string): Promise<StoredCertificate | null> {
    const { rows } = await this.guard('read', () => this.pool.query<StoredRow>({ name: 'stepstone_get_cert', text: SELECT_CERTIFICATE_SQL, values: [serial] }));
    return rows[0] ? fromRow(rows[0]) : null;
  }

  async lineage(serial: string): Promise<StoredCertificate[]> {
    const { rows } = await this.guard('read', () => this.pool.query<StoredRow>(`
      WITH RECURSIVE
        up(serial, replaces) AS (
          SELECT serial, replaces FROM certificates WHERE serial = $1
          UNION SELECT c.serial, c.replaces FROM certificates c JOIN up ON c.serial = up.replaces),
        down(serial) AS (
          SELECT serial FROM certificates WHERE serial = $1
          UNION SELECT c.serial FROM certificates c JOIN down ON c.replaces = down.serial)
      SELECT ${STORED_COLUMNS} FROM certificates
      WHERE serial IN (SELECT serial FROM up UNION SELECT serial FROM down)
      ORDER BY issued_at, serial`, [serial]));
    return rows.map(fromRow);
  }

  async listCertificates(filter: CertificateFilter = {}): Promise<StoredCertificate[]> {
    const { expiringBefore, provisioner, revoked, limit } = filter;
    checkLimit(limit);
    const where: string[] = [];
    const values: unknown[] = [];
    const param = (v: unknown) => `$${values.push(v)}`;
    if (expiringBefore !== undefined) where.push(`not_after < ${param(expiringBefore.getTime())} AND not_after > ${param(Date.now())}`);
    if (provisioner !== undefined) where.push(`provisioner = ${param(provisioner)}`);
    if (revoked) where.push('revoked_at IS NOT NULL');
    const text = `SELECT ${STORED_COLUMNS} FROM certificates ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY issued_at, serial LIMIT ${param(limit ?? null)}`;
    const { rows } = await this.guard('read', () => this.pool.query<StoredRow>(text, values));
    return rows.map(fromRow);
  }

  async countCertificates(): Promise<number> {
    return this.guard('read', async () => (await this.pool.query<{ n: number }>('SELECT count(*)::int8 AS n FROM certificates')).rows[0]!.n);
  }

  async searchCertificates(q: CertificateSearch): Promise<CertificatePage> {
    const d = pgDialect();
    const text = searchSql(q, d, `${STORED_COLUMNS}, serial AS tie`);
    const { rows } = await this.guard('read', () => this.pool.query<StoredRow & { tie: string }>(text, d.values));
    const page = toPage(rows, q, fromRow);
    if (q.nameContains && !page.next) {
      const e = pgDialect();
      const endText = windowEndSql(q, e);
      const end = (await this.guard('read', () => this.pool.query<{ k: string | number; tie: string }>(endText, e.values))).rows[0];
      if (end) return { ...page, next: windowCursor(end), searchedPart: true };
    }
    return page;
  }

  async series(now: Date): Promise<InventorySeries> {
    const q = seriesSql(pgDialect, now.getTime());
    // One snapshot (REPEATABLE READ), so the counts agree with each other.
    return this.transaction('read', async (c) => {
      await c.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const all = async (b: { text: string; values: unknown[] }) => (await c.query<{ d: number; n: number }>(b.text, b.values)).rows;
      const one = async (b: { text: string; values: unknown[] }) => (await c.query<{ n: number; e: number }>(b.text, b.values)).rows[0]!;
      const value = toSeries(now.getTime(), {
        issued: await all(q.issued), expiring: await all(q.expiring), revokedExpiring: await all(q.revokedExpiring),
        tail: await one(q.tail), revokedLive: await one(q.revokedLive), servingLive: await one(q.servingLive), servingToday: await one(q.servingToday),
      });
      return { value, rollback: true };
    });
  }

  async pruneUsedTokens(before: Date): Promise<number> {
    return this.guard('write', async () => (await this.pool.query('DELETE FROM used_tokens WHERE expires_at < $1', [before.getTime()])).rowCount ?? 0);
  }

  stats(now: Date): Promise<LedgerStats> {
    return this.guard('read', () => pgStats(this.pool, now));
  }

  onCommit(fn: CommitObserver | null): void {
    this.group.observer = fn;
  }

  async ping(): Promise<void> {
    // Short: a load balancer's health check should hear "down" before its own timeout.
    await this.guard('read', () => this.pool.query({ text: 'SELECT 1', query_timeout: 2000 } as pg.QueryConfig));
  }

  async close(): Promise<void> {
    await this.group.drain().catch(() => undefined);
    await this.feed?.close();
    await this.pool.end();
  }

  private async guard<T>(op: 'read' | 'write', fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw mapPgError(op, err);
    }
  }

  /** BEGIN … COMMIT on one pooled connection; `rollback` ends it without committing. */
  private async transaction<T>(op: 'read' | 'write', fn: (c: pg.PoolClient) => Promise<{ value: T; rollback?: boolean }>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw mapPgError(op, err);
    }
    let broken: unknown;
    try {
      await client.query('BEGIN');
      const r = await fn(client);
      await client.query(r.rollback ? 'ROLLBACK' : 'COMMIT');
      return r.value;
    } catch (err) {
      if (isConnectionLoss(err)) broken = err;
      else await client.query('ROLLBACK').catch((e: unknown) => { broken = e; });
      throw mapPgError(op, err);
    } finally {
      // A connection that failed is destroyed, not handed to the next request.
      client.release(broken as Error | undefined);
    }
  }

  /**
   * A batch whose commit may or may not have happened: its requests were refused (no certificate
   * left), and whatever PostgreSQL decided stands: a row that exists has its token spent, a row
   * that does not left its token usable. Once the database answers again, say which it was.
   */
  private reportUnknownOutcome(serials: string[]): void {
    let tries = 0;
    const check = () => {
      this.pool.query<{ serial: string }>('SELECT serial FROM certificates WHERE serial = ANY($1)', [serials]).then(({ rows }) => {
        this.warn(`ledger: a commit's outcome was unknown; of its ${serials.length} certificates none was handed out, ${rows.length} were recorded (serials ${rows.map((r) => r.serial).join(', ') || 'none'}): their tokens are spent, the others' are not`);
      }, () => {
        if (++tries < 10) setTimeout(check, 1000 * tries).unref();
      });
    };
    setTimeout(check, 500).unref();
  }
}

/** One issuer's revoked rows (see IssuerScope), or every revoked row when no scope is given. */
async function revokedRows(q: pg.Pool | pg.PoolClient, notAfterAfter: Date, scope?: IssuerScope): Promise<RevokedEntry[]> {
  const { rows } = await q.query<{ serial: string; revoked_at: number; revocation_reason_code: number; not_after: number }>(
    scope
      ? 'SELECT serial, revoked_at, revocation_reason_code, not_after FROM certificates WHERE revoked_at IS NOT NULL AND not_after > $1 AND (issuer = $2 OR ($3 AND issuer IS NULL)) ORDER BY revoked_at, serial'
      : 'SELECT serial, revoked_at, revocation_reason_code, not_after FROM certificates WHERE revoked_at IS NOT NULL AND not_after > $1 ORDER BY revoked_at, serial',
    scope ? [notAfterAfter.getTime(), scope.name, scope.orUnnamed] : [notAfterAfter.getTime()],
  );
  return rows.map((r) => ({ serial: r.serial, revokedAt: new Date(r.revoked_at), reasonCode: r.revocation_reason_code, notAfter: new Date(r.not_after) }));
}

/** PostgreSQL's side of inventory.ts: numbered parameters, serial ties, subjects in byte order. */
function pgDialect(): Dialect & { values: unknown[] } {
  const values: unknown[] = [];
  return {
    values,
    param: (v) => `$${values.push(v)}`,
    tie: 'serial',
    subjectCollation: ' COLLATE "C"',
    indexedBy: () => '',
  };
}
