// Webhook delivery from a persistent outbox: the audit trail is the outbox, and each webhook has a
// durable cursor in the ledger (everything up to it has been delivered). A loop per webhook reads
// the events after its cursor, delivers the ones it subscribes to in order, a few at a time, and
// moves the cursor past what was delivered. A failure is retried with exponential backoff from
// the first undelivered event, so nothing is lost to a receiver outage or a restart, and an event
// may arrive more than once (after a crash mid-delivery, or when a later one in the same window
// succeeded before an earlier one failed): receivers deduplicate on its id. Issuance never waits
// for any of this. Replicas sharing a ledger take a lease on each cursor, so one delivers at a time.
import type { AuditEvent, Ledger } from '../ledger/ledger.js';
import type { WebhookCursor } from '../ledger/events.js';
import { deliver, webhookBody, type WebhookTarget } from './webhook-delivery.js';

export interface DispatcherOptions {
  /** Who holds the leases: unique per running process. */
  owner: string;
  /** How often to look for events written by other replicas (local ones wake the loop at once). */
  pollMs?: number;
  /** How long a cursor lease lasts: at least three times the longest delivery timeout. */
  leaseMs?: number;
  /** First retry after this, doubling up to maxBackoffMs. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Events read per pass. */
  page?: number;
  onAttempt?: (webhook: string, delivered: boolean, event: AuditEvent, error?: string) => void;
  onBacklog?: (webhook: string, events: number) => void;
  onError?: (webhook: string, err: unknown) => void;
}

interface Wait { ms: number; wakeable: boolean }

export class WebhookDispatcher {
  private stopped = false;
  private readonly loops: Promise<void>[] = [];
  private readonly wakers = new Set<() => void>();
  /** Per webhook, the head its cursor had reached at its last pass: idle passes then only read. */
  private readonly caughtUp = new Map<string, number>();
  private readonly o: Required<Omit<DispatcherOptions, 'onAttempt' | 'onBacklog' | 'onError'>> & DispatcherOptions;

  constructor(private readonly ledger: Ledger, private readonly hooks: WebhookTarget[], o: DispatcherOptions) {
    this.o = { pollMs: 2000, leaseMs: 30_000, backoffMs: 1000, maxBackoffMs: 300_000, page: 200, ...o };
  }

  start(): void {
    for (const hook of this.hooks) {
      this.loops.push(this.run(hook).catch((err: unknown) => this.o.onError?.(hook.name, err)));
    }
  }

  /** New events were committed here: look now rather than at the next poll. */
  wake(): void {
    for (const w of [...this.wakers]) w();
  }

  /** Stops every loop and gives up its leases; a delivery cut short is delivered again by the next owner. */
  async close(): Promise<void> {
    this.stopped = true;
    this.wake();
    for (const h of this.hooks) h.agent.destroy();
    await Promise.all(this.loops);
    await Promise.all(this.hooks.map((h) => this.ledger.events.releaseCursor(h.name, this.o.owner).catch((err: unknown) => this.o.onError?.(h.name, err))));
  }

  private async run(hook: WebhookTarget): Promise<void> {
    while (!this.stopped) {
      let wait: Wait = this.idle();
      try {
        wait = await this.pass(hook);
      } catch (err) {
        // The ledger could not be read or written (503-class): try again later, lose nothing.
        this.o.onError?.(hook.name, err);
      }
      if (wait.ms > 0) await this.sleep(wait.ms, wait.wakeable);
    }
  }

  private idle(): Wait {
    return { ms: this.o.pollMs, wakeable: true };
  }

