// `ca certificate SUBJECT CRT KEY` (api.md §5): a token (given or minted), a fresh key and CSR,
// POST /sign, then the chain and key written atomically. Nothing is written unless signing works.
import type { KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import * as jose from 'jose';
import { CliError } from '../cli/common.js';
import { generateKeyPair, toWebKeyPair, unencryptedPem, writeFileAtomic, type Curve, type KeySpec } from '../pki/keys.js';
import { classifySan } from '../pki/names.js';
import { toPem } from '../pki/pem.js';
import { x509 } from '../pki/x509.js';
import { fetchPinnedRoot } from './bootstrap.js';
import { findCaUrl, findRootFile, readDefaults, readRootPem, requireCaUrl, type ClientFlags } from './defaults.js';
import { CaClient } from './http.js';
import { chainFromResponse, type SignResponse } from './sign-response.js';
import { mintToken } from './token.js';

export interface CertificateOptions extends ClientFlags {
  subject: string;
  crtFile: string;
  keyFile: string;
  sans: string[];
  token?: string;
  provisioner?: string;
  kid?: string;
  password?: string;
  kty: string;
  curve?: string;
  size?: string;
  notBefore?: string;
  notAfter?: string;
  force?: boolean;
}

/** --kty/--curve/--size as a KeySpec; bad values are usage errors (exit 2). */
export function keySpecFromFlags(kty: string, curve?: string, size?: string): KeySpec {
  const k = kty.toUpperCase();
  if (k === 'EC') {
    const c = (curve ?? 'P-256').toUpperCase();
    if (c !== 'P-256' && c !== 'P-384') throw new CliError(`--curve must be P-256 or P-384, not ${curve}`, 2);
    if (size !== undefined) throw new CliError('--size applies to RSA keys only', 2);
    return { kty: 'EC', curve: c as Curve };
  }
  if (k === 'RSA') {
    if (curve !== undefined) throw new CliError('--curve applies to EC keys only', 2);
    const n = size === undefined ? 2048 : Number(size);
    if (!Number.isInteger(n) || n < 2048 || n > 8192) throw new CliError(`--size must be an integer from 2048 to 8192, not ${size}`, 2);
    return { kty: 'RSA', size: n };
  }
  if (k === 'OKP') {
    if (curve !== undefined && curve.toLowerCase() !== 'ed25519') throw new CliError(`--curve for OKP keys must be Ed25519, not ${curve}`, 2);
    if (size !== undefined) throw new CliError('--size applies to RSA keys only', 2);
    return { kty: 'OKP' };
  }
  throw new CliError(`--kty must be EC, RSA or OKP, not ${kty}`, 2);
}

interface TokenClaims { sub?: unknown; sans?: unknown; aud?: unknown; sha?: unknown }

function readToken(token: string): TokenClaims {
  try {
    return jose.decodeJwt(token.trim()) as TokenClaims;
  } catch {
    throw new CliError('--token is not a JWT', 2);
  }
}

/** The client for a given token: URL from --ca-url/defaults or aud[0]; root from flags or pinned by the token's sha. */
async function clientForToken(flags: ClientFlags, claims: TokenClaims): Promise<CaClient> {
  const defaults = readDefaults(flags.home, flags.config);
  const aud = Array.isArray(claims.aud) ? claims.aud[0] : claims.aud;
  let caUrl = findCaUrl(flags, defaults);
  if (!caUrl) {
    if (typeof aud !== 'string' || !/^https:\/\//i.test(aud)) throw new CliError('no CA URL: pass --ca-url or run `stepstone ca bootstrap` first (the token\'s audience is not an https URL)');
    caUrl = new URL(aud).origin;
  }
  const rootFile = findRootFile(flags, defaults);
  if (rootFile) return new CaClient({ caUrl, rootPem: readRootPem(rootFile) });
  if (typeof claims.sha !== 'string') throw new CliError('no root certificate: pass --root or run `stepstone ca bootstrap` first (the token has no sha claim)');
  return new CaClient({ caUrl, rootPem: await fetchPinnedRoot(caUrl, claims.sha) });
}

export interface CertificateResult { crtFile: string; keyFile: string; chain: string[] }

export async function requestCertificate(o: CertificateOptions): Promise<CertificateResult> {
  const spec = keySpecFromFlags(o.kty, o.curve, o.size);
  const crtFile = resolve(o.crtFile);
  const keyFile = resolve(o.keyFile);
  if (crtFile === keyFile) throw new CliError('the certificate and key files must differ', 2);
  if (!o.force) {
    for (const f of [crtFile, keyFile]) if (existsSync(f)) throw new CliError(`${f} already exists; pass --force to overwrite it`);
  }

  let client: CaClient;
  let ott: string;
  let sans: string[];
  if (o.token) {
    const claims = readToken(o.token);
    if (typeof claims.sub !== 'string' || claims.sub.toLowerCase() !== o.subject.toLowerCase()) {
      throw new CliError(`token subject '${String(claims.sub)}' and argument '${o.subject}' do not match`);
    }
    const tokenSans = Array.isArray(claims.sans) ? claims.sans.filter((s): s is string => typeof s === 'string') : [];
    sans = [...new Set([...o.sans, ...tokenSans])];
    if (sans.length === 0) sans = [o.subject];
    client = await clientForToken(o, claims);
    ott = o.token.trim();
  } else {
    if (o.password === undefined) throw new CliError('--password-file (or --token) is required', 2);
    const defaults = readDefaults(o.home, o.config);
    const caUrl = requireCaUrl(o, defaults);
    const rootFile = findRootFile(o, defaults);
    if (!rootFile) throw new CliError('no root certificate: pass --root or run `stepstone ca bootstrap` first');
    const rootPem = readRootPem(rootFile);
    client = new CaClient({ caUrl, rootPem });
    sans = o.sans.length > 0 ? [...new Set(o.sans)] : [o.subject];
    // Minted before the key is generated: a wrong password fails fast and costs no keygen.
    ott = await mintToken({ client, rootPem, subject: o.subject, sans, provisioner: o.provisioner, kid: o.kid, password: o.password });
  }

  const { privateKey } = generateKeyPair(spec);
  const csrPem = await makeCsr(privateKey, o.subject, sans);
  const res = await client.post<SignResponse>('/sign', {
    csr: csrPem, ott, notBefore: o.notBefore ?? '', notAfter: o.notAfter ?? '',
  });
  const chain = chainFromResponse(res, '/sign');
  writeFileAtomic(crtFile, chain.join(''), 0o600);
  writeFileAtomic(keyFile, unencryptedPem(privateKey), 0o600);
  return { crtFile, keyFile, chain };
}

export async function makeCsr(privateKey: KeyObject, subject: string, sans: string[]): Promise<string> {
  const keys = await toWebKeyPair(privateKey);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    // JSON form, so a subject with ',' or '=' is one CN value rather than a parsed DN.
    name: [{ CN: [subject] }],
    keys: { privateKey: keys.privateKey, publicKey: keys.publicKey },
    signingAlgorithm: keys.signAlg,
    extensions: sans.length > 0 ? [new x509.SubjectAlternativeNameExtension(sans.map(classifySan))] : [],
  });
  return toPem(csr.rawData, 'CERTIFICATE REQUEST');
}
