// The audit trail in the SQLite ledger: appends and webhook cursor saves go through the group
// commit with issuances (one fsync for all), reads page by seq, and cursor leases and expiry
// notices are small transactions on the server's own connection.
import { randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import { AUDIT_COLUMNS, fromAuditRow, toAuditRow, verifyChain, type AuditRowValues, type ChainHead, type ChainReport, type StoredAuditRow } from './audit-chain.js';
import type { AuditEvent, AuditEventInput, EventQuery, EventStore, WebhookCursor } from './events.js';
import { BatchFailed, type GroupCommit } from './group-commit.js';
import { chainWriter, type ChainWriter } from './sqlite-chain.js';
import { LEASE_LOST, type IssuanceItem, type ItemOutcome } from './issuance-batch.js';
import { guarded, ledgerUnavailable, mapError } from './sqlite-errors.js';

const EVENT_COLUMNS = `seq, ${AUDIT_COLUMNS}, prev_hash, hash`;
const VERIFY_PAGE = 2000;

interface CursorRow { webhook: string; seq: number; attempts: number; next_attempt_at: number; last_error: string | null }
interface DueRow { serial: string; subject: string; sans: string; provisioner: string | null; not_before: number; not_after: number }

export class SqliteEventStore implements EventStore {
  private readonly listStatements = new Map<string, Database.Statement<unknown[], StoredAuditRow>>();
  private readonly chain: ChainWriter;

  constructor(private readonly db: Database.Database, private readonly group: GroupCommit) {
    this.chain = chainWriter(db);
  }

  async append(events: AuditEventInput[]): Promise<void> {
    if (!events.length) return;
    const outcome = await this.commit({ events: events.map(toAuditRow) });
    if (outcome !== null) throw new Error(`audit events not recorded: ${'message' in outcome ? outcome.message : 'refused'}`);
  }

  private async commit(item: IssuanceItem): Promise<ItemOutcome> {
    try {
      return await this.group.enqueue(item);
    } catch (err) {
      if (err instanceof BatchFailed) throw ledgerUnavailable('write', err.code ?? err.message, err);
      throw mapError('write', err);
    }
  }

  async list(q: EventQuery): Promise<AuditEvent[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (q.afterSeq !== undefined) { where.push('seq > ?'); params.push(q.afterSeq); }
    if (q.beforeSeq !== undefined) { where.push('seq < ?'); params.push(q.beforeSeq); }
    if (q.since !== undefined) { where.push('time >= ?'); params.push(q.since.getTime()); }
    if (q.until !== undefined) { where.push('time < ?'); params.push(q.until.getTime()); }
    if (q.types?.length) { where.push(`type IN (${q.types.map(() => '?').join(', ')})`); params.push(...q.types); }
    const order = q.order === 'desc' ? 'DESC' : 'ASC';
    const key = `${where.join(' AND ')}|${order}`;
    let stmt = this.listStatements.get(key);
    if (!stmt) {
      stmt = this.db.prepare<unknown[], StoredAuditRow>(`SELECT ${EVENT_COLUMNS} FROM audit_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq ${order} LIMIT ?`);
      this.listStatements.set(key, stmt);
    }
    return guarded('read', () => stmt.all(...params, q.limit)).map(fromAuditRow);
  }

  async head(): Promise<ChainHead> {
    return guarded('read', () => this.chain.head());
  }

  async verify(): Promise<ChainReport> {
    return verifySqliteChain(this.db);
  }

  async leaseCursor(webhook: string, owner: string, now: Date, leaseMs: number): Promise<WebhookCursor | null> {
    const tx = this.db.transaction(() => {
      this.db.prepare('INSERT INTO webhook_cursors (webhook, seq) SELECT ?, seq FROM audit_head WHERE id = 1 ON CONFLICT (webhook) DO NOTHING').run(webhook);
      return this.db.prepare<[string, number, string, string, number], CursorRow>(`UPDATE webhook_cursors SET lease_owner = ?, lease_until = ?
        WHERE webhook = ? AND (lease_owner IS NULL OR lease_owner = ? OR lease_until < ?)
        RETURNING webhook, seq, attempts, next_attempt_at, last_error`).get(owner, now.getTime() + leaseMs, webhook, owner, now.getTime());
    });
    const row = guarded('write', () => tx.immediate());
    return row ? cursorOf(row) : null;
  }

  /** Through the group commit, like issuances: delivery progress costs the event loop no fsync of its own. */
  async saveCursor(c: WebhookCursor, owner: string): Promise<boolean> {
    const outcome = await this.commit({ cursor: { webhook: c.webhook, owner, seq: c.seq, attempts: c.attempts, nextAttemptAt: c.nextAttemptAt.getTime(), lastError: c.lastError } });
    if (outcome === null) return true;
    if ('code' in outcome && outcome.code === LEASE_LOST) return false;
    throw new Error(`webhook cursor not saved: ${'message' in outcome ? outcome.message : 'refused'}`);
  }

  async releaseCursor(webhook: string, owner: string): Promise<void> {
    guarded('write', () => this.db.prepare('UPDATE webhook_cursors SET lease_owner = NULL, lease_until = 0 WHERE webhook = ? AND lease_owner = ?').run(webhook, owner));
  }

  async appendNotices(now: Date, o: Parameters<EventStore['appendNotices']>[1]): Promise<number> {
    const t = now.getTime();
    // Certificates are scanned by the not_after index, only as far as the horizon.
    const due = this.db.prepare<[number, number, number, number, string, number], DueRow>(`
      SELECT serial, subject, sans, provisioner, not_before, not_after FROM certificates c
      WHERE not_after > ? AND not_after <= ? AND revoked_at IS NULL AND method <> 'serving'
        AND ? >= not_before + (not_after - not_before) * ?
        AND NOT EXISTS (SELECT 1 FROM certificates r WHERE r.replaces = c.serial)
        AND NOT EXISTS (SELECT 1 FROM notices n WHERE n.serial = c.serial AND n.kind = ?)
      ORDER BY not_after LIMIT ?`);
    const mark = this.db.prepare<[string, string]>('INSERT INTO notices (serial, kind) VALUES (?, ?) ON CONFLICT DO NOTHING');
    const chain = this.chain;
    const tx = this.db.transaction(() => {
      const rows: AuditRowValues[] = [];
      for (const kind of o.kinds) {
        const fraction = kind === 'expiring-soon' ? 0.9 : 0.75;
        for (const c of due.all(t, t + o.horizonMs, t, fraction, kind, o.limit)) {
          if (mark.run(c.serial, kind).changes === 0) continue;
          rows.push(toAuditRow({
            id: randomUUID(), time: now, type: kind, replica: o.replica, provisioner: c.provisioner, subject: c.subject,
            sans: JSON.parse(c.sans) as string[], serial: c.serial, reason: `expires ${new Date(c.not_after).toISOString()}`,
          }));
        }
      }
      if (rows.length) chain.save(chain.append(chain.head(), rows));
      return rows.length;
    });
    return guarded('write', () => tx.immediate());
  }
}

/** Walks the audit chain of a SQLite ledger (the server's connection, or `ledger verify`'s own). */
export function verifySqliteChain(db: Database.Database): Promise<ChainReport> {
  const page = db.prepare<[number, number], StoredAuditRow>(`SELECT ${EVENT_COLUMNS} FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?`);
  const find = db.prepare<[string], number>('SELECT seq FROM audit_events WHERE hash = ? LIMIT 1').pluck();
  // Paged rather than one iterator: the lookup at a break needs the connection while we walk.
  async function* rows(): AsyncGenerator<StoredAuditRow> {
    let after = Number.MIN_SAFE_INTEGER;
    for (;;) {
      const batch = page.all(after, VERIFY_PAGE);
      yield* batch;
      if (batch.length < VERIFY_PAGE) return;
      after = batch[batch.length - 1]!.seq;
    }
  }
  return verifyChain(rows(), chainWriter(db).head(), async (hash) => find.get(hash) ?? null);
}

function cursorOf(r: CursorRow): WebhookCursor {
  return { webhook: r.webhook, seq: r.seq, attempts: r.attempts, nextAttemptAt: new Date(r.next_attempt_at), lastError: r.last_error };
}
