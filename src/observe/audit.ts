// The audit trail as the rest of Stepstone sees it: refusals recorded without letting a storm
// flood the ledger, admin actions appended, events read back page by page. Issuances and
// revocations are not written here: the authority hands their records to the ledger with what
// they record, in one transaction.
import { randomUUID } from 'node:crypto';
import type { Attempt } from '../authority/observer.js';
import type { AuditEvent, AuditEventInput, EventQuery, EventStore } from '../ledger/ledger.js';
import { refusalReason } from './reasons.js';

export interface AuditOptions {
  replica: string | null;
  /** Refusals per (client, reason, operation) are aggregated over windows this long. */
  windowMs: number;
  /** Distinct clients tracked per window; the rest share one aggregate per reason. */
  maxClients: number;
  now?: () => Date;
  /** A write that failed (the request it describes has been answered already). */
  onError?: (err: unknown) => void;
  /** Told of each refusal record written: single, or an aggregate of `folded` more. */
  onRecord?: (type: 'single' | 'aggregate', folded: number) => void;
}

/** An admin action for the trail (the console, admin tools). */
export interface AdminAction {
  actor: string;
  action: string;
  /** What it acted on, e.g. a serial or a provisioner name. */
  serial?: string | null;
  subject?: string | null;
  provisioner?: string | null;
  reason?: string | null;
  requestId?: string | null;
  clientAddress?: string | null;
}

export interface EventPage {
  events: AuditEvent[];
  /** Pass as `afterSeq` (ascending) or `beforeSeq` (descending) for the next page; null at the end. */
  next: number | null;
}

const OVERFLOW = '*';
const MAX_PAGE = 1000;

interface Tally { client: string | null; reason: string; op: string; provisioner: string | null; folded: number }

export class AuditTrail {
  private window = new Map<string, Tally>();
  private windowStart: number;
  private clients = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly now: () => Date;
  private pending = new Set<Promise<void>>();

  constructor(private readonly store: EventStore, private readonly o: AuditOptions) {
    this.now = o.now ?? (() => new Date());
    this.windowStart = this.now().getTime();
    this.schedule();
  }

  /**
   * A refused request. The first refusal of a (client, reason, operation) in a window is written
   * at once with its request id; the rest of that window become one row with their count, written
   * when the window closes. So a client hammering the CA costs the ledger two rows a minute per
   * reason, and an attacker rotating addresses at most `maxClients` keys before sharing one.
   */
  refused(a: Attempt | { op: 'request'; requestId?: string; clientAddress?: string }, err: unknown): void {
    const reason = refusalReason(err, 'credential' in a ? a : undefined);
    if (reason === null) return;
    const t = this.now();
    if (t.getTime() - this.windowStart >= this.o.windowMs) this.rollWindow();
    const address = a.clientAddress ?? null;
    const tracked = address === null || this.clients.has(address) || this.clients.size < this.o.maxClients;
    const client = tracked ? address : OVERFLOW;
    if (tracked && address !== null) this.clients.add(address);
    // The provisioner is only ever a verified one (observer.ts), so it keeps the keys bounded.
    const provisioner = 'provisioner' in a ? (a.provisioner ?? null) : null;
    const key = `${client}\u0000${reason}\u0000${a.op}\u0000${provisioner}`;
    const tally = this.window.get(key);
    if (tally) {
      tally.folded++;
      return;
    }
    this.window.set(key, { client, reason, op: a.op, provisioner, folded: client === OVERFLOW ? 1 : 0 });
    if (client === OVERFLOW) return;
    const v = a as Partial<Attempt>;
    this.write([{
      id: randomUUID(), time: t, type: 'refused', replica: this.o.replica, requestId: a.requestId ?? null, clientAddress: address,
      provisioner, subject: v.subject ?? null, sans: v.sans ?? null, serial: v.serial ?? null, outcome: a.op, reason, count: 1,
    }], 'single', 0);
  }

  /** Appends an admin action; resolves once it is committed. */
  async admin(action: AdminAction): Promise<AuditEventInput> {
    const e: AuditEventInput = {
      id: randomUUID(), time: this.now(), type: 'admin', replica: this.o.replica, actor: action.actor, outcome: action.action,
      serial: action.serial ?? null, subject: action.subject ?? null, provisioner: action.provisioner ?? null, reason: action.reason ?? null,
      requestId: action.requestId ?? null, clientAddress: action.clientAddress ?? null,
    };
    await this.store.append([e]);
    return e;
  }

  /** One page of events; newest first by default (a console), oldest first with order 'asc' (a tail). */
  async list(q: Partial<EventQuery> = {}): Promise<EventPage> {
    const limit = Math.min(Math.max(1, q.limit ?? 50), MAX_PAGE);
    const events = await this.store.list({ ...q, limit, order: q.order ?? 'desc' });
    return { events, next: events.length === limit ? events[events.length - 1]!.seq : null };
  }

  /** Writes what the current window has aggregated, and waits for every write in flight. */
  async flush(): Promise<void> {
    this.rollWindow();
    while (this.pending.size) await Promise.all([...this.pending]);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.flush();
  }

  // One timer, set afresh by every roll: a window rolled early by a refusal (the loop was too
  // busy for the timer) must not be cut short again by a timer still on the old phase.
  private schedule(): void {
    clearTimeout(this.timer);
    if (this.closed) return;
    this.timer = setTimeout(() => this.rollWindow(), this.o.windowMs);
    this.timer.unref();
  }

  private rollWindow(): void {
    const ended = this.window;
    this.window = new Map();
    this.clients = new Set();
    this.windowStart = this.now().getTime();
    this.schedule();
    const t = this.now();
    for (const s of ended.values()) {
      if (s.folded === 0) continue;
      this.write([{
        id: randomUUID(), time: t, type: 'refused', replica: this.o.replica, clientAddress: s.client, provisioner: s.provisioner,
        outcome: s.op, reason: s.reason, count: s.folded,
      }], 'aggregate', s.folded);
    }
  }

  private write(events: AuditEventInput[], type: 'single' | 'aggregate', folded: number): void {
    const p = this.store.append(events).then(
      () => this.o.onRecord?.(type, folded),
      (err: unknown) => this.o.onError?.(err),
    ).finally(() => this.pending.delete(p));
    this.pending.add(p);
  }
}
