// Where the migrations live, the newest version among them and the version a PostgreSQL database
// records: what the ledger needs to know without loading the migrator (postgrator, with glob and
// minimatch), which runs only when a schema is checked or moved (migrate.ts, migrate-postgres.ts;
// the server does that on a thread of its own).
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClientBase, Pool } from 'pg';

/**
 * The repository's `migrations/` directory. This module sits two levels below the repo root both
 * as source (src/ledger/) and compiled (dist/ledger/).
 */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url));

/** The highest version among the migration files in `dir` (0 when there are none). */
export function knownVersion(dir: string): number {
  return Math.max(0, ...readdirSync(dir).map((f) => Number(/^(\d+)\.do\./.exec(f)?.[1] ?? 0)));
}

/** The PostgreSQL twins of the SQLite migrations (migrations/README.md). */
export const PG_MIGRATIONS_DIR = path.join(MIGRATIONS_DIR, 'postgresql');

/** The version a PostgreSQL database records, or 0 before the first migration; never writes. */
export async function postgresSchemaVersion(client: ClientBase | Pool): Promise<number> {
  const present = await client.query<{ t: string | null }>("SELECT to_regclass('schema_version')::text AS t");
  if (!present.rows[0]?.t) return 0;
  const { rows } = await client.query<{ v: string | null }>('SELECT max(version)::text AS v FROM schema_version');
  return Number(rows[0]?.v ?? 0);
}
