// One group commit: every issuance of a batch in one transaction and one fsync. Plain values in
// and out, so the same function runs inline or in the writer thread (writer-worker.ts).
import Database from 'better-sqlite3';
import type { AuditRowValues } from './audit-chain.js';
import { chainWriter } from './sqlite-chain.js';

export interface IssuanceRow {
  serial: string;
  subject: string;
  sans: string;
  not_before: number;
  not_after: number;
  fingerprint: string;
  provisioner: string | null;
  pem: string;
  issued_at: number;
  method: string;
  replaces: string | null;
  issuer: string | null;
}

export interface SpentToken { jti: string; provisioner: string; expiresAt: number }
/**
 * A certificate (with its spent token and its audit event), or audit events alone (refusals,
 * admin actions): either way committed with the batch, the events extending the hash chain.
 */
export interface IssuanceItem { row?: IssuanceRow; token?: SpentToken; events?: AuditRowValues[]; cursor?: CursorSave }

/** A webhook's delivery progress, saved only while `owner` holds its lease. */
export interface CursorSave { webhook: string; owner: string; seq: number; attempts: number; nextAttemptAt: number; lastError: string | null }

/** The outcome code of a cursor save whose lease had passed to another owner. */
export const LEASE_LOST = 'LEASE_LOST';

/** null: committed. Otherwise why this one item was not (the others still were). */
export type ItemOutcome = null | { tokenUsed: string } | { code?: string; message: string };

export const CERT_COLUMNS = 'serial, subject, sans, not_before, not_after, fingerprint, provisioner, pem, issued_at, method, replaces, issuer';

// Errors that mean "the store cannot take writes right now", as opposed to a bug or bad data.
// better-sqlite3 reports extended codes (SQLITE_IOERR_FSYNC, SQLITE_READONLY_DBMOVED, ...).
const UNAVAILABLE_CODES = ['SQLITE_FULL', 'SQLITE_READONLY', 'SQLITE_IOERR', 'SQLITE_CANTOPEN', 'SQLITE_BUSY'];

export function isUnavailableCode(code: unknown): code is string {
  return typeof code === 'string' && UNAVAILABLE_CODES.some((c) => code === c || code.startsWith(`${c}_`));
}

class TokenReplay extends Error {}
class LeaseLost extends Error {}

/**
 * Spends a token: (jti, provisioner, expires_at, used_at). ON CONFLICT DO NOTHING, then look at
 * `changes`: 0 means already spent, told apart from any other constraint failure (a duplicate
 * serial is a bug, not a replay) without parsing messages. Issuance and revocation both use it.
 */
export function spendTokenStatement(db: Database.Database): Database.Statement<[string, string, number, number]> {
  return db.prepare('INSERT INTO used_tokens (jti, provisioner, expires_at, used_at) VALUES (?, ?, ?, ?) ON CONFLICT (jti) DO NOTHING');
}

/**
 * The batch function for `db`. It throws only when the whole transaction failed (disk full, I/O):
 * then nothing of the batch was recorded.
 */
export function issuanceBatch(db: Database.Database): (items: IssuanceItem[]) => ItemOutcome[] {
  const insertToken = spendTokenStatement(db);
  const insertCert = db.prepare(`INSERT INTO certificates (${CERT_COLUMNS})
     VALUES (@serial, @subject, @sans, @not_before, @not_after, @fingerprint, @provisioner, @pem, @issued_at, @method, @replaces, @issuer)`);
  const chain = chainWriter(db);
  let cursorStatement: Database.Statement | null = null;
  const saveCursor = {
    run: (...a: unknown[]) => (cursorStatement ??= db.prepare('UPDATE webhook_cursors SET seq = ?, attempts = ?, next_attempt_at = ?, last_error = ? WHERE webhook = ? AND lease_owner = ?')).run(...a),
  };
  const one = db.transaction((item: IssuanceItem) => {
    const t = item.token;
    if (t && insertToken.run(t.jti, t.provisioner, t.expiresAt, Date.now()).changes === 0) throw new TokenReplay(t.jti);
    if (item.row) insertCert.run(item.row);
    const c = item.cursor;
    if (c && saveCursor.run(c.seq, c.attempts, c.nextAttemptAt, c.lastError, c.webhook, c.owner).changes === 0) throw new LeaseLost(c.webhook);
  });
  // Inside the outer transaction `one` runs as a SAVEPOINT: a replayed token or a bad row fails
  // alone and the others still commit. The events of the items that did are appended to the
  // chain together at the end, in the same transaction: one head read, a few multi-row inserts.
  const batch = db.transaction((items: IssuanceItem[]) => {
    const events: AuditRowValues[] = [];
    const outcomes = items.map((item) => {
      const outcome = attempt(item);
      if (outcome === null && item.events) events.push(...item.events);
      return outcome;
    });
    if (events.length) chain.save(chain.append(chain.head(), events));
    return outcomes;
  });
  const attempt = (item: IssuanceItem): ItemOutcome => {
    try {
      one(item);
      return null;
    } catch (err) {
      if (err instanceof TokenReplay) return { tokenUsed: err.message };
      if (err instanceof LeaseLost) return { code: LEASE_LOST, message: `lease on webhook ${err.message} lost` };
      const code = (err as { code?: unknown }).code;
      // A full disk or I/O error makes SQLite roll back the whole transaction, not just the
      // savepoint: abort the batch so every request in it hears 'unavailable'.
      if (err instanceof Database.SqliteError && isUnavailableCode(code)) throw err;
      return { code: typeof code === 'string' ? code : undefined, message: (err as Error).message };
    }
  };
  // IMMEDIATE takes the write lock up front, so a competing writer makes us wait (busy_timeout)
  // instead of failing half-way through with a stale read snapshot.
  return batch.immediate;
}
