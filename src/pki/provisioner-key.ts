// JWK provisioner keys as step-ca keeps them: the public JWK (kid = RFC 7638 thumbprint) in
// ca.json, the private JWK as a compact JWE encrypted with the provisioner password.
import { randomBytes } from 'node:crypto';
import * as jose from 'jose';

export const PBES2_COUNT = 600_000;
/** go-jose (the step CLI) refuses more; we refuse more too, to bound the work a JWE can ask for. */
const MAX_PBES2_COUNT = 1_000_000;

export interface ProvisionerKeyPair {
  publicJwk: jose.JWK;
  encryptedKey: string;
}

const ALG_FOR: Record<string, { alg: string; opts?: { crv?: string; modulusLength?: number } }> = {
  EC: { alg: 'ES256' },
  OKP: { alg: 'EdDSA', opts: { crv: 'Ed25519' } },
  RSA: { alg: 'RS256', opts: { modulusLength: 2048 } },
};

export async function createProvisionerKey(password: string, kty: 'EC' | 'OKP' | 'RSA' = 'EC'): Promise<ProvisionerKeyPair> {
  if (!password) throw new Error('the provisioner password must not be empty');
  const { alg, opts } = ALG_FOR[kty]!;
  const { privateKey, publicKey } = await jose.generateKeyPair(alg, { ...opts, extractable: true });
  const pub = await jose.exportJWK(publicKey);
  const kid = await jose.calculateJwkThumbprint(pub, 'sha256');
  const publicJwk: jose.JWK = { use: 'sig', kty: pub.kty, kid, ...(pub.crv ? { crv: pub.crv } : {}), alg, ...stripMeta(pub) };
  const privateJwk = { ...publicJwk, ...stripMeta(await jose.exportJWK(privateKey)) };
  const encryptedKey = await new jose.CompactEncrypt(new TextEncoder().encode(JSON.stringify(privateJwk)))
    .setProtectedHeader({ alg: 'PBES2-HS256+A128KW', enc: 'A256GCM', cty: 'jwk+json' })
    .setKeyManagementParameters({ p2c: PBES2_COUNT, p2s: randomBytes(16) })
    .encrypt(new TextEncoder().encode(password));
  return { publicJwk, encryptedKey };
}

function stripMeta(jwk: jose.JWK): jose.JWK {
  const { kty: _k, crv: _c, ...rest } = jwk;
  return rest;
}

/** Decrypts an encryptedKey; a wrong password is one clear error. */
export async function decryptProvisionerKey(encryptedKey: string, password: string): Promise<jose.JWK> {
  try {
    const { plaintext } = await jose.compactDecrypt(encryptedKey.trim(), new TextEncoder().encode(password), {
      keyManagementAlgorithms: ['PBES2-HS256+A128KW', 'PBES2-HS384+A192KW', 'PBES2-HS512+A256KW'],
      contentEncryptionAlgorithms: ['A256GCM', 'A128GCM', 'A192GCM'],
      maxPBES2Count: MAX_PBES2_COUNT,
    });
    return JSON.parse(new TextDecoder().decode(plaintext)) as jose.JWK;
  } catch (e) {
    if (e instanceof jose.errors.JWEDecryptionFailed) throw new Error('cannot decrypt the provisioner key: wrong password', { cause: e });
    throw new Error(`cannot decrypt the provisioner key: ${(e as Error).message}`, { cause: e });
  }
}

/** The JWS algorithm a provisioner key signs with. */
export function jwkAlg(jwk: jose.JWK): string {
  if (jwk.alg) return jwk.alg;
  if (jwk.kty === 'EC') return ({ 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' } as Record<string, string>)[jwk.crv ?? ''] ?? 'ES256';
  if (jwk.kty === 'OKP') return 'EdDSA';
  return 'RS256';
}
