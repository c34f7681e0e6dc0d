// A seeded, bounded fuzzer for /sign, /renew and /revoke (issue 6). Every case is derived from a
// valid request and broken one way: bit flips and truncation of tokens and CSRs, DER length
// tricks, JSON type confusion, unicode and oversized names. The contract checked on every
// answer: never a 5xx, always step-ca's error shape on a refusal, and no certificate issued for a
// name its token did not allow. Loopback only; the same seed gives the same cases.
// Issue 12 added shapes: re-spelled token signatures (a jti-less renew token renews once, a
// re-spelled sign token never issues), non-canonical public keys and CSR framing (never issued),
// and names with control characters, bidi overrides and IPv6 zone ids (never issued; every
// issued name must pass name-rules.ts).
import { ECDH, X509Certificate, generateKeyPairSync, randomBytes, sign as nodeSign, type KeyObject } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as jose from 'jose';
import { AsnConvert } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, Name, SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import { CertificationRequest, CertificationRequestInfo } from '@peculiar/asn1-csr';
import { commonNameProblem, sanProblem } from '../../src/authority/name-rules.ts';
import { classifySan } from '../../src/pki/names.ts';
import { request, type TestCa } from '../helpers/ca.ts';
import { mintToken, type ProvisionerKey } from '../helpers/tokens.ts';
import { Rand } from '../helpers/random.ts';
import { x509 } from '../../src/pki/x509.ts';
import { toPem } from '../../src/pki/pem.ts';

export interface FuzzReport {
  cases: number;
  /** Count by "class status", e.g. "token-bits 401". */
  outcomes: Record<string, number>;
  /** Contract violations, each with what was sent. */
  failures: string[];
  issued: number;
}

interface Base { name: string; csrPem: string; csrDer: Buffer; keys: CryptoKeyPair }

const UNICODE = ['é', 'ß', 'Ж', '日本', '🔐', '\u0000', '\u202e', '\ud800', 'ﬁ', '\u200b', '\n', '"', '\\', '%00', '../'];

export async function makeBases(n: number, prefix = 'fuzz'): Promise<Base[]> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256' } as const;
  return Promise.all(Array.from({ length: n }, async (_, i) => {
    const name = `${prefix}-${i}.internal`;
    const keys = await crypto.subtle.generateKey(alg, false, ['sign', 'verify']) as CryptoKeyPair;
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: `CN=${name}`, keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: name }])],
    });
    return { name, csrPem: csr.toString('pem'), csrDer: Buffer.from(csr.rawData), keys };
  }));
}

/** A CSR for `cn` carrying `spki` exactly as given, self-signed by `key` (built with @peculiar's ASN.1 schemas). */
function csrWithSpki(cn: string, spki: Uint8Array | SubjectPublicKeyInfo, key: KeyObject): string {
  const pki = spki instanceof SubjectPublicKeyInfo ? spki : AsnConvert.parse(spki, SubjectPublicKeyInfo);
  const info = new CertificationRequestInfo({ subject: AsnConvert.parse(new x509.Name(`CN=${cn}`).toArrayBuffer(), Name), subjectPKInfo: pki });
  const tbs = Buffer.from(AsnConvert.serialize(info));
  const t = key.asymmetricKeyType;
  const alg = t === 'rsa' ? new AlgorithmIdentifier({ algorithm: '1.2.840.113549.1.1.11', parameters: null })
    : t === 'ec' ? new AlgorithmIdentifier({ algorithm: '1.2.840.10045.4.3.2' }) : new AlgorithmIdentifier({ algorithm: '1.3.101.112' });
  const signature = nodeSign(t === 'ed25519' ? null : 'sha256', tbs, key);
  const req = new CertificationRequest({ certificationRequestInfo: info, signatureAlgorithm: alg, signature: new Uint8Array(signature).buffer });
  return toPem(AsnConvert.serialize(req), 'CERTIFICATE REQUEST');
}

export const ODD_CN = 'odd.internal';

/**
 * Self-signed CSRs whose keys are valid but not in the canonical SubjectPublicKeyInfo: explicit
 * EC curve parameters (made by the real openssl), RSA without NULL parameters, a compressed EC
 * point, Ed25519 with parameters. The CA must refuse every one.
 */
