// How SQLite's failures become the CA's: "the store cannot serve this" is CaError 'unavailable'
// (503) with the reason in plain words; anything else is a bug and stays what it is.
import Database from 'better-sqlite3';
import { CaError } from '../errors.js';
import { isUnavailableCode } from './issuance-batch.js';

/** Runs a statement, turning "the store cannot serve this" into CaError 'unavailable' (503). */
export function guarded<T>(op: 'read' | 'write', fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw mapError(op, err);
  }
}

export function mapError(op: 'read' | 'write', err: unknown): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (err instanceof Database.SqliteError && isUnavailableCode(code)) {
    return ledgerUnavailable(op, code, err);
  }
  return err;
}

// What a client is told: the reason in plain words, never SQLite's codes (those go to the log).
const PLAIN_REASON: [string, string][] = [
  ['SQLITE_FULL', 'its ledger is out of disk space'],
  ['SQLITE_READONLY', 'its ledger is read-only'],
  ['SQLITE_BUSY', 'its ledger is busy'],
  ['SQLITE_CANTOPEN', 'its ledger cannot be opened'],
];

export function ledgerUnavailable(op: 'read' | 'write', code: string, cause: unknown): CaError {
  const reason = PLAIN_REASON.find(([c]) => code.startsWith(c))?.[1] ?? 'its ledger cannot be reached';
  return new CaError('unavailable', {
    detail: `ledger cannot ${op}: ${code}`,
    public: `The certificate authority is temporarily unavailable: ${reason}${op === 'write' ? '; nothing was issued or recorded' : ''}. Please retry later.`,
    cause,
  });
}
