// Starts one of our worker_threads modules from where this build runs: the compiled dist/ (the
// CLI), or the TypeScript source under tsx (tests, bench).
import { parentPort, Worker, type ResourceLimits } from 'node:worker_threads';

/** `base` is the module's URL without extension, relative to `from` (a caller's import.meta.url). */
export function startWorker(base: string, from: string, workerData?: unknown, resourceLimits?: ResourceLimits): Worker {
  if (!from.endsWith('.ts')) return new Worker(new URL(`${base}.js`, from), { workerData, resourceLimits });
  // Node 20 does not carry `--import tsx` into a worker's module loader, so the worker registers
  // tsx itself before it imports the source.
  const target = JSON.stringify(new URL(`${base}.ts`, from).href);
  const boot = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${target}); })`;
  return new Worker(boot, { eval: true, workerData, resourceLimits });
}

/**
 * One long-lived worker thread answering numbered jobs: each job posted with an `id`, each reply
 * carrying it back. Started on first use; if the thread dies, every job in flight fails with
 * `onDeath(why)` and the next job starts a new thread. With `idleMs`, a thread that has had no
 * job for that long is stopped (and started again by the next job): a worker is a V8 isolate of
 * its own, 10–20 MiB resident, which a rarely used one (the CRL's) should not hold between runs.
 */
export interface JobThreadOptions {
  workerData?: unknown;
  /** Stop the thread after this long without a job (unset: it lives until close()). */
  idleMs?: number;
  /** The worker's own heap limits (its young generation, say: V8's default grows to 32 MiB). */
  resourceLimits?: ResourceLimits;
}

export class JobThread<Reply extends { id: number }> {
  private worker: Worker | null = null;
  private nextId = 1;
  // Each job remembers its thread: a thread stopped by close() (or after idling) exits later, and
  // its exit must fail only its own jobs, never those already sent to the thread that replaced it.
  private readonly pending = new Map<number, { worker: Worker; resolve: (r: Reply) => void; reject: (e: unknown) => void }>();
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly base: string,
    private readonly from: string,
    private readonly onDeath: (why: string) => Error,
    private readonly o: JobThreadOptions = {},
  ) {}

  /** Whether a thread is running now (tests; idle threads are stopped after `idleMs`). */
  get running(): boolean {
    return this.worker !== null;
  }

  call(job: object): Promise<Reply> {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    const w = this.spawn();
    const id = this.nextId++;
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { worker: w, resolve, reject });
      w.postMessage({ ...job, id });
    });
  }

  async close(): Promise<void> {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }

  /** After a reply: with nothing else pending, stop the thread once it has idled `idleMs`. */
  private armIdle(): void {
    if (this.o.idleMs === undefined || this.pending.size > 0 || !this.worker) return;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.pending.size === 0) void this.close();
    }, this.o.idleMs);
    this.idleTimer.unref();
  }

  private spawn(): Worker {
    if (this.worker) return this.worker;
    const w = startWorker(this.base, this.from, this.o.workerData, this.o.resourceLimits);
    w.unref();
    w.on('message', (m: Reply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      p.resolve(m);
      this.armIdle();
    });
    const fail = (why: string) => {
      if (this.worker === w) this.worker = null;
      for (const [id, p] of this.pending) {
        if (p.worker !== w) continue;
        this.pending.delete(id);
        p.reject(this.onDeath(why));
      }
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
      result = { id: job.id, failed: jobFailure(err) };
    }
    parentPort!.postMessage(result);
  });
}

/**
 * Runs one of our worker modules for a single answer and lets the thread end: for work whose
 * libraries the long-lived process should not keep loaded (a worker is an isolate of its own, and
 * its modules go when it exits). The module posts `{ ok: value }` or `{ failed }` (see
 * answerOnce); a thread that dies without posting rejects.
 */
export function runOnce<T>(base: string, from: string, workerData: unknown): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const w = startWorker(base, from, workerData);
    let settled = false;
    w.once('message', (m: { ok: T } | { failed: JobFailure }) => {
      settled = true;
      if ('ok' in m) resolve(m.ok);
      else reject(Object.assign(new Error(m.failed.message), m.failed.code ? { code: m.failed.code } : {}));
    });
    w.once('error', (e) => { if (!settled) { settled = true; reject(e); } });
    w.once('exit', (code) => { if (!settled) { settled = true; reject(new Error(`${base} stopped (exit ${code}) without an answer`)); } });
  });
}

/** In a worker started by runOnce: posts what `work` returns, or why it threw. */
export async function answerOnce(work: () => unknown): Promise<void> {
  try {
    parentPort!.postMessage({ ok: await work() });
  } catch (err) {
    parentPort!.postMessage({ failed: jobFailure(err) });
  }
}

function jobFailure(err: unknown): JobFailure {
  const code = (err as { code?: unknown }).code;
  return { code: typeof code === 'string' ? code : undefined, message: (err as Error).message };
}
