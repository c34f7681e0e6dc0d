// Minting step-style one-time tokens and CSRs for tests, with jose and openssl.
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as jose from 'jose';

export interface ProvisionerKey { key: jose.CryptoKey | Uint8Array; jwk: jose.JWK; kid: string; alg: string }

/** Decrypts the provisioner key from the CA's ca.json with its password. */
export async function provisionerKey(configPath: string, password: string, name = 'admin'): Promise<ProvisionerKey> {
  const cfg = JSON.parse(readFileSync(configPath, 'utf8'));
  const p = cfg.authority.provisioners.find((x: any) => x.name === name);
  const { plaintext } = await jose.compactDecrypt(p.encryptedKey, new TextEncoder().encode(password), {
    keyManagementAlgorithms: ['PBES2-HS256+A128KW'], maxPBES2Count: 1_000_000,
  });
  const jwk = JSON.parse(new TextDecoder().decode(plaintext));
  return { key: await jose.importJWK(jwk, jwk.alg), jwk, kid: jwk.kid, alg: jwk.alg };
}

export async function mintToken(p: ProvisionerKey, claims: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const body = { iss: 'admin', iat: now, nbf: now, exp: now + 300, jti: randomBytes(32).toString('hex'), ...claims };
  for (const k of Object.keys(body)) if ((body as any)[k] === undefined) delete (body as any)[k];
  return new jose.CompactSign(new TextEncoder().encode(JSON.stringify(body)))
    .setProtectedHeader({ alg: p.alg, kid: p.kid, typ: 'JWT', ...header })
    .sign(p.key);
}

/** A key and CSR made by the real openssl binary. */
export function opensslCsr(cn: string, sans: string[] = [], keyArgs = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']): { csrPem: string; keyPem: string } {
  const dir = mkdtempSync(join(tmpdir(), 'csr-'));
  try {
    const args = ['req', '-new', ...keyArgs, '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'r.csr'), '-subj', cn ? `/CN=${cn}` : '/'];
    if (sans.length) args.push('-addext', `subjectAltName=${sans.map((s) => (/^[\d.]+$|:/.test(s) && !s.includes('://') ? `IP:${s}` : s.includes('@') ? `email:${s}` : s.includes('://') ? `URI:${s}` : `DNS:${s}`)).join(',')}`);
    execFileSync('openssl', args, { stdio: 'pipe' });
    return { csrPem: readFileSync(join(dir, 'r.csr'), 'utf8'), keyPem: readFileSync(join(dir, 'k.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function writeTemp(name: string, content: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'ss-'));
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}
