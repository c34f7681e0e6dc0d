// The thread openSqliteLedger starts for a server: brings the file's schema up to date through
// its own connection (migrate.ts), closes it and ends, so postgrator and its glob never stay
// loaded in the long-lived process.
import { workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { configureConnection } from './connection.js';
import { migrate } from './migrate.js';
import { answerOnce } from '../util/worker.js';

const { file, dir } = workerData as { file: string; dir: string };
await answerOnce(async () => {
  const db = new Database(file);
  try {
    configureConnection(db);
    return await migrate(db, dir);
  } finally {
    db.close();
  }
});
