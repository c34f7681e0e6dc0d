// The thread openPostgresLedger starts for a server: brings the database's schema up to date
// through a connection of its own (migrate-postgres.ts), closes it and ends, so postgrator and
// its glob never stay loaded in a replica. Replicas starting together still migrate once: the
// advisory lock is taken on this connection.
import { workerData } from 'node:worker_threads';
import pg from 'pg';
import { migratePostgres } from './migrate-postgres.js';
import { PG_CONNECTION_SETTINGS, PG_UNREACHABLE } from './pg-source.js';
import { answerOnce } from '../util/worker.js';

// As postgres.ts reads them: schema_version's BIGINT versions as numbers, not strings.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

const { connectionString, dir } = workerData as { connectionString: string; dir: string };
await answerOnce(async () => {
  const client = new pg.Client({ connectionString, ...PG_CONNECTION_SETTINGS });
  // A connection the server ends between statements would otherwise be an unhandled 'error' that
  // ends the whole process; the statement in flight fails instead, and that is reported.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    throw Object.assign(new Error((err as Error).message), { code: PG_UNREACHABLE });
  }
  try {
    return await migratePostgres(client, dir);
  } finally {
    await client.end().catch(() => undefined);
  }
});
