// What a node-postgres error means for the CA: "the ledger cannot be reached right now" (503,
// retry later), "we do not know whether that commit happened", or a plain failure (a bug, bad
// data). Decided from SQLSTATE classes and socket error codes, never from message text.
import { CaError } from '../errors.js';

interface PgLikeError { code?: unknown; message?: unknown }

const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED']);

/** Errors node-postgres raises without a code when the connection is gone or never came. */
const CONNECTION_MESSAGES = [/^Connection terminated/, /^timeout exceeded when trying to connect/, /^Query read timeout/, /^Client has encountered a connection error/, /^Client was closed/, /^Cannot use a pool after calling end/];

function codeOf(err: unknown): string | undefined {
  const c = (err as PgLikeError | null)?.code;
  return typeof c === 'string' ? c : undefined;
}

/** The connection is lost or refused: the server may have done anything with what we sent last. */
export function isConnectionLoss(err: unknown): boolean {
  const code = codeOf(err);
  if (code) return SOCKET_CODES.has(code) || code.startsWith('08') || code.startsWith('57P');
  const msg = (err as PgLikeError | null)?.message;
  return typeof msg === 'string' && CONNECTION_MESSAGES.some((re) => re.test(msg));
}

/** The store cannot serve the request now; another try later may succeed. */
export function isUnavailable(err: unknown): boolean {
  if (isConnectionLoss(err)) return true;
  const code = codeOf(err);
  // 53: insufficient resources (disk full, too many connections); 58: I/O; 25006: a read-only
  // server (a standby that has not been promoted yet); 40001/40P01: serialization, deadlock.
  return !!code && (code.startsWith('53') || code.startsWith('58') || ['25006', '40001', '40P01', '55P03'].includes(code));
}

// What a client is told: the reason in plain words; codes and server messages go to the log.
function plainReason(code: string | undefined): string {
  if (code === '53100') return 'its ledger database is out of disk space';
  if (code === '53300') return 'its ledger database has no free connections';
  if (code === '25006') return 'its ledger database is read-only';
  return 'its ledger database cannot be reached';
}

export function pgUnavailable(op: 'read' | 'write', cause: unknown, outcomeUnknown = false): CaError {
  const code = codeOf(cause);
  const what = code ?? String((cause as PgLikeError | null)?.message ?? cause);
  return new CaError('unavailable', {
    detail: `ledger cannot ${op}: ${what}${outcomeUnknown ? ' (the commit\'s outcome is unknown; no certificate was handed out)' : ''}`,
    public: `The certificate authority is temporarily unavailable: ${plainReason(code)}${op === 'write' ? '; nothing was issued' : ''}. Please retry later.`,
    cause,
  });
}

/** Turns an unavailable-class error into CaError 'unavailable'; anything else passes through. */
export function mapPgError(op: 'read' | 'write', err: unknown): unknown {
  return isUnavailable(err) ? pgUnavailable(op, err) : err;
}
