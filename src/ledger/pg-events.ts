// The audit trail in the PostgreSQL ledger: appends and webhook cursor saves go through the group
// commit with issuances (pg-issuance.ts), reads page by seq, and the counts behind the gauges are
// one query. Every replica shares one chain (pg-chain.ts).
import { randomUUID } from 'node:crypto';
import type { ClientBase, Pool } from 'pg';
import { AUDIT_COLUMNS, fromAuditRow, toAuditRow, verifyChain, type AuditRowValues, type ChainHead, type ChainReport, type StoredAuditRow } from './audit-chain.js';
import type { AuditEvent, AuditEventInput, EventQuery, EventStore, WebhookCursor } from './events.js';
import type { GroupCommit } from './group-commit.js';
import { LEASE_LOST, type IssuanceItem, type ItemOutcome } from './issuance-batch.js';
import type { LedgerStats } from './ledger.js';
import { appendChain } from './pg-chain.js';
import { mapPgError, pgUnavailable } from './pg-errors.js';
import { PgBatchFailed } from './pg-issuance.js';

const EVENT_COLUMNS = `seq, ${AUDIT_COLUMNS}, prev_hash, hash`;
const PAGE = 2000;
const DAY = 86_400_000;

interface CursorRow { webhook: string; seq: number; attempts: number; next_attempt_at: number; last_error: string | null }

/** Runs `fn` in one transaction on a pooled connection (the ledger's own helper). */
export type InTransaction = <T>(op: 'read' | 'write', fn: (c: ClientBase) => Promise<{ value: T; rollback?: boolean }>) => Promise<T>;

export class PgEventStore implements EventStore {
  constructor(private readonly pool: Pool, private readonly group: GroupCommit, private readonly transaction: InTransaction) {}

  async append(events: AuditEventInput[]): Promise<void> {
    if (!events.length) return;
    const outcome = await this.commit({ events: events.map(toAuditRow) });
    if (outcome !== null) throw new Error(`audit events not recorded: ${'message' in outcome ? outcome.message : 'refused'}`);
  }

  async saveCursor(c: WebhookCursor, owner: string): Promise<boolean> {
    const outcome = await this.commit({ cursor: { webhook: c.webhook, owner, seq: c.seq, attempts: c.attempts, nextAttemptAt: c.nextAttemptAt.getTime(), lastError: c.lastError } });
    if (outcome === null) return true;
    if ('code' in outcome && outcome.code === LEASE_LOST) return false;
    throw new Error(`webhook cursor not saved: ${'message' in outcome ? outcome.message : 'refused'}`);
  }

  private async commit(item: IssuanceItem): Promise<ItemOutcome> {
    try {
      return await this.group.enqueue(item);
    } catch (err) {
      if (err instanceof PgBatchFailed) throw pgUnavailable('write', err.cause, err.outcomeUnknown);
      throw mapPgError('write', err);
    }
  }

  async list(q: EventQuery): Promise<AuditEvent[]> {
    const where: string[] = [];
    const values: unknown[] = [];
    const param = (v: unknown) => `$${values.push(v)}`;
    if (q.afterSeq !== undefined) where.push(`seq > ${param(q.afterSeq)}`);
    if (q.beforeSeq !== undefined) where.push(`seq < ${param(q.beforeSeq)}`);
    if (q.since !== undefined) where.push(`time >= ${param(q.since.getTime())}`);
    if (q.until !== undefined) where.push(`time < ${param(q.until.getTime())}`);
    if (q.types?.length) where.push(`type = ANY(${param(q.types)}::text[])`);
    const text = `SELECT ${EVENT_COLUMNS} FROM audit_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq ${q.order === 'desc' ? 'DESC' : 'ASC'} LIMIT ${param(q.limit)}`;
    const { rows } = await this.guard('read', () => this.pool.query<StoredAuditRow>(text, values));
    return rows.map(fromAuditRow);
  }

  async head(): Promise<ChainHead> {
    return this.guard('read', async () => headOf(this.pool));
  }

  verify(): Promise<ChainReport> {
    return this.guard('read', () => verifyPgChain(this.pool));
  }

  async leaseCursor(webhook: string, owner: string, now: Date, leaseMs: number): Promise<WebhookCursor | null> {
    return this.guard('write', async () => {
      // Two statements: an UPDATE cannot see a row its own statement's CTE inserted.
      await this.pool.query('INSERT INTO webhook_cursors (webhook, seq) SELECT $1, seq FROM audit_head WHERE id = 1 ON CONFLICT (webhook) DO NOTHING', [webhook]);
      const { rows } = await this.pool.query<CursorRow>(`UPDATE webhook_cursors SET lease_owner = $1, lease_until = $2
        WHERE webhook = $3 AND (lease_owner IS NULL OR lease_owner = $1 OR lease_until < $4)
        RETURNING webhook, seq, attempts, next_attempt_at, last_error`, [owner, now.getTime() + leaseMs, webhook, now.getTime()]);
      const r = rows[0];
      return r ? { webhook: r.webhook, seq: Number(r.seq), attempts: r.attempts, nextAttemptAt: new Date(Number(r.next_attempt_at)), lastError: r.last_error } : null;
    });
  }

