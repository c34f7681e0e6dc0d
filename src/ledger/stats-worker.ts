// The thread that counts certificates for the gauges (sqlite-stats.ts), over a read-only
// connection with a small page cache: it reads, and must not crowd out the writer's cache.
import { workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { seriesQuery, statsQuery } from './sqlite-stats.js';
import type { InventorySeries, LedgerStats } from './ledger.js';
import { answerJobs, type JobFailure } from '../util/worker.js';

/** 'stats' (the default): the gauges' counts; 'series': the console's per-day series. */
export interface StatsJob { id: number; now: number; kind?: 'stats' | 'series' }
export type StatsResult = { id: number; stats: Omit<LedgerStats, 'sizeBytes'> } | { id: number; series: InventorySeries } | { id: number; failed: JobFailure };

const db = new Database((workerData as { file: string }).file, { readonly: true, fileMustExist: true });
db.pragma('busy_timeout = 5000');
db.pragma('cache_size = -4096');
const query = statsQuery(db);
const series = seriesQuery(db);

answerJobs((job: StatsJob) => (job.kind === 'series' ? { series: series(job.now) } : { stats: query(job.now) }));
