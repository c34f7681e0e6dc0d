// The differential test that licenses src/provisioners/jws-fast.ts: whenever the fast check says
// "verified", jose.compactVerify with the provisioner's algorithm must verify the same token; and
// the tokens a step client sends must take the fast path. Seeded; JWS_FAST_SEED overrides.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import * as jose from 'jose';
import { fastJwsKey, verifiedFast, type FastJwsKey } from '../../src/provisioners/jws-fast.ts';
import { Rand } from '../helpers/random.ts';

const SEED = Number(process.env.JWS_FAST_SEED ?? 424242);

interface Prov { alg: string; priv: KeyObject; other: KeyObject; joseKey: jose.CryptoKey; fast: FastJwsKey }
const provs: Prov[] = [];

function pair(alg: string): { privateKey: KeyObject; publicKey: KeyObject } {
  if (alg.startsWith('ES')) return generateKeyPairSync('ec', { namedCurve: { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' }[alg]! });
  if (alg === 'EdDSA') return generateKeyPairSync('ed25519');
  return generateKeyPairSync('rsa', { modulusLength: 2048 });
}

before(async () => {
  for (const alg of ['ES256', 'ES384', 'ES512', 'EdDSA', 'RS256']) {
    const { privateKey, publicKey } = pair(alg);
    const jwk = { ...publicKey.export({ format: 'jwk' }), alg } as jose.JWK;
    const fast = fastJwsKey(jwk, alg);
    assert.ok(fast, `${alg} has a fast key`);
    provs.push({ alg, priv: privateKey, other: pair(alg).privateKey, joseKey: await jose.importJWK(jwk, alg) as jose.CryptoKey, fast });
  }
});

const claims = (r: Rand) => ({ sub: `host-${r.int(0, 1e6)}.example.com`, iss: 'admin', aud: 'https://ca/1.0/sign', exp: 2e9, jti: r.hex(8) });

async function jws(p: Prov, header: Record<string, unknown>, payload: unknown, key: KeyObject = p.priv): Promise<string> {
  return new jose.CompactSign(new TextEncoder().encode(JSON.stringify(payload))).setProtectedHeader(header as jose.CompactJWSHeaderParameters).sign(key);
}

async function joseVerifies(p: Prov, token: string): Promise<boolean> {
  return jose.compactVerify(token, p.joseKey, { algorithms: [p.alg] }).then(() => true, () => false);
}

test('step-shaped tokens ({alg, kid, typ}) take the fast path for every algorithm', async () => {
  const r = new Rand(SEED);
  for (const p of provs) {
    for (const header of [{ alg: p.alg, kid: 'k', typ: 'JWT' }, { alg: p.alg, kid: 'k' }, { alg: p.alg }]) {
      const token = await jws(p, header, claims(r));
      assert.equal(await verifiedFast(token, p.fast), true, `${p.alg} ${JSON.stringify(header)}`);
      assert.equal(await joseVerifies(p, token), true);
    }
  }
});

/**
 * A compact JWS built by hand, signed over `header.payload` as base64url: jose refuses to sign
 * some of the headers below (an unknown crit), so it cannot build them for us.
 */
function handJws(header: Record<string, unknown>, payload: unknown, key: KeyObject): { token: string; signatureValid: boolean } {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${b64(header)}.${b64(payload)}`;
  const hash = { ES256: 'sha256', ES384: 'sha384', ES512: 'sha512' }[header.alg as string]!;
  const signature = sign(hash, Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  const signatureValid = verify(hash, Buffer.from(input), { key: createPublicKey(key), dsaEncoding: 'ieee-p1363' }, signature);
  return { token: `${input}.${signature.toString('base64url')}`, signatureValid };
}

test('headers outside the plain shape are left to jose (crit, b64, jwk, another alg)', async () => {
  const r = new Rand(SEED + 1);
  const p = provs[0]!;
  const cases: [Record<string, unknown>, KeyObject][] = [
    [{ alg: p.alg, kid: 'k', crit: ['exp'], exp: 1 }, p.priv],
    [{ alg: p.alg, kid: 'k', b64: false, crit: ['b64'] }, p.priv],
    [{ alg: p.alg, jwk: { kty: 'EC' } }, p.priv],
    [{ alg: 'ES384', kid: 'k' }, provs[1]!.priv],
  ];
  for (const [header, key] of cases) {
    const { token, signatureValid } = handJws(header, claims(r), key);
    // Signed correctly over the usual input: only the header can make the fast path say no.
    assert.ok(signatureValid, JSON.stringify(header));
    assert.equal(await verifiedFast(token, p.fast), false, JSON.stringify(header));
  }
  // The same hand-built shape with the plain header does take the fast path (the builder is sound).
  assert.equal(await verifiedFast(handJws({ alg: p.alg, kid: 'k', typ: 'JWT' }, claims(r), p.priv).token, p.fast), true);
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  assert.equal(await verifiedFast(`${b64({ alg: 'none' })}.${b64(claims(r))}.`, p.fast), false);
});

test('seeded mutations: fast "verified" only where jose verifies too', async () => {
  const r = new Rand(SEED + 2);
  let fastYes = 0;
  let cases = 0;
  for (let i = 0; i < 600; i++) {
    const p = r.pick(provs);
    const token = await jws(p, { alg: p.alg, kid: 'k', typ: 'JWT' }, claims(r), r.chance(0.1) ? p.other : p.priv);
    for (const m of mutants(token, r)) {
      cases++;
      const fast = await verifiedFast(m, p.fast);
      if (fast) {
        fastYes++;
        assert.equal(await joseVerifies(p, m), true, `fast accepted what jose refuses: ${m}`);
      }
    }
  }
  assert.ok(fastYes > 100, `the fast path accepted only ${fastYes} of ${cases}`);
});

function mutants(token: string, r: Rand): string[] {
  const [h, p, s] = token.split('.') as [string, string, string];
  const flip = (seg: string) => {
    const at = r.int(0, seg.length - 1);
    const c = r.pick([...'AQgw_-+/=. 0aZ9']);
    return seg.slice(0, at) + c + seg.slice(at + 1);
  };
  return [
    token,
    `${flip(h)}.${p}.${s}`,
    `${h}.${flip(p)}.${s}`,
    `${h}.${p}.${flip(s)}`,
    `${h}.${p}.${s}=`,
    `${h}.${p}.${s.slice(0, -1)}${r.pick([...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'])}`,
    `${h}.${p}.${s}.`,
    `${h}..${s}`,
    ` ${token}`,
    `${h}.${p}.${s.slice(0, r.int(0, s.length - 1))}`,
  ];
}
