// The thread load-off-thread.ts starts: reads and validates one ca.json with the zod schemas, posts
// the plain config back, and ends, taking zod with it.
import { workerData } from 'node:worker_threads';
import { loadConfig } from './load.js';
import { answerOnce } from '../util/worker.js';

await answerOnce(() => loadConfig((workerData as { path: string }).path).config);
