// The "x5cInsecure" renew token (api.md §1.11): a JWT signed with the certificate's own key and
// carrying the chain in its header, so a certificate the TLS handshake would refuse (expired) or
// cannot carry (an L7 proxy in between) can still be renewed.
import { createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import * as jose from 'jose';
import { CliError } from '../cli/common.js';
import type { x509 } from '../pki/x509.js';
import { assertPair, keyMatches, loadCertFile, loadKeyFile } from './files.js';
import { normalizeCaUrl } from './http.js';
import { tokenWindow } from './token.js';

/** The JWS alg step uses for a key: by curve for EC, RS256 for RSA, EdDSA for Ed25519. */
export function renewTokenAlg(key: KeyObject): string {
  const t = key.asymmetricKeyType;
  if (t === 'ec') {
    const alg = ({ prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' } as Record<string, string>)[key.asymmetricKeyDetails?.namedCurve ?? ''];
    if (alg) return alg;
    throw new CliError(`unsupported EC curve ${key.asymmetricKeyDetails?.namedCurve} for a renew token`);
  }
  if (t === 'rsa') return 'RS256';
  if (t === 'ed25519') return 'EdDSA';
  throw new CliError(`unsupported key type ${t} for a renew token`);
}

export interface RenewTokenOptions {
  /** Leaf first; the intermediate(s) after it, as in the certificate file. */
  chain: x509.X509Certificate[];
  key: KeyObject;
  /** Full audience URL, e.g. https://ca.example.com:9000/1.0/renew. */
  audience: string;
  /** Defaults to the leaf CN, which the CA requires it to equal. */
  subject?: string;
  /** NumericDate seconds; default now, now, now + 5 min. */
  window?: { iat: number; nbf: number; exp: number };
}

export const RENEW_TOKEN_ISSUER = 'step-ca-client/1.0';
const VALIDITY_S = 300;

export function leafCommonName(leaf: x509.X509Certificate): string {
  return leaf.subjectName.getField('CN')[0] ?? '';
}

export async function mintRenewToken(o: RenewTokenOptions): Promise<string> {
  const leaf = o.chain[0];
  if (!leaf) throw new CliError('no certificate to renew');
  if (!keyMatches(leaf, o.key)) throw new CliError('the key does not belong to the certificate');
  const alg = renewTokenAlg(o.key);
  const now = Math.floor(Date.now() / 1000);
  const w = o.window ?? { iat: now, nbf: now, exp: now + VALIDITY_S };
  const claims = {
    aud: o.audience,
    iss: RENEW_TOKEN_ISSUER,
    sub: o.subject ?? leafCommonName(leaf),
    jti: randomBytes(32).toString('hex'),
    iat: w.iat,
    nbf: w.nbf,
    exp: w.exp,
  };
  return new jose.CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
    .setProtectedHeader({
      alg,
      kid: await jose.calculateJwkThumbprint(createPublicKey(o.key)),
      typ: 'JWT',
      // Standard base64 of DER (not base64url), as x5c is defined in RFC 7515 §4.1.6.
      x5cInsecure: o.chain.map((c) => Buffer.from(c.rawData).toString('base64')),
    })
    .sign(o.key);
}

export interface RenewTokenFileOptions {
  crtFile: string;
  keyFile: string;
  caUrl: string;
  /** Must equal the leaf CN; the CA refuses anything else. */
  subject: string;
  notBefore?: string;
  notAfter?: string;
}

/** `ca token SUBJECT --renew --x5c-cert CRT --x5c-key KEY`: no network, aud <ca-url>/1.0/renew. */
export async function renewTokenFromFiles(o: RenewTokenFileOptions): Promise<string> {
  const crt = loadCertFile(o.crtFile);
  const key = loadKeyFile(o.keyFile);
  assertPair(crt, key);
  const cn = leafCommonName(crt.leaf);
  if (o.subject !== cn) throw new CliError(`the subject '${o.subject}' is not the certificate's common name '${cn}'; the CA requires them to be equal`);
  return mintRenewToken({
    chain: crt.chain, key: key.key, audience: `${normalizeCaUrl(o.caUrl)}/1.0/renew`, subject: o.subject, window: tokenWindow(o.notBefore, o.notAfter),
  });
}
