// Group commit on the main thread's side: issuances queue while one batch is being committed,
// and the whole queue becomes the next batch. Under load a batch grows to whatever arrived during
// the previous fsync; when idle, a lone issuance commits on the next turn of the event loop.
import { JobThread } from '../util/worker.js';
import type { IssuanceItem, ItemOutcome } from './issuance-batch.js';
import type { BatchJob, BatchResult } from './writer-worker.js';
import type { CommitObserver } from './ledger.js';

export type Committer = (items: IssuanceItem[]) => Promise<ItemOutcome[]>;

interface Pending { item: IssuanceItem; resolve: (o: ItemOutcome) => void; reject: (e: unknown) => void }

/** An error the whole batch failed with; `code` is SQLite's when it was SQLite's. */
export class BatchFailed extends Error {
  constructor(message: string, readonly code?: string) { super(message); }
}

export class GroupCommit {
  private queue: Pending[] = [];
  private inFlight: Promise<void> | null = null;
  private scheduled = false;
  /** Told each batch's size and how long its commit took (metrics). */
  observer: CommitObserver | null = null;

  constructor(private readonly commit: Committer) {}

  /** Resolves with the item's outcome once its batch is committed (or refused). */
  enqueue(item: IssuanceItem): Promise<ItemOutcome> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.inFlight || this.scheduled) return;
      this.scheduled = true;
      // One turn later: the requests parsed in this turn join the same batch.
      setImmediate(() => {
        this.scheduled = false;
        this.next();
      });
    });
  }

  /** Waits until everything queued so far is committed. */
  async drain(): Promise<void> {
    while (this.inFlight || this.queue.length) {
      if (!this.inFlight) this.next();
      await this.inFlight;
    }
  }

  private next(): void {
    if (this.inFlight || !this.queue.length) return;
    const batch = this.queue;
    this.queue = [];
    const t0 = performance.now();
    this.inFlight = this.commit(batch.map((p) => p.item)).then(
      (outcomes) => {
        this.observer?.(batch.length, (performance.now() - t0) / 1000);
        batch.forEach((p, i) => p.resolve(outcomes[i] ?? null));
      },
      (err) => batch.forEach((p) => p.reject(err)),
    ).finally(() => {
      this.inFlight = null;
      this.next();
    });
  }
}

const WRITER_YOUNG_MB = 4;

/** Commits on a thread of its own, through its own connection to the same file. */
export class WriterThread {
  // A thread that dies takes its in-flight batch with it; whether that batch committed is
  // unknown, so its requests fail (the client retries with a new token) and the next write
  // starts a new thread.
  private readonly thread: JobThread<BatchResult>;

  constructor(file: string) {
    // Its heap holds one batch at a time (a few KiB per issuance): V8's default young generation
    // (allowed to grow to 2 × 16 MiB, resident once used) is more than it needs.
    this.thread = new JobThread<BatchResult>('./writer-worker', import.meta.url, (why) => new BatchFailed(`ledger writer ${why}`), {
      workerData: { file }, resourceLimits: { maxYoungGenerationSizeMb: WRITER_YOUNG_MB },
    });
  }

  commit: Committer = async (items) => {
    const m = await this.thread.call({ items } satisfies Omit<BatchJob, 'id'>);
    if ('outcomes' in m) return m.outcomes;
    throw new BatchFailed(m.failed.message, m.failed.code);
  };

  close(): Promise<void> {
    return this.thread.close();
  }
}
