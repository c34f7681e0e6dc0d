// The ledger's writer thread: group commits run here, so the fsync of one batch never stalls the
// event loop that is parsing and signing the next requests, and batches grow with the load.
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { configureConnection } from './connection.js';
import { issuanceBatch, type IssuanceItem, type ItemOutcome } from './issuance-batch.js';

export interface BatchJob { id: number; items: IssuanceItem[] }
export type BatchResult = { id: number; outcomes: ItemOutcome[] } | { id: number; failed: { code?: string; message: string } };

const db = new Database((workerData as { file: string }).file);
configureConnection(db);
const commit = issuanceBatch(db);

parentPort!.on('message', (job: BatchJob) => {
  let result: BatchResult;
  try {
    result = { id: job.id, outcomes: commit(job.items) };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    result = { id: job.id, failed: { code: typeof code === 'string' ? code : undefined, message: (err as Error).message } };
  }
  parentPort!.postMessage(result);
});
