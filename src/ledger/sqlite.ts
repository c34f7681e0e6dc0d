// The SQLite ledger: one file, one serving process (the ledger tools may read it beside it).
// Issuances, with the audit events and webhook cursor saves that ride on them, are group-committed
// on a writer thread with its own connection, so an fsync never stalls the event loop; a tool or
// an in-memory ledger commits them inline instead (WriterMode). Revocations, CRL numbers and reads
// run synchronously on this connection through better-sqlite3 and have resolved by the time
// their promise does; the statistics are computed off the event loop (sqlite-stats.ts).

import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { tokenUsed } from '../errors.js';
import type {
  AuditEventInput, CertificateFilter, CertificateRecord, CommitObserver, CrlSnapshot, IssuerScope, Ledger, LedgerStats, Revocation, RevokedEntry, RevokeOutcome,
  RevocationFeed, SharedRevocationFeed, StoredCertificate, TokenClaim,
} from './ledger.js';
import { toAuditRow } from './audit-chain.js';
import { chainWriter } from './sqlite-chain.js';
import { SqliteEventStore } from './sqlite-events.js';
import { SqliteStats } from './sqlite-stats.js';
import { SqliteAcmeStore } from './sqlite-acme.js';
import { guarded, ledgerUnavailable, mapError } from './sqlite-errors.js';
import { MIGRATIONS_DIR } from './migrations-dir.js';
import { runOnce } from '../util/worker.js';
import { configureConnection } from './connection.js';
import { issuanceBatch, isUnavailableCode, spendTokenStatement, type IssuanceItem, type ItemOutcome } from './issuance-batch.js';
import { checkLimit, fromRow, millis, STORED_COLUMNS, toRow, type StoredRow } from './rows.js';
import { BatchFailed, GroupCommit, WriterThread } from './group-commit.js';
import { searchSql, toPage, windowCursor, windowEndSql, type CertificatePage, type CertificateSearch, type InventorySeries } from './inventory.js';
import { sqliteDialect } from './sqlite-dialect.js';


/**
 * Opens (creating when missing) the ledger at `path`, applies pending migrations and returns it.
 * Rejects when the file's schema is newer than this build knows.
 */
export async function openSqliteLedger(file: string, opts: { migrationsDir?: string; writer?: WriterMode; feed?: SharedRevocationFeed; migrateOn?: 'thread' | 'here' } = {}): Promise<SqliteLedger> {
  const writer = opts.writer ?? DEFAULT_WRITER;
  const dir = opts.migrationsDir ?? MIGRATIONS_DIR;
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  // Create the file ourselves so it is never world-readable, whatever the umask; SQLite gives the
  // -wal and -shm files the main file's permissions.
  fs.closeSync(fs.openSync(file, 'a', 0o600));
  // 'thread' (the server): the migrator runs on a thread that ends with it, through a connection of
  // its own closed before ours opens, so its modules never stay resident (migrate-worker.ts).
  if (opts.migrateOn === 'thread') await runOnce<{ from: number; to: number }>('./migrate-worker', import.meta.url, { file, dir });
  let db = new Database(file);
  try {
    configureConnection(db);
    const moved = opts.migrateOn === 'thread' ? null : await (await import('./migrate.js')).migrate(db, dir);
    if (moved && moved.from !== moved.to) {
      // A fresh connection after a schema change: postgrator's statements outlive the migration
      // until garbage collection, and one of them holding a read open made every checkpoint on
      // this connection fail with SQLITE_LOCKED after migration 4 rebuilt a table.
      db.close();
      db = new Database(file);
      configureConnection(db);
    }
    // After migrate, not before: switching to WAL rewrites the file header, and a database we
    // refuse (newer schema) must be left exactly as we found it.
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (String(mode).toLowerCase() !== 'wal') throw new Error(`ledger could not enable WAL (journal_mode is ${String(mode)})`);
    return new SqliteLedger(db, { writer, feed: opts.feed });
  } catch (err) {
    db.close();
    throw err;
  }
}

/** getCertificate's query (OCSP asks it per request): the serial's primary-key index, whatever the table holds. */
export const SELECT_CERTIFICATE_SQL = `SELECT ${STORED_COLUMNS} FROM certificates WHERE serial = ?`;

