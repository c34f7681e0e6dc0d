// Schema migrations for the PostgreSQL ledger: the same numbered history as SQLite's, from the
// twins in migrations/postgresql/ (migrations/README.md), run by postgrator over one connection.
//
// Replicas that start together must migrate once: the whole run is one transaction that first
// takes a transaction-level advisory lock, so a second replica waits on the lock, then reads the
// version the first one committed and finds nothing to do. PostgreSQL's DDL is transactional, so
// a failed migration leaves nothing behind; a database newer than the files is refused before
// postgrator writes anything (it would otherwise look for `undo` scripts).
import type { ClientBase } from 'pg';
import Postgrator from 'postgrator';
import { checkVersions, migrationGlob } from './migrate.js';
import { PG_MIGRATIONS_DIR } from './migrations-dir.js';

/** Any fixed 64-bit number; one per purpose in this database. ("stepstone" in ASCII, as hex.) */
export const MIGRATION_LOCK_KEY = '0x73746570' + '73746f6e';

export async function migratePostgres(client: ClientBase, migrationsDir = PG_MIGRATIONS_DIR): Promise<{ from: number; to: number }> {
  await client.query('BEGIN');
  try {
    await client.query(`SELECT pg_advisory_xact_lock(${BigInt(MIGRATION_LOCK_KEY)})`);
    const { rows } = await client.query<{ db: string; schema: string | null }>('SELECT current_database() AS db, current_schema() AS schema');
    const postgrator = new Postgrator({
      driver: 'pg',
      schemaTable: 'schema_version',
      // Only this database and schema: another application's schema_version elsewhere is not ours.
      database: rows[0]!.db,
      currentSchema: rows[0]!.schema ?? undefined,
      migrationPattern: migrationGlob(migrationsDir),
      newline: 'LF',
      validateChecksums: true,
      execQuery: async (query) => ({ rows: (await client.query(query)).rows as unknown[] }),
    });
    const from = await checkVersions(postgrator, migrationsDir);
    await postgrator.migrate('max');
    const to = await postgrator.getDatabaseVersion();
    await client.query('COMMIT');
    return { from, to };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
