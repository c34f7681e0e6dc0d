// The JWK provisioner: verifies one-time tokens (api.md §2.2) as a list of small named steps,
// each a function that throws a 401 CaError with its reason for the log.
import * as jose from 'jose';
import { unauthorized } from '../errors.js';
import type { ProvisionerConfig } from '../config/schema.js';
import type { Claims } from '../authority/claims.js';
import { jwkAlg } from '../pki/provisioner-key.js';
import { allowedAudiences, audienceMatches, type Operation } from './audience.js';
import { checkSubject, checkTimes } from './token-claims.js';
import { fastJwsKey, verifiedFast, type FastJwsKey } from './jws-fast.js';
import { nonCanonicalJws, signedPartKey } from './jws-canonical.js';

export { LEEWAY_SEC } from './token-claims.js';

export interface JwkProvisioner {
  type: 'JWK';
  name: string;
  kid: string;
  alg: string;
  key: jose.CryptoKey | Uint8Array;
  /** The same public key for node:crypto, when its algorithm has a fast path (jws-fast.ts). */
  fastKey: FastJwsKey | null;
  claims: Claims;
  config: ProvisionerConfig;
}

export async function loadJwkProvisioner(config: ProvisionerConfig, claims: Claims): Promise<JwkProvisioner> {
  const jwk = config.key!;
  const alg = jwkAlg(jwk as jose.JWK);
  const { d: _private, ...pub } = jwk as jose.JWK;
  const key = await jose.importJWK(pub as jose.JWK, alg);
  return { type: 'JWK', name: config.name, kid: jwk.kid, alg, key, fastKey: fastJwsKey(pub as jose.JWK, alg), claims, config };
}

export interface TokenClaims {
  iss: string;
  sub: string;
  aud: string | string[];
  exp: number;
  nbf?: number;
  iat?: number;
  jti?: string;
  sans?: unknown;
  [k: string]: unknown;
}

export interface VerifiedToken {
  provisioner: JwkProvisioner;
  claims: TokenClaims;
  /**
   * The jti, or else the hex SHA-256 of the token's signed part. step-ca hashes the whole token,
   * but an ECDSA signature has a second valid form (s -> n-s), so a jti-less token could be
   * spent twice; the header and payload have only one.
   */
  replayKey: string;
  expiresAt: Date;
}

export interface TokenContext {
  op: Operation;
  dnsNames: string[];
  maxLifetimeMs: number;
  now: Date;
  find(iss: string, kid: string): JwkProvisioner | undefined;
}

/** Verifies a token for `ctx.op`; the steps run in this order and the first failure wins. */
export async function verifyToken(token: string, ctx: TokenContext): Promise<VerifiedToken> {
  const { header, claims } = decodeUnverified(token);
  const provisioner = findProvisioner(header, claims, ctx);
  checkAudience(claims, ctx);
  await verifySignature(token, provisioner);
  checkTimes(claims, ctx.now, ctx.maxLifetimeMs);
  checkSubject(claims);
  const exp = claims.exp as number;
  return {
    provisioner,
    claims: claims as TokenClaims,
    replayKey: typeof claims.jti === 'string' && claims.jti !== '' ? claims.jti : signedPartKey(token),
    expiresAt: new Date(exp * 1000),
  };
}

function decodeUnverified(token: string): { header: jose.ProtectedHeaderParameters; claims: jose.JWTPayload } {
  const why = nonCanonicalJws(token);
  if (why) throw unauthorized(`invalid token: ${why}`);
  try {
    return { header: jose.decodeProtectedHeader(token), claims: jose.decodeJwt(token) };
  } catch (e) {
    throw unauthorized(`invalid token: ${(e as Error).message}`);
  }
}

function findProvisioner(header: jose.ProtectedHeaderParameters, claims: jose.JWTPayload, ctx: TokenContext): JwkProvisioner {
  const p = typeof claims.iss === 'string' && typeof header.kid === 'string' ? ctx.find(claims.iss, header.kid) : undefined;
  if (!p) throw unauthorized(`provisioner not found or invalid audience (${JSON.stringify(claims.aud)})`);
  return p;
}

function checkAudience(claims: jose.JWTPayload, ctx: TokenContext): void {
  if (!audienceMatches(claims.aud, allowedAudiences(ctx.dnsNames, ctx.op))) {
    throw unauthorized(`invalid token: audience ${JSON.stringify(claims.aud)} is not one of ours for ${ctx.op}`);
  }
}

async function verifySignature(token: string, p: JwkProvisioner): Promise<void> {
  if (p.fastKey && await verifiedFast(token, p.fastKey)) return;
  try {
    // Only the provisioner's own algorithm: this is what stops alg=none and HS256-with-public-key.
    await jose.compactVerify(token, p.key, { algorithms: [p.alg] });
  } catch (e) {
    throw unauthorized(`invalid token signature for provisioner ${p.name}: ${(e as Error).message}`);
  }
}

/** The token's `sans` for signing: strings only, defaulting to [sub] when absent or empty. */
export function signSans(claims: TokenClaims): string[] {
  const s = claims.sans;
  if (s === undefined || s === null || (Array.isArray(s) && s.length === 0)) return [claims.sub];
  if (!Array.isArray(s) || s.some((x) => typeof x !== 'string' || x === '')) throw unauthorized('invalid token: sans must be a list of names');
  return s as string[];
}
