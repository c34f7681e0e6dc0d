// Starts one of our worker_threads modules from where this build runs: the compiled dist/ (the
// CLI), or the TypeScript source under tsx (tests, bench).
import { parentPort, Worker } from 'node:worker_threads';

/** `base` is the module's URL without extension, relative to `from` (a caller's import.meta.url). */
export function startWorker(base: string, from: string, workerData?: unknown): Worker {
  if (!from.endsWith('.ts')) return new Worker(new URL(`${base}.js`, from), { workerData });
  // Node 20 does not carry `--import tsx` into a worker's module loader, so the worker registers
  // tsx itself before it imports the source.
  const target = JSON.stringify(new URL(`${base}.ts`, from).href);
  const boot = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${target}); })`;
  return new Worker(boot, { eval: true, workerData });
}

/**
 * One long-lived worker thread answering numbered jobs: each job posted with an `id`, each reply
 * carrying it back. Started on first use; if the thread dies, every job in flight fails with
 * `onDeath(why)` and the next job starts a new thread.
 */
export class JobThread<Reply extends { id: number }> {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: unknown) => void }>();

  constructor(
    private readonly base: string,
    private readonly from: string,
    private readonly onDeath: (why: string) => Error,
    private readonly workerData?: unknown,
  ) {}

  call(job: object): Promise<Reply> {
    const w = this.spawn();
    const id = this.nextId++;
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage({ ...job, id });
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }

  private spawn(): Worker {
    if (this.worker) return this.worker;
    const w = startWorker(this.base, this.from, this.workerData);
    w.unref();
    w.on('message', (m: Reply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      p.resolve(m);
    });
    const fail = (why: string) => {
      if (this.worker === w) this.worker = null;
      for (const p of this.pending.values()) p.reject(this.onDeath(why));
      this.pending.clear();
    };
    w.on('error', (e) => fail(`failed: ${e.message}`));
    w.on('exit', () => fail('stopped'));
    this.worker = w;
    return w;
  }
}

/** A job's failure as a worker reports it: SQLite's code, when there is one, and the message. */
export interface JobFailure { code?: string; message: string }

/**
 * In a worker: answers each numbered job with `{ id, ...handle(job) }`, or `{ id, failed }` when
 * `handle` throws, so the thread outlives a failed job.
 */
export function answerJobs<J extends { id: number }>(handle: (job: J) => object): void {
  parentPort!.on('message', (job: J) => {
    let result: object;
    try {
      result = { id: job.id, ...handle(job) };
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      result = { id: job.id, failed: { code: typeof code === 'string' ? code : undefined, message: (err as Error).message } satisfies JobFailure };
    }
    parentPort!.postMessage(result);
  });
}
