// RFC 8555 §6.2 request authentication with `jose`: a flattened JWS, exactly one signature, a
// protected header naming alg, nonce, url and exactly one of jwk (newAccount, revokeCert by
// certificate key) or kid (everything else). Nothing here is hand-rolled JOSE.
import * as jose from 'jose';
import { AcmeProblem, malformed } from './problem.js';

/** Signature algorithms accepted on account keys (jose refuses RSA keys under 2048 bits). */
export const ACCOUNT_ALGS = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA', 'Ed25519'];

export interface JwsHeader {
  alg: string;
  nonce?: string;
  url: string;
  jwk?: jose.JWK;
  kid?: string;
}

export interface ParsedJws {
  jws: jose.FlattenedJWSInput;
  header: JwsHeader;
}

const B64URL = /^[A-Za-z0-9_-]*$/;

/** Structure only: whether this is a JWS an ACME server may look at further. */
export function parseJws(body: unknown, opts: { nonce: boolean } = { nonce: true }): ParsedJws {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw malformed('the request body must be a flattened JWS (JSON object)');
  const b = body as Record<string, unknown>;
  if ('signatures' in b) throw malformed('a JWS with several signatures is not accepted');
  if ('header' in b) throw malformed('unprotected JWS headers are not accepted');
  for (const k of ['protected', 'payload', 'signature'] as const) {
    if (typeof b[k] !== 'string' || !B64URL.test(b[k] as string)) throw malformed(`JWS ${k} must be a base64url string`);
  }
  let header: Record<string, unknown>;
  try {
    header = jose.decodeProtectedHeader(b as unknown as jose.FlattenedJWSInput) as Record<string, unknown>;
  } catch {
    throw malformed('the JWS protected header is not valid base64url JSON');
  }
  if (typeof header.alg !== 'string') throw malformed('the JWS protected header has no alg');
  if (!ACCOUNT_ALGS.includes(header.alg)) throw new AcmeProblem('badSignatureAlgorithm', `alg ${header.alg} is not accepted`, 400, { algorithms: ACCOUNT_ALGS });
  if (typeof header.url !== 'string') throw malformed('the JWS protected header has no url');
  if (opts.nonce && typeof header.nonce !== 'string') throw new AcmeProblem('badNonce', 'the JWS protected header has no nonce');
  const hasJwk = header.jwk !== undefined;
  const hasKid = header.kid !== undefined;
  if (hasJwk === hasKid) throw malformed('the JWS protected header must have exactly one of jwk and kid');
  if (hasKid && typeof header.kid !== 'string') throw malformed('kid must be a string');
  if (hasJwk && (typeof header.jwk !== 'object' || header.jwk === null)) throw malformed('jwk must be an object');
  return { jws: b as unknown as jose.FlattenedJWSInput, header: header as unknown as JwsHeader };
}

/** The public part of a JWK: what is stored and thumbprinted (a private member is refused). */
export function publicJwk(jwk: jose.JWK): jose.JWK {
  if ('d' in jwk || 'p' in jwk || 'k' in jwk) throw new AcmeProblem('badPublicKey', 'the account key must be a public key');
  const { kty, crv, x, y, n, e } = jwk;
  const out: jose.JWK = { kty };
  if (crv !== undefined) out.crv = crv;
  if (x !== undefined) out.x = x;
  if (y !== undefined) out.y = y;
  if (n !== undefined) out.n = n;
  if (e !== undefined) out.e = e;
  return out;
}

export function thumbprint(jwk: jose.JWK): Promise<string> {
  return jose.calculateJwkThumbprint(publicJwk(jwk), 'sha256');
}

/** Verifies the signature with `jwk` (the embedded one or the account's); the payload's bytes. */
export async function verifyJws(p: ParsedJws, jwk: jose.JWK): Promise<Uint8Array> {
  let key: jose.CryptoKey | Uint8Array;
  try {
    key = await jose.importJWK(publicJwk(jwk), p.header.alg);
  } catch (e) {
    // A key sent along is the sender's problem (badPublicKey); an account's stored key that does
    // not fit the alg means the JWS was signed by some other key.
    if (p.header.jwk) throw new AcmeProblem('badPublicKey', `the key cannot be used with ${p.header.alg}: ${(e as Error).message}`);
    throw malformed('JWS signature verification failed (not signed by the account key)');
  }
  try {
    const r = await jose.flattenedVerify(p.jws, key, { algorithms: ACCOUNT_ALGS });
    return r.payload;
  } catch (e) {
    if (e instanceof jose.errors.JWSSignatureVerificationFailed) throw malformed('JWS signature verification failed');
    throw malformed(`JWS cannot be verified: ${(e as Error).message}`);
  }
}

/** The payload as JSON, or null for POST-as-GET (an empty payload). */
export function payloadJson(bytes: Uint8Array): unknown {
  if (bytes.length === 0) return null;
  try {
    const v: unknown = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v;
  } catch {
    throw malformed('the JWS payload must be a JSON object');
  }
}

/** External Account Binding (RFC 8555 §7.3.4): an HMAC JWS over the account key. */
export async function verifyEab(eab: unknown, url: string, accountJwk: jose.JWK, hmacKeyFor: (kid: string) => Promise<Uint8Array | null>): Promise<string> {
  if (!eab || typeof eab !== 'object') throw malformed('externalAccountBinding must be a flattened JWS');
  const e = eab as jose.FlattenedJWSInput;
  let h: jose.ProtectedHeaderParameters;
  try {
    h = jose.decodeProtectedHeader(e);
  } catch {
    throw malformed('externalAccountBinding has no readable protected header');
  }
  if (typeof h.kid !== 'string' || !/^HS(256|384|512)$/.test(String(h.alg))) throw malformed('externalAccountBinding must be signed with HS256/384/512 and name its key id');
  if (h.url !== url) throw unauthorizedEab('externalAccountBinding url does not match');
  if ('nonce' in h) throw malformed('externalAccountBinding must not carry a nonce');
  const key = await hmacKeyFor(h.kid);
  if (!key) throw unauthorizedEab('externalAccountBinding key id is unknown');
  let payload: Uint8Array;
  try {
    payload = (await jose.flattenedVerify(e, key, { algorithms: ['HS256', 'HS384', 'HS512'] })).payload;
  } catch {
    throw unauthorizedEab('externalAccountBinding signature does not verify');
  }
  let inner: jose.JWK;
  try {
    inner = JSON.parse(new TextDecoder().decode(payload)) as jose.JWK;
  } catch {
    throw malformed('externalAccountBinding payload must be the account JWK');
  }
  if (await thumbprint(inner) !== await thumbprint(accountJwk)) throw unauthorizedEab('externalAccountBinding binds another key');
  return h.kid;
}

const unauthorizedEab = (d: string) => new AcmeProblem('unauthorized', d, 403);
