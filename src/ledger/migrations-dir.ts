// Where the SQLite migrations live and the newest version among them: what the ledger needs to
// know without loading the migrator (postgrator, with glob and minimatch), which runs only when
// a schema is checked or moved (migrate.ts; the server does that on a thread of its own).
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The repository's `migrations/` directory. This module sits two levels below the repo root both
 * as source (src/ledger/) and compiled (dist/ledger/).
 */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url));

/** The highest version among the migration files in `dir` (0 when there are none). */
export function knownVersion(dir: string): number {
  return Math.max(0, ...readdirSync(dir).map((f) => Number(/^(\d+)\.do\./.exec(f)?.[1] ?? 0)));
}
