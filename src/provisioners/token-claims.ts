// Time and subject rules every token kind shares (api.md §2.2 and "Where we deliberately differ").
import type * as jose from 'jose';
import { unauthorized } from '../errors.js';

export const LEEWAY_SEC = 60;

/**
 * exp required; 60 s leeway on exp, nbf, iat; and a bounded validity window (exp − nbf, or
 * exp − iat without nbf) so a leaked token cannot stay usable for long.
 */
export function checkTimes(c: jose.JWTPayload, now: Date, maxLifetimeMs: number): void {
  const t = now.getTime() / 1000;
  for (const k of ['exp', 'nbf', 'iat'] as const) {
    if (c[k] !== undefined && (typeof c[k] !== 'number' || !Number.isFinite(c[k]))) throw unauthorized(`invalid token: ${k} is not a number`);
  }
  if (c.exp === undefined) throw unauthorized('invalid token: it has no exp');
  if (c.exp < t - LEEWAY_SEC) throw unauthorized('invalid token: token is expired (exp)');
  if (c.nbf !== undefined && c.nbf > t + LEEWAY_SEC) throw unauthorized('invalid token: token not valid yet (nbf)');
  if (c.iat !== undefined && c.iat > t + LEEWAY_SEC) throw unauthorized('invalid token: token issued in the future (iat)');
  const start = c.nbf ?? c.iat;
  if (start === undefined) throw unauthorized('invalid token: it has neither nbf nor iat, so its lifetime is unbounded');
  if ((c.exp - start) * 1000 > maxLifetimeMs) {
    throw unauthorized(`invalid token: its lifetime of ${c.exp - start}s is over the maximum of ${maxLifetimeMs / 1000}s`);
  }
}

export function checkSubject(c: jose.JWTPayload): asserts c is jose.JWTPayload & { sub: string } {
  if (typeof c.sub !== 'string' || c.sub === '') throw unauthorized('invalid token: sub is empty');
}
