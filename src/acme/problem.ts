// RFC 8555 §6.7 problem documents: every refusal on an ACME route leaves as one of these.
import { CaError } from '../errors.js';
import type { AcmeProblemDoc } from '../ledger/acme-store.js';

export type ProblemType =
  | 'accountDoesNotExist' | 'alreadyRevoked' | 'badCSR' | 'badNonce' | 'badPublicKey' | 'badRevocationReason'
  | 'badSignatureAlgorithm' | 'caa' | 'connection' | 'dns' | 'externalAccountRequired' | 'incorrectResponse'
  | 'invalidContact' | 'malformed' | 'orderNotReady' | 'rateLimited' | 'rejectedIdentifier' | 'serverInternal'
  | 'tls' | 'unauthorized' | 'unsupportedContact' | 'unsupportedIdentifier' | 'userActionRequired' | 'conflict';

export class AcmeProblem extends Error {
  constructor(
    readonly type: ProblemType,
    readonly detail: string,
    readonly status = 400,
    readonly extra: { retryAfter?: number; location?: string; subproblems?: unknown[]; algorithms?: string[] } = {},
  ) {
    super(detail);
    this.name = 'AcmeProblem';
  }

  get doc(): AcmeProblemDoc & Record<string, unknown> {
    const urn = this.type === 'conflict' ? 'urn:ietf:params:acme:error:malformed' : `urn:ietf:params:acme:error:${this.type}`;
    return {
      type: urn, detail: this.detail, status: this.status,
      ...(this.extra.subproblems ? { subproblems: this.extra.subproblems } : {}),
      ...(this.extra.algorithms ? { algorithms: this.extra.algorithms } : {}),
    };
  }
}

export const malformed = (d: string, status = 400) => new AcmeProblem('malformed', d, status);
export const unauthorizedP = (d: string) => new AcmeProblem('unauthorized', d, 403);
export const notFoundP = (what: string) => new AcmeProblem('malformed', `${what} does not exist`, 404);

/** What a CaError from the authority (or the ledger) means to an ACME client. */
export function fromCaError(e: CaError): AcmeProblem {
  const shown = e.publicMessage;
  switch (e.code) {
    case 'rate_limited': return new AcmeProblem('rateLimited', shown, 429, { retryAfter: 60 });
    case 'unavailable': return new AcmeProblem('serverInternal', shown, 503, { retryAfter: 5 });
    case 'bad_request': return new AcmeProblem('malformed', shown, 400);
    case 'unauthorized': case 'token_used': case 'forbidden': return new AcmeProblem('unauthorized', shown, 403);
    case 'not_found': return new AcmeProblem('malformed', shown, 404);
    default: return new AcmeProblem('serverInternal', 'the server could not complete the request', 500);
  }
}
