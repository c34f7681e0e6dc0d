// One spelling per JWS. base64url leaves spare bits in a part's last character, so several
// strings decode to the same bytes; a replay check keyed on the token's text would count each
// spelling as a new token. Every JWS the CA verifies passes through here first.
import { createHash } from 'node:crypto';

const B64URL = /^[A-Za-z0-9_-]*$/;

/** Why `token` is not a compact JWS in canonical base64url, or null when it is. */
export function nonCanonicalJws(token: string): string | null {
  const parts = token.split('.');
  if (parts.length !== 3) return 'it is not a compact JWS (three dot-separated parts)';
  const names = ['header', 'payload', 'signature'];
  for (let i = 0; i < 3; i++) {
    const p = parts[i]!;
    if (!B64URL.test(p)) return `its ${names[i]} is not base64url`;
    if (Buffer.from(p, 'base64url').toString('base64url') !== p) return `its ${names[i]} is not in canonical base64url`;
  }
  return null;
}

/**
 * The replay key of a token without a jti: the hash of its signed part (header.payload). Not the
 * whole token: an ECDSA signature has a second valid form (s -> n-s) and RSA-PSS signatures are
 * randomised, so one signed part may carry several valid signatures, and it is one token.
 */
export function signedPartKey(token: string): string {
  return createHash('sha256').update(token.slice(0, token.lastIndexOf('.'))).digest('hex');
}
