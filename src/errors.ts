// One error type for the whole CA: a stable `code` callers branch on, the HTTP status step-ca
// would answer, a public message (what the client may see) and a private detail (logs only).
// The HTTP layer maps these to {"status","message"} in exactly one place (api/errors.ts).

export type ErrorCode =
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'rate_limited'
  | 'not_implemented'
  | 'unavailable'
  | 'internal'
  | 'token_used'
  | 'policy_denied';

const STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  unauthorized: 401,
  token_used: 401,
  forbidden: 403,
  policy_denied: 403,
  not_found: 404,
  rate_limited: 429,
  internal: 500,
  not_implemented: 501,
  unavailable: 503,
};

// step-ca's message conventions (api.md §0.1): clients and scripts match on these texts.
const GENERIC: Record<number, string> = {
  400: 'The request could not be completed; malformed or missing data. Please see the certificate authority logs for more info.',
  401: 'The request lacked necessary authorization to be completed. Please see the certificate authority logs for more info.',
  403: 'The request was forbidden by the certificate authority. Please see the certificate authority logs for more info.',
  404: 'The requested resource could not be found. Please see the certificate authority logs for more info.',
  429: 'Too many requests: the certificate authority is rate limiting this client or provisioner. Please retry later.',
  500: 'The certificate authority encountered an Internal Server Error. Please see the certificate authority logs for more info.',
  501: 'The requested method is not implemented by the certificate authority. Please see the certificate authority logs for more info.',
  503: 'The certificate authority is temporarily unavailable. Please see the certificate authority logs for more info.',
};

const PREFIX: Record<number, string> = {
  400: 'The request could not be completed',
  401: 'The request lacked necessary authorization to be completed',
  403: 'The request was forbidden by the certificate authority',
  404: 'The requested resource could not be found',
  429: 'Too many requests',
  503: 'The certificate authority is temporarily unavailable',
};

export class CaError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** What the client sees. */
  readonly publicMessage: string;
  /** Why, for the log only. */
  readonly detail: string;

  constructor(code: ErrorCode, opts: { detail: string; public?: boolean | string; cause?: unknown }) {
    super(opts.detail, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'CaError';
    this.code = code;
    this.status = STATUS[code];
    this.detail = opts.detail;
    if (typeof opts.public === 'string') this.publicMessage = opts.public;
    else if (opts.public && PREFIX[this.status]) this.publicMessage = `${PREFIX[this.status]}: ${withPeriod(opts.detail)}`;
    else this.publicMessage = GENERIC[this.status] ?? GENERIC[500]!;
  }
}

function withPeriod(s: string): string {
  return /[.!?]$/.test(s) ? s : `${s}.`;
}

/** 400 whose reason is shown to the client (input problems leak nothing secret). */
export const badRequest = (detail: string, cause?: unknown) => new CaError('bad_request', { detail, public: true, cause });
/** 401 with step-ca's generic text: token problems are detailed only in the log. */
export const unauthorized = (detail: string, cause?: unknown) => new CaError('unauthorized', { detail, cause });
/** 403 whose reason is shown to the client (e.g. which SAN is not in the token). */
export const forbidden = (detail: string) => new CaError('forbidden', { detail, public: true });
/** 403 from a name policy: the message names the name and the rule (step-ca's text, then ours). */
export const policyDenied = (detail: string) => new CaError('policy_denied', { detail, public: true });
export const notFound = (detail: string, shown = false) => new CaError('not_found', { detail, public: shown });
export const notImplemented = (detail: string) => new CaError('not_implemented', { detail });
export const unavailable = (detail: string, cause?: unknown) => new CaError('unavailable', { detail, public: true, cause });
export const rateLimited = (detail: string) => new CaError('rate_limited', { detail, public: true });
export const internal = (detail: string, cause?: unknown) => new CaError('internal', { detail, cause });
export const tokenUsed = (detail = 'token already used') => new CaError('token_used', { detail });

export function isCaError(e: unknown): e is CaError {
  return e instanceof CaError;
}