export class SqliteLedger implements Ledger {
  private readonly insertToken: Database.Statement<[string, string, number, number]>;
  private readonly crlTx: (notAfterAfter: number, scope: IssuerScope | undefined) => CrlSnapshot;
  private readonly selectCert: Database.Statement<[string], StoredRow>;
  private readonly selectLineage: Database.Statement<[string, string], StoredRow>;
  private readonly selectToken: Database.Statement<[string], unknown>;
  private readonly countCerts: Database.Statement<[], number>;
  private readonly deleteTokens: Database.Statement<[number]>;
  private readonly group: GroupCommit;
  private readonly writer: WriterThread | null;
  private readonly revokeTx: (r: Revocation, token: TokenClaim | undefined, event: AuditEventInput | AuditEventInput[] | undefined) => RevokeOutcome;
  readonly events: SqliteEventStore;
  readonly acme: SqliteAcmeStore;
  private readonly statistics: SqliteStats;
  private readonly selectRevoked: Database.Statement<[number], { serial: string; revoked_at: number; revocation_reason_code: number; not_after: number }>;
  private readonly selectRevokedOf: Database.Statement<[number, string, number], { serial: string; revoked_at: number; revocation_reason_code: number; not_after: number }>;
  private readonly bumpCrlNumber: Database.Statement<[], number>;
  // Listing has four shapes; each gets its own statement (rather than `? IS NULL OR ...`) so the
  // planner can use the not_after / provisioner indexes. Prepared on first use: not a hot path.
  private readonly listStatements = new Map<string, Database.Statement<unknown[], StoredRow>>();
  private readonly searchStatements = new Map<string, Database.Statement<unknown[], StoredRow & { tie: number }>>();

  /**
   * @param db an open connection, already migrated; the ledger owns it from here on. Exposed so
   * maintenance code and tests can reach the connection — do not write through it.
   */
  constructor(readonly db: Database.Database, opts: { writer: WriterMode; feed?: SharedRevocationFeed }) {
    this.feed = opts.feed;
    this.insertToken = spendTokenStatement(db);
    this.selectCert = db.prepare<[string], StoredRow>(SELECT_CERTIFICATE_SQL);
    // Up the `replaces` chain to the first issuance, down through every renewal of it.
    this.selectLineage = db.prepare<[string, string], StoredRow>(`
      WITH RECURSIVE
        up(serial, replaces) AS (
          SELECT serial, replaces FROM certificates WHERE serial = ?
          UNION SELECT c.serial, c.replaces FROM certificates c JOIN up ON c.serial = up.replaces),
        down(serial) AS (
          SELECT serial FROM certificates WHERE serial = ?
          UNION SELECT c.serial FROM certificates c JOIN down ON c.replaces = down.serial)
      SELECT ${STORED_COLUMNS} FROM certificates
      WHERE serial IN (SELECT serial FROM up UNION SELECT serial FROM down)
      ORDER BY issued_at, rowid`);
    this.selectToken = db.prepare<[string], unknown>('SELECT 1 FROM used_tokens WHERE jti = ?').pluck();
    this.countCerts = db.prepare<[], number>('SELECT count(*) FROM certificates').pluck();
    this.deleteTokens = db.prepare<[number]>('DELETE FROM used_tokens WHERE expires_at < ?');

    // A file-backed ledger commits issuances on a writer thread, so an fsync never stalls the
    // event loop; an in-memory one (or a read-only CLI) commits inline.
    const threaded = opts.writer === 'thread' && db.name !== ':memory:' && !db.memory;
    this.writer = threaded ? new WriterThread(db.name) : null;
    const inline = threaded ? null : issuanceBatch(db);
    this.group = new GroupCommit(this.writer ? this.writer.commit : async (items) => inline!(items));

    const markRevoked = db.prepare<[number, number, string, string]>(
      'UPDATE certificates SET revoked_at = ?, revocation_reason_code = ?, revocation_reason = ? WHERE serial = ? AND revoked_at IS NULL',
    );
    const exists = db.prepare<[string], unknown>('SELECT 1 FROM certificates WHERE serial = ?').pluck();
    const chain = chainWriter(db);
    const revoke = db.transaction((r: Revocation, token: TokenClaim | undefined, event: AuditEventInput | AuditEventInput[] | undefined): RevokeOutcome => {
      const changed = markRevoked.run(millis(r.revokedAt, 'revokedAt'), r.reasonCode, r.reason, r.serial).changes;
      if (changed === 0) return exists.get(r.serial) === undefined ? 'not_found' : 'already_revoked';
      if (token) {
        const spent = this.insertToken.run(token.jti, token.provisioner, millis(token.expiresAt, 'token expiresAt'), Date.now());
        // Throwing rolls the revocation back with it: a replayed token changes nothing.
        if (spent.changes === 0) throw tokenUsed(`token ${token.jti} already used`);
      }
      if (event) chain.save(chain.append(chain.head(), [event].flat().map(toAuditRow)));
      return 'revoked';
    });
    this.revokeTx = revoke.immediate;
    this.selectRevoked = db.prepare(
      'SELECT serial, revoked_at, revocation_reason_code, not_after FROM certificates WHERE revoked_at IS NOT NULL AND not_after > ? ORDER BY revoked_at, rowid',
    );
    // One issuer's of several (IssuerScope): its name, or no name when it owns the unnamed rows.
    this.selectRevokedOf = db.prepare(
      'SELECT serial, revoked_at, revocation_reason_code, not_after FROM certificates WHERE revoked_at IS NOT NULL AND not_after > ? AND (issuer = ? OR (? AND issuer IS NULL)) ORDER BY revoked_at, rowid',
    );
    this.bumpCrlNumber = db.prepare<[], number>('UPDATE crl_state SET number = number + 1 WHERE id = 1 RETURNING number').pluck();
    const crl = db.transaction((notAfterAfter: number, scope: IssuerScope | undefined): CrlSnapshot => ({ number: this.bumpCrlNumber.get()!, entries: this.revokedEntries(notAfterAfter, scope) }));
    this.crlTx = crl.immediate;
    this.events = new SqliteEventStore(db, this.group);
    this.acme = new SqliteAcmeStore(db);
    this.statistics = new SqliteStats(db, threaded);
  }

