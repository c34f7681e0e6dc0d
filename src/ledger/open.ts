// The one place a ledger backend is chosen: ca.json's `db` block in, a Ledger out. The server,
// the ledger tools and `ledger copy` all come through here, so nothing else names a backend.
// Backends load lazily: a SQLite CA never loads pg, a PostgreSQL one never opens a file.
import { existsSync } from 'node:fs';
import type { DbConfig } from '../config/schema.js';
import type { Ledger, SharedRevocationFeed } from './ledger.js';
import { isPostgresType, pgSource, type PgSource } from './pg-source.js';

export type LedgerTarget = { kind: 'sqlite'; file: string } | { kind: 'postgresql'; source: PgSource };

export interface OpenOptions {
  /**
   * 'server': migrate, commit on a writer thread (SQLite) or listen for other replicas
   * (PostgreSQL). 'tool': read what is there: SQLite read-only (migrating only a file whose schema
   * is behind, as the server's next start would), PostgreSQL in read-only sessions.
   */
  role: 'server' | 'tool';
  /** Pool and listener trouble (PostgreSQL), never with the password. */
  warn?: (msg: string, err?: unknown) => void;
  /** SQLite server only: the other `serve --workers` processes on the same file. */
  feed?: SharedRevocationFeed;
}

/** Where the ledger of this `db` block lives. Throws an Error naming the field when it cannot say. */
export function ledgerTarget(db: DbConfig, resolvePath: (p: string) => string): LedgerTarget {
  if (isPostgresType(db.type)) return { kind: 'postgresql', source: pgSource(db, resolvePath) };
  if (db.type.toLowerCase() === 'sqlite') return { kind: 'sqlite', file: resolvePath(db.dataSource) };
  throw new Error(`db.type: "${db.type}" is not supported; use "sqlite" (the default) or "postgresql"`);
}

/** A `--to`/`--db` argument: a postgresql:// URL, else a SQLite file path. */
export function targetOfArgument(arg: string): LedgerTarget {
  if (/^postgres(ql)?:\/\//i.test(arg)) return { kind: 'postgresql', source: pgSource({ type: 'postgresql', dataSource: arg }) };
  return { kind: 'sqlite', file: arg };
}

/** What to call it in messages: a file path, or the database without its password. */
export function describeTarget(t: LedgerTarget): string {
  return t.kind === 'sqlite' ? t.file : t.source.describe;
}

export async function openLedger(t: LedgerTarget, o: OpenOptions): Promise<Ledger> {
  if (t.kind === 'postgresql') {
    const { openPostgresLedger } = await import('./postgres.js');
    return openPostgresLedger(t.source, { role: o.role, warn: o.warn });
  }
  const { openSqliteLedger } = await import('./sqlite.js');
  if (o.role === 'server') return openSqliteLedger(t.file, { feed: o.feed, migrateOn: 'thread' });
  return openSqliteForReading(t.file);
}

/**
 * Read-only first: a SqliteLedger over a read-only connection, skipping migrations. A ledger on an
 * older schema lacks the tables its statements name, and fails to construct; it is then opened
 * the way `serve` opens it (migrating), which is the CA's own next step anyway.
 */
async function openSqliteForReading(file: string): Promise<Ledger> {
  if (!existsSync(file)) throw new Error(`no ledger at ${file}`);
  const { default: Database } = await import('better-sqlite3');
  const { SqliteLedger, openSqliteLedger } = await import('./sqlite.js');
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    return new SqliteLedger(db, { writer: 'inline' });
  } catch (e) {
    db.close();
    if (!(e instanceof Database.SqliteError)) throw e;
    return openSqliteLedger(file, { writer: 'inline' });
  }
}
