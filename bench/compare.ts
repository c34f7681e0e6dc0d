// The other server of a side-by-side run: where it is and how to mint its tokens. The provisioner
// key is what step-ca keeps: the encryptedKey JWE of ca.json (PBES2, decrypted with the password)
// or a private JWK as `step crypto jwk create --no-password --insecure` writes it.
import { readFileSync } from 'node:fs';
import * as jose from 'jose';
import type { ProvisionerKey } from '../test/helpers/tokens.ts';

export interface CompareSpec { url: string; rootFile: string; keyFile: string; passwordFile?: string; iss: string; pid: number | null }

export async function provisionerKeyFromFile(file: string, password?: string): Promise<ProvisionerKey> {
  const text = readFileSync(file, 'utf8').trim();
  let jwk: jose.JWK;
  if (text.startsWith('{')) {
    jwk = JSON.parse(text) as jose.JWK;
  } else {
    if (password === undefined) throw new Error(`${file} is an encrypted key: give --password F`);
    const { plaintext } = await jose.compactDecrypt(text, new TextEncoder().encode(password), {
      keyManagementAlgorithms: ['PBES2-HS256+A128KW', 'PBES2-HS384+A192KW', 'PBES2-HS512+A256KW'], maxPBES2Count: 1_000_000,
    });
    jwk = JSON.parse(new TextDecoder().decode(plaintext)) as jose.JWK;
  }
  if (!jwk.d) throw new Error(`${file} holds no private key`);
  const alg = jwk.alg ?? (jwk.kty === 'EC' ? 'ES256' : jwk.kty === 'OKP' ? 'EdDSA' : 'RS256');
  if (!jwk.kid) throw new Error(`${file}: the key has no kid (the CA finds the provisioner by it)`);
  return { key: await jose.importJWK(jwk, alg) as jose.CryptoKey, jwk, kid: jwk.kid, alg };
}