  /**
   * Other processes on this file (`serve --workers`) and their revocations, when there are some;
   * else none to hear about.
   */
  private readonly feed: SharedRevocationFeed | undefined;

  get revocations(): RevocationFeed | undefined {
    return this.feed;
  }

  /** Resolves once the row is committed and durable: only then may the certificate leave. */
  async recordIssuance(cert: CertificateRecord, token?: TokenClaim, event?: AuditEventInput): Promise<void> {
    const item: IssuanceItem = {
      row: toRow(cert),
      token: token && { jti: token.jti, provisioner: token.provisioner, expiresAt: millis(token.expiresAt, 'token expiresAt') },
      events: event && [toAuditRow(event)],
    };
    let outcome: ItemOutcome;
    try {
      outcome = await this.group.enqueue(item);
    } catch (err) {
      // The commit itself failed (disk full, read-only, I/O, a dead writer): nothing in the batch was recorded.
      if (err instanceof BatchFailed) throw ledgerUnavailable('write', err.code ?? err.message, err);
      throw mapError('write', err);
    }
    if (outcome === null) return;
    if ('tokenUsed' in outcome) throw tokenUsed(`token ${outcome.tokenUsed} already used`);
    const failure = Object.assign(new Error(outcome.message), { code: outcome.code });
    throw isUnavailableCode(outcome.code) ? ledgerUnavailable('write', outcome.code, failure) : failure;
  }

  async revoke(r: Revocation, token?: TokenClaim, event?: AuditEventInput | AuditEventInput[]): Promise<RevokeOutcome> {
    const outcome = guarded('write', () => this.revokeTx(r, token, event));
    if (outcome === 'revoked') this.feed?.announce(r.serial);
    return outcome;
  }

  stats(now: Date): Promise<LedgerStats> {
    return this.statistics.compute(now).catch((err: unknown) => { throw mapError('read', err); });
  }

  onCommit(fn: CommitObserver | null): void {
    this.group.observer = fn;
  }

  async listRevoked(notAfterAfter: Date): Promise<RevokedEntry[]> {
    return guarded('read', () => this.revokedEntries(millis(notAfterAfter, 'notAfterAfter')));
  }

  private revokedEntries(notAfterAfter: number, scope?: IssuerScope): RevokedEntry[] {
    return (scope ? this.selectRevokedOf.all(notAfterAfter, scope.name, scope.orUnnamed ? 1 : 0) : this.selectRevoked.all(notAfterAfter))
      .map((r) => ({ serial: r.serial, revokedAt: new Date(r.revoked_at), reasonCode: r.revocation_reason_code, notAfter: new Date(r.not_after) }));
  }

  async nextCrlNumber(): Promise<number> {
    return guarded('write', () => this.bumpCrlNumber.get()!);
  }