export function makeOddCsrs(): { what: string; csrPem: string }[] {
  const out: { what: string; csrPem: string }[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'fuzz-odd-'));
  try {
    execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-pkeyopt', 'ec_param_enc:explicit', '-nodes',
      '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'r.csr'), '-subj', `/CN=${ODD_CN}`], { stdio: 'pipe' });
    out.push({ what: 'explicit EC parameters', csrPem: readFileSync(join(dir, 'r.csr'), 'utf8') });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const rsaSpki = AsnConvert.parse(rsa.publicKey.export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo);
  rsaSpki.algorithm = new AlgorithmIdentifier({ algorithm: rsaSpki.algorithm.algorithm });
  out.push({ what: 'RSA without NULL', csrPem: csrWithSpki(ODD_CN, rsaSpki, rsa.privateKey) });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ecSpki = AsnConvert.parse(ec.publicKey.export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo);
  const compressed = ECDH.convertKey(Buffer.from(ecSpki.subjectPublicKey), 'prime256v1', undefined, undefined, 'compressed') as Buffer;
  ecSpki.subjectPublicKey = new Uint8Array(compressed).buffer;
  out.push({ what: 'compressed EC point', csrPem: csrWithSpki(ODD_CN, ecSpki, ec.privateKey) });
  const ed = generateKeyPairSync('ed25519');
  const edSpki = AsnConvert.parse(ed.publicKey.export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo);
  edSpki.algorithm = new AlgorithmIdentifier({ algorithm: edSpki.algorithm.algorithm, parameters: null });
  out.push({ what: 'Ed25519 with parameters', csrPem: csrWithSpki(ODD_CN, edSpki, ed.privateKey) });
  return out;
}

const P256_N = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Other spellings of a compact JWS: the signature's last character re-spelled (same bytes), or ES256's s -> n-s. */
export function respelled(token: string, r: Rand): string {
  const i = token.lastIndexOf('.');
  const sig = Buffer.from(token.slice(i + 1), 'base64url');
  if (sig.length === 64 && r.chance(0.3)) {
    const s = BigInt(`0x${sig.subarray(32).toString('hex')}`);
    const flipped = Buffer.from((P256_N - s).toString(16).padStart(64, '0'), 'hex');
    const high = `${token.slice(0, i + 1)}${Buffer.concat([sig.subarray(0, 32), flipped]).toString('base64url')}`;
    return r.chance(0.5) ? high : respelled(high, r);
  }
  const head = token.slice(0, -1);
  const same = [...B64URL].map((c) => head + c).filter((t) => t !== token && Buffer.from(t.slice(i + 1), 'base64url').equals(sig));
  return same.length ? r.pick(same) : token;
}

/** Names no certificate may carry, not even as a common name: control and bidi characters. */
function controlName(name: string, r: Rand): string {
  return r.pick([`${name}\u0000`, `a\u0000b.${name}`, `${name}\n`, `\u202e${name}`, `${name}\u2066`, `x\u0085.${name}`, `${name}\u007f`, `${name}\u200f`]);
}

/** Names no certificate may carry as a SAN: those, zone ids, broken wildcards and labels, bad URIs and emails. */
function badName(name: string, r: Rand): string {
  return r.pick([
    controlName(name, r), controlName(name, r), 'fe80::1%eth0', 'fe80::1%25eth0', `fe80::${r.int(1, 9)}%${r.int(0, 9)}`,
    '*', '*.*.internal', `a.*.${name}`, `${'l'.repeat(r.int(64, 400))}.internal`, `${'a.'.repeat(r.int(127, 5000))}x`, 'xn--zz.internal', 'my host.internal',
    'spiffe://td/a b', 'http://a/%zz', 'a b@c.d', `a@${name}\u0001`,
  ]);
}

/** One byte-level mutation: a bit flip, a byte set, a truncation, a length byte off by one, a duplicated chunk. */
export function mutateBytes(b: Buffer, r: Rand): Buffer {
  const m = Buffer.from(b);
  if (m.length === 0) return Buffer.from([r.int(0, 255)]);
  switch (r.int(0, 4)) {
    case 0: { const at = r.int(0, m.length - 1); m[at]! ^= 1 << r.int(0, 7); return m; }
    case 1: { const at = r.int(0, m.length - 1); m[at] = r.pick([0x00, 0x7f, 0x80, 0x81, 0x82, 0x84, 0xff, r.int(0, 255)]); return m; }
    case 2: return m.subarray(0, r.int(0, m.length - 1));
    case 3: { const at = r.int(0, Math.max(0, m.length - 2)); m[at + 1] = (m[at + 1]! + r.pick([1, 255, 0x80])) & 0xff; return m; }
    default: {
      const a = r.int(0, m.length - 1);
      const e = Math.min(m.length, a + r.int(1, 32));
      return Buffer.concat([m.subarray(0, e), m.subarray(a, e), m.subarray(e)]);
    }
  }
}