  async releaseCursor(webhook: string, owner: string): Promise<void> {
    await this.guard('write', () => this.pool.query('UPDATE webhook_cursors SET lease_owner = NULL, lease_until = 0 WHERE webhook = $1 AND lease_owner = $2', [webhook, owner]));
  }

  async appendNotices(now: Date, o: Parameters<EventStore['appendNotices']>[1]): Promise<number> {
    const t = now.getTime();
    return this.transaction('write', async (c) => {
      const rows: AuditRowValues[] = [];
      for (const kind of o.kinds) {
        const fraction = kind === 'expiring-soon' ? 0.9 : 0.75;
        // Marked first, ON CONFLICT DO NOTHING: two replicas scanning at once notice each certificate once.
        const { rows: due } = await c.query<{ serial: string; subject: string; sans: string; provisioner: string | null; not_after: number }>(`
          WITH due AS (
            SELECT serial, subject, sans, provisioner, not_after FROM certificates c
            WHERE not_after > $1 AND not_after <= $2 AND revoked_at IS NULL AND method <> 'serving'
              AND $1 >= not_before + (not_after - not_before) * $3::float8
              AND NOT EXISTS (SELECT 1 FROM certificates r WHERE r.replaces = c.serial)
              AND NOT EXISTS (SELECT 1 FROM notices n WHERE n.serial = c.serial AND n.kind = $4)
            ORDER BY not_after LIMIT $5
          ), marked AS (
            INSERT INTO notices (serial, kind) SELECT serial, $4 FROM due ON CONFLICT DO NOTHING RETURNING serial
          )
          SELECT due.* FROM due JOIN marked USING (serial) ORDER BY not_after`, [t, t + o.horizonMs, fraction, kind, o.limit]);
        for (const d of due) {
          rows.push(toAuditRow({
            id: randomUUID(), time: now, type: kind, replica: o.replica, provisioner: d.provisioner, subject: d.subject,
            sans: JSON.parse(d.sans) as string[], serial: d.serial, reason: `expires ${new Date(Number(d.not_after)).toISOString()}`,
          }));
        }
      }
      await appendChain(c, rows);
      return { value: rows.length };
    });
  }

  private async guard<T>(op: 'read' | 'write', fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw mapPgError(op, err);
    }
  }
}

async function headOf(q: Pool | ClientBase): Promise<ChainHead> {
  const { rows } = await q.query<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_head WHERE id = 1');
  return { seq: Number(rows[0]!.seq), hash: rows[0]!.hash };
}

/** Walks the chain page by page (keyset on seq), with `q` a snapshot where the caller needs one. */
export function verifyPgChain(q: Pool | ClientBase, head?: ChainHead): Promise<ChainReport> {
  return (async () => verifyChain(auditRows(q), head ?? (await headOf(q)), async (hash) => {
    const { rows } = await q.query<{ seq: number }>('SELECT seq FROM audit_events WHERE hash = $1 LIMIT 1', [hash]);
    return rows[0] ? Number(rows[0].seq) : null;
  }))();
}

export async function* auditRows(q: Pool | ClientBase): AsyncGenerator<StoredAuditRow> {
  let after = Number.MIN_SAFE_INTEGER;
  for (;;) {
    const { rows } = await q.query<StoredAuditRow>(`SELECT ${EVENT_COLUMNS} FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT ${PAGE}`, [after]);
    yield* rows;
    if (rows.length < PAGE) return;
    after = Number(rows[rows.length - 1]!.seq);
  }
}

/** The counts behind the certificate gauges, and the database's size. */
export async function pgStats(pool: Pool, now: Date): Promise<LedgerStats> {
  const t = now.getTime();
  const { rows } = await pool.query<{ valid: number; expiring7d: number; revoked: number; unrenewed: number; size: number }>(`
    SELECT count(*) FILTER (WHERE revoked_at IS NULL)::int8 AS valid,
           count(*) FILTER (WHERE revoked_at IS NULL AND not_after <= $2)::int8 AS "expiring7d",
           count(*) FILTER (WHERE revoked_at IS NOT NULL)::int8 AS revoked,
           count(*) FILTER (WHERE revoked_at IS NULL AND not_after <= $3 AND $1 >= not_before + (not_after - not_before) * 0.75
             AND NOT EXISTS (SELECT 1 FROM certificates r WHERE r.replaces = c.serial))::int8 AS unrenewed,
           pg_database_size(current_database())::int8 AS size
    FROM certificates c WHERE not_after > $1 AND method <> 'serving'`, [t, t + 7 * DAY, t + DAY]);
  const r = rows[0]!;
  return { valid: Number(r.valid), expiring7d: Number(r.expiring7d), revoked: Number(r.revoked), expiringUnrenewed: Number(r.unrenewed), sizeBytes: Number(r.size) };
}
