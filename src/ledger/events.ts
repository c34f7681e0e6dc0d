// The audit trail as the ledger keeps it: the event types, what is written, what is read back,
// and the webhook outbox cursors that ride on it. Every backend implements EventStore.
import type { ChainHead, ChainReport } from './audit-chain.js';

export const AUDIT_EVENT_TYPES = ['issued', 'renewed', 'rekeyed', 'revoked', 'refused', 'admin', 'expiring-soon', 'renewal-overdue'] as const;
export type AuditEventType = typeof AUDIT_EVENT_TYPES[number];

/**
 * One audit record. Never a token, key or password: only who, what and why.
 * - issued/renewed/rekeyed: outcome is the method (sign, renew, rekey, serving);
 * - revoked: outcome is how it was authorised (token, certificate), reason the RFC 5280 reason;
 * - refused: outcome is the refused operation, reason a bounded label (observe/reasons.ts), and
 *   count > 1 when refusals from one client were aggregated into one row;
 * - admin: actor is who, outcome the action, reason free text.
 */
export interface AuditEventInput {
  /** A UUID, unique across replicas: webhook receivers deduplicate on it. */
  id: string;
  time: Date;
  type: AuditEventType;
  actor?: string | null;
  requestId?: string | null;
  replica?: string | null;
  clientAddress?: string | null;
  provisioner?: string | null;
  subject?: string | null;
  sans?: string[] | null;
  serial?: string | null;
  outcome?: string | null;
  reason?: string | null;
  count?: number;
}

export interface AuditEvent {
  seq: number;
  id: string;
  time: Date;
  type: string;
  actor: string | null;
  requestId: string | null;
  replica: string | null;
  clientAddress: string | null;
  provisioner: string | null;
  subject: string | null;
  sans: string[] | null;
  serial: string | null;
  outcome: string | null;
  reason: string | null;
  count: number;
  hash: string;
}

/** Pages either way: oldest first after a seq (tailing, delivery), or newest first before one (a console). */
export interface EventQuery {
  afterSeq?: number;
  beforeSeq?: number;
  since?: Date;
  until?: Date;
  types?: readonly string[];
  limit: number;
  order?: 'asc' | 'desc';
}

/** A webhook's place in the trail. */
export interface WebhookCursor {
  webhook: string;
  /** Everything up to and including this seq has been delivered. */
  seq: number;
  /** Failed tries of the next event. */
  attempts: number;
  nextAttemptAt: Date;
  lastError: string | null;
}

export interface EventStore {
  /** Appends events in their own transaction (refusals, admin actions); resolves once committed. */
  append(events: AuditEventInput[]): Promise<void>;
  list(q: EventQuery): Promise<AuditEvent[]>;
  head(): Promise<ChainHead>;
  /** Walks the whole chain (see audit-chain.ts). */
  verify(): Promise<ChainReport>;
  /**
   * Takes (or renews) `owner`'s lease on a webhook's cursor, creating it at the current head the
   * first time: a new webhook hears what happens from now on, not the whole history. Null when
   * another owner's lease is still live.
   */
  leaseCursor(webhook: string, owner: string, now: Date, leaseMs: number): Promise<WebhookCursor | null>;
  /** Saves progress; false (nothing written) when `owner` no longer holds the lease. */
  saveCursor(c: WebhookCursor, owner: string): Promise<boolean>;
  /** Gives the lease up (a clean shutdown), so the next owner need not wait for it to lapse. */
  releaseCursor(webhook: string, owner: string): Promise<void>;
  /**
   * Appends an expiring-soon or renewal-overdue event for each certificate now due one, once per
   * certificate (across replicas): expiring-soon when less than a tenth of its lifetime remains,
   * renewal-overdue past three quarters of it; unrevoked, unexpired and not replaced by a renewal
   * only. Looks `horizonMs` ahead of `now` and at most `limit` certificates. Returns how many.
   */
  appendNotices(now: Date, o: { replica: string | null; horizonMs: number; limit: number; kinds: readonly ('expiring-soon' | 'renewal-overdue')[] }): Promise<number>;
}
