// The one table from the CA's typed error codes (src/errors.ts) to the bounded reason labels that
// metrics and audit records carry. A code this table has not heard of still lands somewhere
// sensible: a policy code on 'policy', anything else on its HTTP status.
import { isCaError } from '../errors.js';
import type { Attempt } from '../authority/observer.js';

type Label = string | ((a: Attempt | undefined) => string);

const BY_CODE: Record<string, Label> = {
  // A 401 means the credential did not hold: a token, or the certificate presented to renew.
  unauthorized: (a) => (a?.credential === 'certificate' ? 'certificate_invalid' : 'token_invalid'),
  token_used: 'token_used',
  forbidden: 'forbidden',
  bad_request: 'bad_request',
  not_found: 'not_found',
  rate_limited: 'rate_limited',
  not_implemented: 'not_implemented',
};

const BY_STATUS: Record<number, string> = {
  400: 'bad_request', 401: 'unauthorized', 403: 'forbidden', 404: 'not_found', 409: 'conflict', 413: 'too_large', 429: 'rate_limited',
};

/** Every label refusalReason can return, for dashboards and tests. */
export const REASON_LABELS = [
  'certificate_invalid', 'token_invalid', 'token_used', 'forbidden', 'bad_request', 'not_found', 'rate_limited', 'not_implemented',
  'policy', 'unauthorized', 'conflict', 'too_large', 'other',
] as const;

/**
 * The reason label of a refusal, or null when `err` is not a refusal but a failure (a 5xx, or
 * not a CaError at all): failures are counted as such and never recorded as decisions.
 */
export function refusalReason(err: unknown, a?: Attempt): string | null {
  if (!isCaError(err) || err.status >= 500) return null;
  const label = BY_CODE[err.code];
  if (label !== undefined) return typeof label === 'string' ? label : label(a);
  if (err.code.includes('policy')) return 'policy';
  return BY_STATUS[err.status] ?? 'other';
}
