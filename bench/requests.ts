// Client-side crypto, done before any clock starts: P-256 keys and CSRs, then one-time tokens.
import { webcrypto } from 'node:crypto';
import https from 'node:https';
import { x509 } from '../src/pki/x509.ts';
import { mintToken, type ProvisionerKey } from '../test/helpers/tokens.ts';

export interface PreparedCsr { name: string; pem: string }

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;

async function oneCsr(name: string): Promise<PreparedCsr> {
  const keys = await webcrypto.subtle.generateKey(EC, false, ['sign', 'verify']) as CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${name}`,
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: name }])],
  });
  return { name, pem: csr.toString('pem') };
}

/**
 * `count` CSRs for host-<first+i>.<domain>. Batches keep many WebCrypto calls in flight so the
 * key generation and signing overlap on the libuv pool while the ASN.1 work runs here.
 */
export async function makeCsrs(count: number, domain = 'bench.internal', first = 0, batch = 64): Promise<PreparedCsr[]> {
  const out: PreparedCsr[] = [];
  for (let i = 0; i < count; i += batch) {
    const n = Math.min(batch, count - i);
    out.push(...await Promise.all(Array.from({ length: n }, (_, j) => oneCsr(`host-${first + i + j}.${domain}`))));
  }
  return out;
}

export interface TokenIssuer {
  key: ProvisionerKey;
  /** The provisioner name the CA expects in `iss`. */
  iss: string;
}

/**
 * JSON bodies for POST /1.0/sign, ready to write to the socket. Tokens are minted per phase,
 * just before it, because the CA refuses tokens that live longer than 5 minutes.
 */
export async function signBodies(issuer: TokenIssuer, baseUrl: string, csrs: PreparedCsr[]): Promise<Buffer[]> {
  const aud = `${baseUrl}/1.0/sign`;
  return Promise.all(csrs.map(async (c) => {
    const ott = await mintToken(issuer.key, { iss: issuer.iss, aud, sub: c.name, sans: [c.name] });
    return Buffer.from(JSON.stringify({ csr: c.pem, ott }));
  }));
}

export interface ClientIdentity { cert: string; key: string }

/**
 * `count` certificates with their keys, issued by `target` through /1.0/sign: the hosts that the
 * /renew phase renews over mTLS.
 */
export async function issueIdentities(issuer: TokenIssuer, target: { url: string; rootPem: string }, count: number, domain = 'renew.bench.internal'): Promise<ClientIdentity[]> {
  const out: ClientIdentity[] = [];
  for (let i = 0; i < count; i++) {
    const name = `host-${i}.${domain}`;
    const keys = await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify']) as CryptoKeyPair;
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: `CN=${name}`, keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: name }])],
    });
    const [body] = await signBodies(issuer, target.url, [{ name, pem: csr.toString('pem') }]);
    const res = await fetchJson(`${target.url}/1.0/sign`, target.rootPem, body!);
    const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64');
    out.push({ cert: res.crt as string, key: `-----BEGIN PRIVATE KEY-----\n${pkcs8.replace(/.{64}/g, '$&\n')}\n-----END PRIVATE KEY-----\n` });
  }
  return out;
}

function fetchJson(url: string, ca: string, body: Buffer): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: 'POST', ca, agent: false, headers: { 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => (res.statusCode === 201 ? resolve(JSON.parse(text)) : reject(new Error(`${url}: ${res.statusCode} ${text.slice(0, 200)}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}
