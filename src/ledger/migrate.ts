// Schema migrations for the SQLite ledger, driven by postgrator over a better-sqlite3 connection.
// migrations/README.md says how the files are laid out: SQLite's here, PostgreSQL's twins in
// migrations/postgresql/ (run by migrate-postgres.ts), one pair per version.
//
// postgrator's own `migrate()` is not safe to call blindly: it first creates or ALTERs its schema
// table, and when the database is ahead of the files it would run `undo` scripts to go *down*.
// So we read both versions ourselves and refuse a newer database before postgrator writes
// anything, and we wrap the whole run in one IMMEDIATE transaction so a failed migration (or two
// processes opening the same fresh file) never leaves a half-built schema behind.

import path from 'node:path';
import type Database from 'better-sqlite3';
import Postgrator from 'postgrator';

/**
 * Brings the database to the newest schema found in `migrationsDir` (files named
 * `<version>.do.<name>.sql`). Throws, leaving the database untouched, when the database records a
 * version newer than any file: an older Stepstone must not write to a newer schema.
 */
export async function migrate(db: Database.Database, migrationsDir: string): Promise<{ from: number; to: number }> {
  const postgrator = new Postgrator({
    driver: 'sqlite3',
    schemaTable: 'schema_version',
    migrationPattern: migrationGlob(migrationsDir),
    // Checksums are taken after normalising line endings, so a CRLF checkout is not "changed".
    newline: 'LF',
    validateChecksums: true,
    execQuery: async (query) => {
      const stmt = db.prepare(query);
      if (stmt.reader) return { rows: stmt.all() as unknown[] };
      stmt.run();
      return { rows: [] };
    },
    execSqlScript: async (script) => {
      db.exec(script);
    },
  });

  // A migration that rebuilds a table (SQLite cannot drop a constraint in place) needs foreign
  // key enforcement off, and SQLite only lets that change outside a transaction: so it is off for
  // the whole run, and foreign_key_check must find nothing before the commit (SQLite's documented
  // procedure for schema changes).
  const enforced = db.pragma('foreign_keys', { simple: true }) === 1;
  db.pragma('foreign_keys = OFF');
  // Every callback above is synchronous underneath, so nothing else can interleave on this
  // connection while the transaction is open across the awaits.
  db.exec('BEGIN IMMEDIATE');
  try {
    // Both reads are side-effect free: hasVersionTable() only consults pragma_table_info.
    const from = await checkVersions(postgrator, migrationsDir);
    await postgrator.migrate('max');
    const to = await postgrator.getDatabaseVersion();
    // Only after a change: the check reads every row that holds a reference.
    const broken = to === from ? [] : (db.pragma('foreign_key_check') as unknown[]);
    if (broken.length) throw new Error(`ledger migration to version ${to} would break ${broken.length} foreign key reference(s); nothing was changed`);
    db.exec('COMMIT');
    return { from, to };
  } catch (err) {
    if (db.inTransaction) db.exec('ROLLBACK');
    throw err;
  } finally {
    if (enforced) db.pragma('foreign_keys = ON');
  }
}

/**
 * The database's version, after refusing a database newer than the files (an older Stepstone
 * must not write to a newer schema) and an empty migrations directory (which would otherwise
 * "succeed" and hand back a ledger with no tables). Reads only.
 */
export async function checkVersions(postgrator: Postgrator, migrationsDir: string): Promise<number> {
  const from = await postgrator.getDatabaseVersion();
  const max = await postgrator.getMaxVersion();
  if (!Number.isFinite(max)) throw new Error(`no ledger migrations found in ${migrationsDir}`);
  if (from > max) {
    throw new Error(
      `ledger schema version ${from} is newer than this Stepstone knows (max ${max}); ` +
        'upgrade Stepstone or restore a matching backup',
    );
  }
  return from;
}

/** postgrator's pattern for every `.sql` file directly in `dir`. */
export function migrationGlob(dir: string): string {
  return `${globEscape(dir)}/*.sql`;
}

// postgrator hands the pattern straight to `glob`, so a checkout path containing [, *, { or (
// would silently match nothing. glob wants '/' separators and treats '\' as its escape character.
function globEscape(dir: string): string {
  const slashed = path.sep === '\\' ? dir.split('\\').join('/') : dir.replace(/\\/g, '\\\\');
  return slashed.replace(/[?*()[\]{}]/g, '\\$&');
}