function mutateString(s: string, r: Rand): string {
  switch (r.int(0, 5)) {
    case 0: return s.slice(0, r.int(0, s.length));
    case 1: { const at = r.int(0, s.length); return s.slice(0, at) + r.pick(UNICODE) + s.slice(at); }
    case 2: { const at = r.int(0, Math.max(0, s.length - 1)); return s.slice(0, at) + String.fromCharCode(s.charCodeAt(at) ^ (1 << r.int(0, 6))) + s.slice(at + 1); }
    case 3: return s + s.slice(0, r.int(0, 64));
    case 4: return s.split('.').reverse().join('.');
    default: return `${s.slice(0, 10)}${'A'.repeat(r.int(1, 3000))}${s.slice(10)}`;
  }
}

function junk(r: Rand): unknown {
  return r.pick([null, true, 0, -1, 1e308, 3.5, '', [], {}, ['a'], { csr: 1 }, 'x'.repeat(r.int(1, 70_000)), r.pick(UNICODE).repeat(r.int(1, 50)), [[[[[[[[[[]]]]]]]]]]]);
}

/** Claims a provisioner might sign (a compromised or buggy client): wrong types, unicode, sizes. */
function mutateClaims(base: Record<string, unknown>, r: Rand): Record<string, unknown> {
  const c = { ...base };
  const key = r.pick(['sub', 'sans', 'aud', 'exp', 'nbf', 'iat', 'jti', 'iss']);
  const name = String(c.sub);
  const value = r.pick([
    junk(r),
    `${name}${r.pick(UNICODE)}`,
    [name, r.pick(UNICODE)],
    [name, `${r.pick(UNICODE)}.internal`, '10.0.0.1', 'x@y.z', 'spiffe://a/b'],
    Array.from({ length: r.int(50, 300) }, (_, i) => `n${i}.internal`),
    'A'.repeat(r.int(100, 5000)),
    undefined,
  ]);
  c[key] = value;
  return c;
}

export interface FuzzTarget { ca: Pick<TestCa, 'url' | 'rootPem'>; admin: ProvisionerKey; bases: Base[] }

