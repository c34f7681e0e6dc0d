// A minimal RFC 8555 client for protocol tests (jose for the JWS): it can also send what real
// clients never would (replayed nonces, wrong urls, foreign kids), which is the point.
import * as jose from 'jose';
import { generateKeyPairSync, createPrivateKey, type KeyObject } from 'node:crypto';
import { x509 } from '../../src/pki/x509.ts';
import { request, type HttpResult } from './ca.ts';

export type Alg = 'ES256' | 'ES384' | 'RS256' | 'EdDSA';

export interface AccountKey { alg: Alg; privateKey: jose.CryptoKey | KeyObject; jwk: jose.JWK }

export async function accountKey(alg: Alg = 'ES256'): Promise<AccountKey> {
  const { privateKey, publicKey } = alg === 'EdDSA' ? generateKeyPairSync('ed25519')
    : alg === 'RS256' ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : generateKeyPairSync('ec', { namedCurve: alg === 'ES384' ? 'P-384' : 'P-256' });
  return { alg, privateKey, jwk: await jose.exportJWK(publicKey) };
}

/** The content type of every signed ACME request (RFC 8555 6.2). */
export const JOSE = { 'content-type': 'application/jose+json' };

export interface SignOptions { nonce?: string; url?: string; kid?: string | null; key?: AccountKey; useJwk?: boolean }

export class AcmeTestClient {
  dir!: Record<string, string>;
  kid: string | null = null;
  private nonces: string[] = [];

  /** Port to connect to instead of the URL's (a second replica); null: the URL's. */
  via: number | null = null;

  constructor(readonly rootPem: string, readonly directoryUrl: string, public key: AccountKey) {}

  static async create(rootPem: string, directoryUrl: string, alg: Alg = 'ES256'): Promise<AcmeTestClient> {
    const c = new AcmeTestClient(rootPem, directoryUrl, await accountKey(alg));
    c.dir = (await request(c, 'GET', directoryUrl)).json;
    return c;
  }

  async nonce(): Promise<string> {
    const n = this.nonces.pop();
    if (n) return n;
    const r = await request(this, 'HEAD', this.dir.newNonce!, undefined, { via: this.via ?? undefined });
    return String(r.headers['replay-nonce']);
  }

  async jws(url: string, payload: unknown, o: SignOptions = {}): Promise<jose.FlattenedJWS> {
    const key = o.key ?? this.key;
    const header: jose.JWSHeaderParameters = { alg: key.alg, nonce: o.nonce ?? await this.nonce(), url: o.url ?? url };
    const kid = o.kid === undefined ? this.kid : o.kid;
    if (o.useJwk || !kid) header.jwk = key.jwk;
    else header.kid = kid;
    const bytes = payload === '' ? new Uint8Array(0) : new TextEncoder().encode(JSON.stringify(payload));
    return new jose.FlattenedSign(bytes).setProtectedHeader(header).sign(key.privateKey);
  }

  /** Signed POST; '' as payload is POST-as-GET. */
  async post(url: string, payload: unknown, o: SignOptions = {}): Promise<HttpResult> {
    const r = await request(this, 'POST', url, undefined, { raw: JSON.stringify(await this.jws(url, payload, o)), headers: JOSE, via: this.via ?? undefined });
    const n = r.headers['replay-nonce'];
    if (typeof n === 'string') this.nonces.push(n);
    return r;
  }

  async register(payload: Record<string, unknown> = { termsOfServiceAgreed: true }): Promise<HttpResult> {
    const r = await this.post(this.dir.newAccount!, payload, { useJwk: true });
    if (r.status === 201 || r.status === 200) this.kid = String(r.headers.location);
    return r;
  }

  async newOrder(identifiers: { type: string; value: string }[]): Promise<HttpResult> {
    return this.post(this.dir.newOrder!, { identifiers });
  }

  async thumbprint(): Promise<string> {
    return jose.calculateJwkThumbprint(this.key.jwk, 'sha256');
  }

  async keyAuthorization(token: string): Promise<string> {
    return `${token}.${await this.thumbprint()}`;
  }

  /** POST-as-GET until `done` says so (or the deadline). */
  async poll(url: string, done: (r: HttpResult) => boolean, ms = 30_000): Promise<HttpResult> {
    const end = Date.now() + ms;
    for (;;) {
      const r = await this.post(url, '');
      if (done(r) || Date.now() > end) return r;
      await new Promise((res) => setTimeout(res, 200));
    }
  }
}

/** A CSR (base64url DER) for these names, and its key. */
export async function csrFor(names: { dns?: string[]; ip?: string[] }, cn?: string): Promise<{ csr: string; key: CryptoKeyPair }> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await crypto.subtle.generateKey(alg, true, ['sign', 'verify']) as CryptoKeyPair;
  const san = [...(names.dns ?? []).map((value) => ({ type: 'dns' as const, value })), ...(names.ip ?? []).map((value) => ({ type: 'ip' as const, value }))];
  const req = await x509.Pkcs10CertificateRequestGenerator.create({
    name: cn ? `CN=${cn}` : '', keys, signingAlgorithm: alg, extensions: san.length ? [new x509.SubjectAlternativeNameExtension(san)] : [],
  });
  return { csr: Buffer.from(req.rawData).toString('base64url'), key: keys };
}

export { createPrivateKey };