  /** One pass over the backlog; returns how long to wait before the next. */
  private async pass(hook: WebhookTarget): Promise<Wait> {
    const known = this.caughtUp.get(hook.name);
    if (known !== undefined && (await this.ledger.events.head()).seq <= known) return this.idle();
    this.caughtUp.delete(hook.name);
    const now = new Date();
    const cursor = await this.ledger.events.leaseCursor(hook.name, this.o.owner, now, this.o.leaseMs);
    if (!cursor) {
      // Another replica delivers this one; its own gauge says how far behind it is.
      this.o.onBacklog?.(hook.name, 0);
      return this.idle();
    }
    if (cursor.nextAttemptAt > now) return { ms: Math.min(cursor.nextAttemptAt.getTime() - now.getTime(), this.o.leaseMs / 2), wakeable: false };
    const events = await this.ledger.events.list({ afterSeq: cursor.seq, limit: this.o.page, order: 'asc' });
    const head = events.length ? (await this.ledger.events.head()).seq : cursor.seq;
    this.o.onBacklog?.(hook.name, head - cursor.seq);
    if (!events.length) {
      this.caughtUp.set(hook.name, cursor.seq);
      return this.idle();
    }

    const leasedAt = Date.now();
    const save = (c: Omit<WebhookCursor, 'webhook'>) => this.ledger.events.saveCursor({ webhook: hook.name, ...c }, this.o.owner);
    let delivered = cursor.seq;
    let failure: string | null = null;
    for (let i = 0; i < events.length; i += hook.concurrency) {
      // Renewed before any window could outlast it (the lease is at least three delivery timeouts).
      if (Date.now() - leasedAt > this.o.leaseMs / 3 && !(await this.ledger.events.leaseCursor(hook.name, this.o.owner, new Date(), this.o.leaseMs))) return this.idle();
      const window = events.slice(i, i + hook.concurrency);
      const attempt = (e: AuditEvent) => (e.seq === cursor.seq + 1 ? cursor.attempts : 0) + 1;
      const results = await Promise.all(window.map((e) => (hook.events.has(e.type) ? this.send(hook, e, attempt(e)) : Promise.resolve(null))));
      const before = delivered;
      for (let j = 0; j < window.length && failure === null; j++) {
        failure = results[j] ?? null;
        if (failure === null) delivered = window[j]!.seq;
      }
      // Saved window by window, so a crash repeats at most the window that was in flight.
      if (delivered !== before && !(await save({ seq: delivered, attempts: 0, nextAttemptAt: new Date(0), lastError: null }))) return this.idle();
      if (failure !== null || this.stopped) break;
    }
    this.o.onBacklog?.(hook.name, Math.max(0, head - delivered));
    if (failure === null || this.stopped) return { ms: 0, wakeable: true };
    const next = this.retryLater(hook.name, delivered, delivered === cursor.seq ? cursor.attempts + 1 : 1, failure);
    await save(next);
    return { ms: next.nextAttemptAt.getTime() - Date.now(), wakeable: false };
  }

  /** null when delivered, else why not. */
  private async send(hook: WebhookTarget, e: AuditEvent, attempt: number): Promise<string | null> {
    const cert = e.serial ? await this.ledger.getCertificate(e.serial).catch(() => null) : null;
    const r = await deliver(hook, e, webhookBody(e, cert), attempt);
    if (this.stopped && !r.ok) return 'stopped';
    this.o.onAttempt?.(hook.name, r.ok, e, r.ok ? undefined : r.error);
    return r.ok ? null : r.error;
  }

  private retryLater(webhook: string, seq: number, attempts: number, error: string): WebhookCursor {
    const base = Math.min(this.o.maxBackoffMs, this.o.backoffMs * 2 ** Math.min(attempts - 1, 30));
    // ±20 % so replicas and webhooks that failed together do not retry in step.
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    return { webhook, seq, attempts, nextAttemptAt: new Date(Date.now() + delay), lastError: error.slice(0, 500) };
  }

  private sleep(ms: number, wakeable: boolean): Promise<void> {
    return new Promise((resolve) => {
      // A wake cuts an idle wait short, never a backoff; close() cuts either.
      const waker = () => { if (wakeable || this.stopped) finish(); };
      const finish = () => {
        clearTimeout(t);
        this.wakers.delete(waker);
        resolve();
      };
      const t = setTimeout(finish, ms);
      t.unref();
      this.wakers.add(waker);
    });
  }
}
