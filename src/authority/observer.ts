// The one interface through which the authority tells the outside what it decided: metrics,
// refusal records, anything an operator watches. The authority calls it and never learns what is
// behind it (src/observe/ implements it); every method is synchronous, cheap and must not throw.
import type { IssuanceMethod } from '../ledger/ledger.js';

/** Where a request came from, as the transport saw it (plain values: no HTTP here). */
export interface RequestContext {
  requestId?: string;
  clientAddress?: string;
}

export type Operation = 'sign' | 'renew' | 'rekey' | 'revoke';

/**
 * What one request has established about itself so far. The authority fills it in as it goes,
 * and only with facts it has verified: a provisioner name from a token whose signature has not
 * checked out is never set, so no label or record carries a string an attacker chose.
 */
export interface Attempt extends RequestContext {
  op: Operation;
  /** How the caller proved itself: a one-time token, a certificate (mTLS or a renew token), an administrator's console session, or an ACME account or certificate key. */
  credential: 'token' | 'certificate' | 'admin' | 'acme-account' | 'none';
  provisioner?: string | null;
  subject?: string;
  sans?: string[];
  serial?: string;
}

/** What the published CRL is now. */
export interface CrlFacts {
  number: number;
  thisUpdate: Date;
  nextUpdate: Date;
  entries: number;
}

/** The status an OCSP answer carried (one per request entry, or the error status). */
export type OcspOutcome = 'good' | 'revoked' | 'unknown' | 'malformed_request' | 'internal_error' | 'unauthorized';

export interface Observer {
  /** A certificate left the CA (its ledger row, and its audit record, are committed). */
  issued(a: Attempt, method: IssuanceMethod): void;
  /** A certificate was revoked (committed). */
  revoked(a: Attempt): void;
  /** A request was refused (a CaError below 500) or failed (anything else). */
  refused(a: Attempt, err: unknown): void;
  crlPublished(crl: CrlFacts): void;
  ocspAnswered(outcome: OcspOutcome): void;
}

/** For callers that watch nothing (tools, tests). */
export const NO_OBSERVER: Observer = {
  issued() {},
  revoked() {},
  refused() {},
  crlPublished() {},
  ocspAnswered() {},
};