  async nextCrl(notAfterAfter: Date, scope?: IssuerScope): Promise<CrlSnapshot> {
    return guarded('write', () => this.crlTx(millis(notAfterAfter, 'notAfterAfter'), scope));
  }

  async ping(): Promise<void> {
    guarded('read', () => this.countCerts.get());
  }

  async isTokenUsed(jti: string): Promise<boolean> {
    return guarded('read', () => this.selectToken.get(jti) !== undefined);
  }

  async getCertificate(serial: string): Promise<StoredCertificate | null> {
    const row = guarded('read', () => this.selectCert.get(serial));
    return row ? fromRow(row) : null;
  }

  async lineage(serial: string): Promise<StoredCertificate[]> {
    return guarded('read', () => this.selectLineage.all(serial, serial)).map(fromRow);
  }

  async listCertificates(filter: CertificateFilter = {}): Promise<StoredCertificate[]> {
    const { expiringBefore, provisioner, revoked, limit } = filter;
    checkLimit(limit);
    const where: string[] = [];
    const params: unknown[] = [];
    if (expiringBefore !== undefined) {
      where.push('not_after < ? AND not_after > ?');
      params.push(millis(expiringBefore, 'expiringBefore'), Date.now());
    }
    if (provisioner !== undefined) {
      where.push('provisioner = ?');
      params.push(provisioner);
    }
    if (revoked) where.push('revoked_at IS NOT NULL');
    params.push(limit ?? -1); // SQLite: a negative LIMIT means none
    const rows = guarded('read', () => this.listStatement(where).all(...params));
    return rows.map(fromRow);
  }

  async countCertificates(): Promise<number> {
    return guarded('read', () => this.countCerts.get() ?? 0);
  }

  async searchCertificates(q: CertificateSearch): Promise<CertificatePage> {
    const d = sqliteDialect();
    const text = searchSql(q, d, `${STORED_COLUMNS}, rowid AS tie`);
    const rows = guarded('read', () => this.prepared(text).all(...d.values));
    const page = toPage(rows, q, fromRow);
    if (q.nameContains && !page.next) {
      const e = sqliteDialect();
      const endText = windowEndSql(q, e);
      const end = guarded('read', () => this.db.prepare<unknown[], { k: string | number; tie: number }>(endText).get(...e.values));
      if (end) return { ...page, next: windowCursor(end), searchedPart: true };
    }
    return page;
  }

  series(now: Date): Promise<InventorySeries> {
    return this.statistics.series(millis(now, 'now')).catch((err: unknown) => { throw mapError('read', err); });
  }

  // Searches come in a few dozen shapes (which filters, which sort): each is prepared once.
  private prepared(text: string): Database.Statement<unknown[], StoredRow & { tie: number }> {
    let stmt = this.searchStatements.get(text);
    if (!stmt) {
      if (this.searchStatements.size > 256) this.searchStatements.clear();
      stmt = this.db.prepare<unknown[], StoredRow & { tie: number }>(text);
      this.searchStatements.set(text, stmt);
    }
    return stmt;
  }

  async pruneUsedTokens(before: Date): Promise<number> {
    return guarded('write', () => this.deleteTokens.run(millis(before, 'before')).changes);
  }

  async close(): Promise<void> {
    // Whatever is queued was promised a commit; honour it before closing.
    await this.group.drain();
    await this.writer?.close();
    await this.statistics.close();
    if (this.db.open) this.db.close();
  }

  private listStatement(where: string[]): Database.Statement<unknown[], StoredRow> {
    const key = where.join(' AND ');
    let stmt = this.listStatements.get(key);
    if (!stmt) {
      // rowid breaks issued_at ties in insertion order, so paging stays stable.
      stmt = this.db.prepare<unknown[], StoredRow>(
        `SELECT ${STORED_COLUMNS} FROM certificates ${key ? `WHERE ${key}` : ''} ORDER BY issued_at, rowid LIMIT ?`,
      );
      this.listStatements.set(key, stmt);
    }
    return stmt;
  }
}

/**
 * 'thread': issuances commit on a writer thread through its own connection (the server).
 * 'inline': on the connection given (a read-only tool, a test that limits that connection).
 */
export type WriterMode = 'thread' | 'inline';
/** What openSqliteLedger uses unless told otherwise; the constructor takes the mode explicitly. */
export const DEFAULT_WRITER: WriterMode = 'thread';
