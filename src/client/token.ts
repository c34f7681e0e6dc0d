// One-time tokens for the JWK provisioner, minted as `step ca token` mints them (api.md §2.1,
// §5): list provisioners, fetch the encrypted key, decrypt it locally, sign the claims.
import { randomBytes } from 'node:crypto';
import * as jose from 'jose';
import { CliError } from '../cli/common.js';
import { sha256Hex } from '../pki/fingerprint.js';
import { pemBlocks } from '../pki/pem.js';
import { decryptProvisionerKey, jwkAlg } from '../pki/provisioner-key.js';
import { parseTimeOrDuration } from '../util/duration.js';
import type { CaClient } from './http.js';

export interface Provisioner {
  type: string;
  name: string;
  key?: jose.JWK;
  encryptedKey?: string;
  [key: string]: unknown;
}

/** Every provisioner, following nextCursor as step's GetProvisioners does. */
export async function listProvisioners(client: CaClient): Promise<Provisioner[]> {
  const out: Provisioner[] = [];
  const seen = new Set<string>();
  let cursor = '';
  for (;;) {
    const q = cursor ? `?cursor=${encodeURIComponent(cursor)}&limit=100` : '?limit=100';
    const page = await client.get<{ provisioners?: unknown; nextCursor?: unknown }>(`/provisioners${q}`);
    if (!Array.isArray(page.provisioners)) throw new CliError('the CA answered /provisioners without a provisioner list');
    out.push(...(page.provisioners as Provisioner[]));
    const next = typeof page.nextCursor === 'string' ? page.nextCursor : '';
    // A server that repeats a cursor would otherwise keep us here forever.
    if (!next || seen.has(next)) return out;
    seen.add(next);
    cursor = next;
  }
}

/** The JWK provisioner to mint with: by name (and kid), or the only one there is. */
export function pickJwkProvisioner(all: Provisioner[], name?: string, kid?: string): Provisioner & { key: jose.JWK & { kid: string } } {
  const jwks = all.filter((p) => typeof p.type === 'string' && p.type.toUpperCase() === 'JWK' && typeof p.key?.kid === 'string');
  const names = [...new Set(jwks.map((p) => p.name))].join(', ') || 'none';
  let candidates = jwks;
  if (name !== undefined) {
    candidates = jwks.filter((p) => p.name === name);
    if (candidates.length === 0) {
      if (all.some((p) => p.name === name)) throw new CliError(`provisioner '${name}' is not a JWK provisioner`);
      throw new CliError(`no JWK provisioner named '${name}' (JWK provisioners: ${names})`);
    }
  }
  if (kid !== undefined) {
    candidates = candidates.filter((p) => p.key?.kid === kid);
    if (candidates.length === 0) throw new CliError(`no JWK provisioner${name ? ` named '${name}'` : ''} has key id '${kid}'`);
  }
  if (candidates.length === 0) throw new CliError('the CA has no JWK provisioner');
  if (candidates.length > 1) {
    if (name === undefined && new Set(candidates.map((p) => p.name)).size > 1) throw new CliError(`several JWK provisioners; choose one with --provisioner (${names})`);
    throw new CliError(`several keys for provisioner '${candidates[0]!.name}'; choose one with --kid (${candidates.map((p) => p.key!.kid).join(', ')})`);
  }
  return candidates[0] as Provisioner & { key: jose.JWK & { kid: string } };
}

/** Lower-case hex SHA-256 of the first certificate in a PEM: the token's `sha` claim. */
export function rootFingerprint(rootPem: string): string {
  const der = pemBlocks(rootPem, 'CERTIFICATE')[0];
  if (!der) throw new CliError('the root file holds no PEM certificate');
  return sha256Hex(der);
}

export interface TokenOptions {
  client: CaClient;
  rootPem: string;
  subject: string;
  sans?: string[];
  provisioner?: string;
  kid?: string;
  password: string;
  notBefore?: string;
  notAfter?: string;
  revoke?: boolean;
}

/** step's client-side bounds on a token's validity (smallstep/cli token options). */
const MIN_VALIDITY_S = 10;
const MAX_VALIDITY_S = 3600;
const MAX_DELAY_S = 30 * 60;
const DEFAULT_VALIDITY_S = 300;

/** nbf and exp in NumericDate seconds from --not-before/--not-after, with step's limits. */
export function tokenWindow(notBefore: string | undefined, notAfter: string | undefined, now = new Date()): { iat: number; nbf: number; exp: number } {
  const iat = Math.floor(now.getTime() / 1000);
  const parse = (flag: string, v: string | undefined): number | undefined => {
    if (v === undefined || v === '') return undefined;
    try {
      return Math.floor(parseTimeOrDuration(v, now)!.getTime() / 1000);
    } catch (e) {
      throw new CliError(`${flag}: ${(e as Error).message}`, 2);
    }
  };
  const nbf = parse('--not-before', notBefore) ?? iat;
  const exp = parse('--not-after', notAfter) ?? nbf + DEFAULT_VALIDITY_S;
  if (exp <= nbf) throw new CliError('the token would expire before it becomes valid (--not-after is not after --not-before)', 2);
  if (nbf - iat > MAX_DELAY_S) throw new CliError(`--not-before is more than ${MAX_DELAY_S / 60}m in the future`, 2);
  const validity = exp - nbf;
  if (validity < MIN_VALIDITY_S) throw new CliError(`token validity of ${validity}s is shorter than the minimum of ${MIN_VALIDITY_S}s`, 2);
  if (validity > MAX_VALIDITY_S) throw new CliError(`token validity of ${validity}s is longer than the maximum of 1h`, 2);
  return { iat, nbf, exp };
}

export async function mintToken(o: TokenOptions): Promise<string> {
  if (!o.subject) throw new CliError('the token subject must not be empty', 2);
  const window = tokenWindow(o.notBefore, o.notAfter);
  const sha = rootFingerprint(o.rootPem);
  const prov = pickJwkProvisioner(await listProvisioners(o.client), o.provisioner, o.kid);
  const kid = prov.key.kid;
  const res = await o.client.get<{ key?: unknown }>(`/provisioners/${encodeURIComponent(kid)}/encrypted-key`);
  if (typeof res.key !== 'string') throw new CliError(`the CA has no encrypted key for provisioner '${prov.name}'`);
  let jwk: jose.JWK;
  try {
    jwk = await decryptProvisionerKey(res.key, o.password);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  const alg = jwkAlg(prov.key.alg ? prov.key : jwk);
  const key = await jose.importJWK(jwk, alg);
  // Claim order as step writes them; the server does not care, humans reading tokens might.
  const claims = {
    aud: `${o.client.origin}/1.0/${o.revoke ? 'revoke' : 'sign'}`,
    iss: prov.name,
    sub: o.subject,
    ...(o.revoke ? {} : { sans: o.sans && o.sans.length > 0 ? o.sans : [o.subject] }),
    jti: randomBytes(32).toString('hex'),
    iat: window.iat,
    nbf: window.nbf,
    exp: window.exp,
    sha,
  };
  return new jose.CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
    .setProtectedHeader({ alg, kid, typ: 'JWT' })
    .sign(key);
}
