// Certificate validity as step-ca computes and checks it (api.md §3.3), backdate included.
import { badRequest, forbidden } from '../errors.js';
import { formatDuration, parseTimeOrDuration } from '../util/duration.js';
import type { Claims } from './claims.js';

export interface Validity { notBefore: Date; notAfter: Date }

/**
 * A leaf cannot be valid before its issuer is: a certificate issued within the backdate of the
 * intermediate's own start (right after `init`, say) would otherwise begin before it, which strict
 * verifiers and humans reading the chain both trip over.
 */
export function notBeforeIssuer(notBefore: Date, issuerNotBefore: Date | undefined): Date {
  return issuerNotBefore && notBefore < issuerNotBefore ? new Date(issuerNotBefore.getTime()) : notBefore;
}

export function computeValidity(req: { notBefore?: string; notAfter?: string }, now: Date, claims: Claims, backdate: number, issuerNotBefore?: Date): Validity {
  let nb: Date | null;
  let na: Date | null;
  try {
    nb = parseTimeOrDuration(req.notBefore ?? '', now);
    na = parseTimeOrDuration(req.notAfter ?? '', nb ?? now);
  } catch (e) {
    throw badRequest((e as Error).message);
  }
  // Only the backdate is clamped: a notBefore the requester asked for is theirs to ask.
  const notBefore = nb ?? notBeforeIssuer(new Date(now.getTime() - backdate), issuerNotBefore);
  const notAfter = na ?? new Date((nb ?? now).getTime() + claims.defaultTLSCertDuration);
  checkValidity({ notBefore, notAfter }, now, claims, backdate);
  return { notBefore, notAfter };
}

const sec = (d: Date) => Math.floor(d.getTime() / 1000) * 1000;

/** The validator: times truncated to seconds, backdate counted inside the duration. */
export function checkValidity(v: Validity, now: Date, claims: Claims, backdate: number): void {
  const nb = sec(v.notBefore);
  const na = sec(v.notAfter);
  if (na < sec(now)) throw badRequest(`notAfter ${v.notAfter.toISOString()} is already in the past`);
  if (na < nb) throw badRequest(`notAfter ${v.notAfter.toISOString()} is before notBefore ${v.notBefore.toISOString()}`);
  const d = na - nb;
  if (d < claims.minTLSCertDuration) {
    throw forbidden(`requested duration of ${formatDuration(d)} is less than the authorized minimum certificate duration of ${formatDuration(claims.minTLSCertDuration)}`);
  }
  const max = claims.maxTLSCertDuration + backdate;
  if (d > max) {
    throw forbidden(`requested duration of ${formatDuration(d)} is more than the authorized maximum certificate duration of ${formatDuration(max)}`);
  }
}
