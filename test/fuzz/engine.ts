// A seeded, bounded fuzzer for /sign, /renew and /revoke (issue 6). Every case is derived from a
// valid request and broken one way: bit flips and truncation of tokens and CSRs, DER length
// tricks, JSON type confusion, unicode and oversized names. The contract checked on every
// answer: never a 5xx, always step-ca's error shape on a refusal, and no certificate issued for a
// name its token did not allow. Loopback only; the same seed gives the same cases.
import { X509Certificate, randomBytes } from 'node:crypto';
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

interface Base { name: string; csrPem: string; csrDer: Buffer }

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
    return { name, csrPem: csr.toString('pem'), csrDer: Buffer.from(csr.rawData) };
  }));
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
  let next = 0;
  const aud = `${t.ca.url}/1.0/sign`;
  const one = async (i: number): Promise<void> => {
    // A generator per case: case i is the same request whatever ran concurrently with it.
    const r = new Rand((Math.imul(seed, 0x9e3779b1) ^ Math.imul(i + 1, 0x85ebca6b)) >>> 0);
    const base = r.pick(t.bases);
    const claims: Record<string, unknown> = { aud, sub: base.name, sans: [base.name] };
    const kind = r.pick(['valid', 'token-bits', 'claims', 'csr-der', 'csr-pem', 'json-types', 'json-text', 'renew', 'revoke']);
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
    else if (res.status === 201) {
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
  return stray.length ? `names ${JSON.stringify(stray)} not in ${JSON.stringify([...allowed])}` : null;
}
