// The /sign hot path's token signature check. jose verifies through WebCrypto, which costs ~170 µs
// of event-loop time per ES256 token here (a job per call); node:crypto on a KeyObject imported
// once costs ~70 µs. This takes only the plain shape a step client sends — header {alg, kid, typ}
// in canonical base64url, the provisioner's own algorithm — and says "verified" or "not decided";
// everything undecided, including every bad signature, goes to jose, which keeps the last word
// and the error text. test/unit/jws-fast.test.ts holds it to jose's verdicts.
import { constants, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import type * as jose from 'jose';
import { verifySignature } from '../pki/signature-work.js';

export interface FastJwsKey { alg: string; key: KeyObject; hash: string | null; rsa: boolean }

const EC_ALGS: Record<string, { crv: string; hash: string }> = {
  ES256: { crv: 'P-256', hash: 'sha256' },
  ES384: { crv: 'P-384', hash: 'sha384' },
  ES512: { crv: 'P-521', hash: 'sha512' },
};
const RSA_HASH: Record<string, string> = { RS256: 'sha256', RS384: 'sha384', RS512: 'sha512' };
const HEADER_PARAMS = new Set(['alg', 'kid', 'typ']);
const B64URL = /^[A-Za-z0-9_-]+$/;

/** The fast key for a provisioner's public JWK and algorithm, or null when only jose should judge. */
export function fastJwsKey(jwk: jose.JWK, alg: string): FastJwsKey | null {
  const ec = EC_ALGS[alg];
  const fits = ec ? jwk.kty === 'EC' && jwk.crv === ec.crv
    : RSA_HASH[alg] ? jwk.kty === 'RSA'
    : alg === 'EdDSA' && jwk.kty === 'OKP' && jwk.crv === 'Ed25519';
  if (!fits) return null;
  try {
    const { d: _private, ...pub } = jwk;
    const key = createPublicKey({ key: pub as JsonWebKey, format: 'jwk' });
    return { alg, key, hash: ec?.hash ?? RSA_HASH[alg] ?? null, rsa: !!RSA_HASH[alg] };
  } catch {
    return null;
  }
}

/**
 * True only when `token` is a plain compact JWS whose signature `k` verifies. The check runs
 * where `stepstone.signatures` puts it (pki/signature-work.ts).
 */
export async function verifiedFast(token: string, k: FastJwsKey): Promise<boolean> {
  const parts = token.split('.');
  if (parts.length !== 3) return false;
  const [h, p, s] = parts as [string, string, string];
  if (!B64URL.test(h) || !B64URL.test(p) || !B64URL.test(s)) return false;
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8'));
  } catch {
    return false;
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) return false;
  if (Object.keys(header).some((name) => !HEADER_PARAMS.has(name)) || (header as { alg?: unknown }).alg !== k.alg) return false;
  const sig = Buffer.from(s, 'base64url');
  // Only the canonical spelling: two strings for one signature would be two tokens to a jti-less replay check.
  if (sig.toString('base64url') !== s) return false;
  const data = Buffer.from(`${h}.${p}`, 'latin1');
  const key = k.rsa ? { key: k.key, padding: constants.RSA_PKCS1_PADDING } : k.hash ? { key: k.key, dsaEncoding: 'ieee-p1363' as const } : k.key;
  return verifySignature(k.hash, data, key, sig);
}