/** Runs `cases` seeded cases, `concurrency` at a time. */
export async function runFuzz(t: FuzzTarget, cases: number, seed: number, concurrency = 8, onProgress?: (done: number) => void): Promise<FuzzReport> {
  const report: FuzzReport = { cases, outcomes: {}, failures: [], issued: 0 };
  const odd = makeOddCsrs();
  let next = 0;
  const aud = `${t.ca.url}/1.0/sign`;
  const one = async (i: number): Promise<void> => {
    // A generator per case: case i is the same request whatever ran concurrently with it.
    const r = new Rand((Math.imul(seed, 0x9e3779b1) ^ Math.imul(i + 1, 0x85ebca6b)) >>> 0);
    const base = r.pick(t.bases);
    const claims: Record<string, unknown> = { aud, sub: base.name, sans: [base.name] };
    const kind = r.pick(['valid', 'token-bits', 'claims', 'csr-der', 'csr-pem', 'json-types', 'json-text', 'renew', 'revoke', 'respell', 'respell-renew', 'spki', 'names']);
    let path = '/1.0/sign';
    let body: unknown;
    let raw: string | undefined;
    let headers: Record<string, string> = {};
    let sent = claims;
    const ott = async (c: Record<string, unknown>) => mintToken(t.admin, c);
    switch (kind) {
      case 'valid': body = { csr: base.csrPem, ott: await ott(claims) }; break;
      case 'token-bits': body = { csr: base.csrPem, ott: mutateString(await ott(claims), r) }; break;
      case 'claims': sent = mutateClaims(claims, r); body = { csr: base.csrPem, ott: await ott(sent) }; break;
      case 'csr-der': body = { csr: toPem(mutateBytes(base.csrDer, r), 'CERTIFICATE REQUEST'), ott: await ott(claims) }; break;
      case 'csr-pem': body = { csr: mutateString(base.csrPem, r), ott: await ott(claims) }; break;
      case 'json-types': {
        const b: Record<string, unknown> = { csr: base.csrPem, ott: await ott(claims) };
        b[r.pick(['csr', 'ott', 'notAfter', 'notBefore', 'templateData', 'constructor'])] = junk(r);
        body = r.chance(0.1) ? junk(r) : b;
        break;
      }
      case 'json-text': {
        const text = JSON.stringify({ csr: base.csrPem, ott: await ott(claims) });
        raw = r.chance(0.2) ? `{"__proto__":{"x":1},"csr":${JSON.stringify(base.csrPem)}}` : mutateString(text, r);
        break;
      }
      case 'respell':
      case 'respell-renew': {
        const why = kind === 'respell' ? await signRespelled(t, base, r) : await renewRespelled(t, base, r);
        const key = `${kind} ${why ? 'VIOLATION' : 'once'}`;
        report.outcomes[key] = (report.outcomes[key] ?? 0) + 1;
        if (why) report.failures.push(`case ${i} ${kind}: ${why}`);
        return;
      }
      case 'spki': {
        const framing = r.int(0, odd.length + 1);
        const der = Buffer.concat([base.csrDer, Buffer.from(r.pick([[0], [0, 0], [0x30, 0], [0x05, 0x00]]))]);
        const csr = framing < odd.length ? odd[framing]!.csrPem
          : framing === odd.length ? toPem(der, 'CERTIFICATE REQUEST')
          : r.chance(0.5) ? `${r.pick(['x', 'garbage\n', '-----', '\u0000'])}${base.csrPem}` : `${base.csrPem}${r.pick(['x', 'trailing text', '-----END'])}`;
        if (framing < odd.length) sent = { ...claims, sub: ODD_CN, sans: [ODD_CN] };
        body = { csr, ott: await ott(sent) };
        break;
      }
      case 'names': {
        const bad = badName(base.name, r);
        sent = r.chance(0.7) ? { ...claims, sans: r.chance(0.5) ? [base.name, bad] : [bad] } : { ...claims, sub: r.chance(0.5) ? controlName(base.name, r) : `${base.name}${'x'.repeat(r.int(60, 5000))}`, sans: [base.name] };
        body = { csr: base.csrPem, ott: await ott(sent) };
        break;
      }
      case 'renew':
        path = '/1.0/renew';
        // Only what an HTTP header can carry: the client library refuses the rest before sending.
        headers = { authorization: `Bearer ${mutateString(await ott({ ...claims, aud: `${t.ca.url}/1.0/renew` }), r).replace(/[^\x20-\x7e]/g, '?')}` };
        raw = r.chance(0.5) ? '' : String(junk(r));
        break;
      default: {
        path = '/1.0/revoke';
        const serial = r.pick([junk(r), String(r.int(1, 1e9)), `0x${randomBytes(20).toString('hex')}`, '-1', '1e400', randomBytes(40).toString('hex')]);
        body = { serial, reasonCode: r.pick([junk(r), 0, 1, 7, 11, -1, 2 ** 31]), ott: r.chance(0.5) ? mutateString(await ott({ aud: `${t.ca.url}/1.0/revoke`, sub: String(serial) }), r) : junk(r) };
      }
    }
    let res;
    try {
      res = await request(t.ca, 'POST', path, body, { raw: raw ?? (body === undefined ? '' : undefined), headers });
    } catch (e) {
      report.failures.push(`case ${i} ${kind}: no answer (${(e as Error).message})`);
      return;
    }
    const key = `${kind} ${res.status}`;
    report.outcomes[key] = (report.outcomes[key] ?? 0) + 1;
    const shown = () => JSON.stringify(body ?? raw).slice(0, 300);
    if (res.status >= 500) report.failures.push(`case ${i} ${kind}: ${res.status} ${res.body.slice(0, 200)} for ${JSON.stringify(body ?? raw)}`);
    else if (res.status >= 400 && (res.json?.status !== res.status || typeof res.json?.message !== 'string')) report.failures.push(`case ${i} ${kind}: error shape ${res.body.slice(0, 200)}`);
    else if (res.status === 201 && (kind === 'spki' || kind === 'names')) {
      report.issued++;
      report.failures.push(`case ${i} ${kind}: issued (must be refused) for ${JSON.stringify(sent).slice(0, 300)}`);
    } else if (res.status === 201) {
      report.issued++;
      const why = offPolicy(res.json?.crt, sent);
      if (why) report.failures.push(`case ${i} ${kind}: issued off policy (${why}) for ${shown()}`);
    }
  };
  const worker = async () => {
    while (next < cases) {
      const i = next++;
      await one(i);
      if (onProgress && i % 1000 === 0) onProgress(i);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return report;
}

/** Why a certificate names something its token did not allow, or null when it does not. */
function offPolicy(crtPem: unknown, claims: Record<string, unknown>): string | null {
  if (typeof crtPem !== 'string') return 'no certificate in a 201';
  const cert = new x509.X509Certificate(crtPem);
  const allowed = new Set<string>([String(claims.sub), ...(Array.isArray(claims.sans) ? claims.sans.map(String) : [])]);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const names = [...cert.subjectName.getField('CN'), ...(san ? san.names.items.map((n) => n.value) : [])];
  const stray = names.filter((n) => !allowed.has(n));
  if (new X509Certificate(crtPem).ca) return 'a CA certificate';
  const ruled = [commonNameProblem(cert.subjectName.getField('CN')[0] ?? ''), ...(san ? san.names.items : []).map((n) => sanProblem(classifySan(n.value)))].find((p) => p);
  if (ruled) return `a name the rules refuse: ${ruled}`;
  return stray.length ? `names ${JSON.stringify(stray)} not in ${JSON.stringify([...allowed])}` : null;
}

/** A sign token spent, then sent again re-spelled: the second must not issue. Returns why it did, or null. */
async function signRespelled(t: FuzzTarget, base: Base, r: Rand): Promise<string | null> {
  // Without a jti the signed part is the token's identity; the nonce keeps two cases in one second apart.
  const token = await mintToken(t.admin, { aud: `${t.ca.url}/1.0/sign`, sub: base.name, sans: [base.name], ...(r.chance(0.5) ? { jti: undefined, nonce: randomBytes(16).toString('hex') } : {}) });
  const first = await request(t.ca, 'POST', '/1.0/sign', { csr: base.csrPem, ott: token });
  if (first.status !== 201) return `the canonical token answered ${first.status}`;
  const again = await request(t.ca, 'POST', '/1.0/sign', { csr: base.csrPem, ott: respelled(token, r) });
  return again.status === 401 ? null : `a spent sign token re-spelled answered ${again.status}`;
}

/**
 * Issues a certificate for `base`, then spends one jti-less renew token for it in several
 * spellings (the canonical one, re-spelled signatures, s -> n-s): exactly one renewal may come of
 * it. Returns why not, or null.
 */
async function renewRespelled(t: FuzzTarget, base: Base, r: Rand): Promise<string | null> {
  const issued = await request(t.ca, 'POST', '/1.0/sign', { csr: base.csrPem, ott: await mintToken(t.admin, { aud: `${t.ca.url}/1.0/sign`, sub: base.name, sans: [base.name] }) });
  if (issued.status !== 201) return `setup sign answered ${issued.status}`;
  const now = Math.floor(Date.now() / 1000);
  const token = await new jose.CompactSign(new TextEncoder().encode(JSON.stringify({
    aud: `${t.ca.url}/1.0/renew`, iss: 'step-ca-client/1.0', sub: base.name, iat: now, nbf: now, exp: now + 300,
  }))).setProtectedHeader({
    alg: 'ES256', typ: 'JWT', x5cInsecure: (issued.json.certChain as string[]).map((p) => new X509Certificate(p).raw.toString('base64')),
  }).sign(base.keys.privateKey);
  const spellings = [...new Set([respelled(token, r), respelled(token, r), respelled(token, r), token])];
  const statuses: number[] = [];
  for (const s of spellings) {
    const res = await request(t.ca, 'POST', '/1.0/renew', undefined, { headers: { authorization: `Bearer ${s}` } });
    statuses.push(res.status);
  }
  const renewed = statuses.filter((s) => s === 201).length;
  if (renewed !== 1 || statuses.some((s) => s !== 201 && s !== 401)) return `${spellings.length} spellings of one renew token answered ${statuses.join(' ')}`;
  return null;
}
