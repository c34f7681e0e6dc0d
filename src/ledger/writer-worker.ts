// The ledger's writer thread: group commits run here, so the fsync of one batch never stalls the
// event loop that is parsing and signing the next requests, and batches grow with the load.
import { workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { configureConnection } from './connection.js';
import { issuanceBatch, type IssuanceItem, type ItemOutcome } from './issuance-batch.js';
import { answerJobs, type JobFailure } from '../util/worker.js';

export interface BatchJob { id: number; items: IssuanceItem[] }
export type BatchResult = { id: number; outcomes: ItemOutcome[] } | { id: number; failed: JobFailure };

const db = new Database((workerData as { file: string }).file);
configureConnection(db);
const commit = issuanceBatch(db);

answerJobs((job: BatchJob) => ({ outcomes: commit(job.items) }));
