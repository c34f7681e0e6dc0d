// One-time token verification (api.md §2.1–2.2 and "Where we deliberately differ" 2–3) with a
// real JWK provisioner: key made and encrypted as `init` does, decrypted with its password.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as jose from 'jose';
import { CaError } from '../../src/errors.ts';
import { createProvisionerKey, decryptProvisionerKey } from '../../src/pki/provisioner-key.ts';
import { loadJwkProvisioner, signSans, verifyToken, type JwkProvisioner, type TokenClaims, type TokenContext } from '../../src/provisioners/jwk.ts';
import { resolveClaims } from '../../src/authority/claims.ts';
import type { ProvisionerConfig } from '../../src/config/schema.ts';

const PASSWORD = 'correct horse battery staple';
const NOW = new Date('2030-06-01T12:00:00.000Z');
const T = NOW.getTime() / 1000;
const HOUR_MS = 3600_000;
const AUD = 'https://ca.example.com:9000/1.0/sign';

let provisioner: JwkProvisioner;
let publicJwk: jose.JWK;
let privateKey: jose.CryptoKey;
let kid: string;

before(async () => {
  const pair = await createProvisionerKey(PASSWORD);
  publicJwk = pair.publicJwk;
  kid = publicJwk.kid!;
  const config: ProvisionerConfig = { type: 'JWK', name: 'admin', key: publicJwk as ProvisionerConfig['key'], encryptedKey: pair.encryptedKey };
  provisioner = await loadJwkProvisioner(config, resolveClaims());
  const priv = await decryptProvisionerKey(pair.encryptedKey, PASSWORD);
  privateKey = (await jose.importJWK(priv, 'ES256')) as jose.CryptoKey;
});

function ctx(over: Partial<TokenContext> = {}): TokenContext {
  return {
    op: 'sign',
    dnsNames: ['ca.example.com', '127.0.0.1'],
    maxLifetimeMs: HOUR_MS,
    now: NOW,
    find: (iss, k) => (iss === 'admin' && k === kid ? provisioner : undefined),
    ...over,
  };
}

/** A token like the step CLI's, with fields overridden or (value undefined) removed. */
function claims(over: Record<string, unknown> = {}): Record<string, unknown> {
  const c: Record<string, unknown> = {
    aud: AUD, iss: 'admin', sub: 'test.example.com', sans: ['test.example.com'],
    jti: randomBytes(32).toString('hex'), iat: T, nbf: T, exp: T + 300,
    sha: '1b4a793e8f31f44c485fe1fbc6e1909adbba784361b4ed32fc2d68a52a1e638d',
    ...over,
  };
  for (const k of Object.keys(c)) if (c[k] === undefined) delete c[k];
  return c;
}

async function sign(payload: Record<string, unknown>, header: Record<string, unknown> = {}, key: jose.CryptoKey | Uint8Array = privateKey): Promise<string> {
  return new jose.CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT', ...header } as jose.CompactJWSHeaderParameters)
    .sign(key);
}

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

async function refused(token: string, c: TokenContext = ctx(), detail?: RegExp): Promise<void> {
  await assert.rejects(verifyToken(token, c), (e: unknown) => {
    assert.ok(e instanceof CaError, `expected a CaError, got ${String(e)}`);
    assert.equal(e.code, 'unauthorized');
    assert.equal(e.status, 401);
    // token problems are never detailed to the client
    assert.equal(e.publicMessage, 'The request lacked necessary authorization to be completed. Please see the certificate authority logs for more info.');
    if (detail) assert.match(e.detail, detail);
    return true;
  });
}

test('a step-style token verifies; replayKey is the jti', async () => {
  const c = claims();
  const v = await verifyToken(await sign(c), ctx());
  assert.equal(v.provisioner, provisioner);
  assert.equal(v.replayKey, c.jti);
  assert.equal(v.claims.sub, 'test.example.com');
  assert.deepEqual(v.claims.sans, ['test.example.com']);
  assert.equal(v.expiresAt.toISOString(), new Date((T + 300) * 1000).toISOString());
});

test('the token works without typ and with an array aud', async () => {
  const t = new jose.CompactSign(new TextEncoder().encode(JSON.stringify(claims({ aud: ['https://x.example/1.0/sign', 'https://127.0.0.1/sign'] }))))
    .setProtectedHeader({ alg: 'ES256', kid });
  const v = await verifyToken(await t.sign(privateKey), ctx());
  assert.equal(v.provisioner.name, 'admin');
});

const signedPart = (token: string) => createHash('sha256').update(token.slice(0, token.lastIndexOf('.'))).digest('hex');

test('no jti: replayKey is the lowercase hex SHA-256 of the signed part (header.payload)', async () => {
  const token = await sign(claims({ jti: undefined }));
  const v = await verifyToken(token, ctx());
  assert.equal(v.replayKey, signedPart(token));
  assert.match(v.replayKey, /^[0-9a-f]{64}$/);
  const empty = await sign(claims({ jti: '' }));
  assert.equal((await verifyToken(empty, ctx())).replayKey, signedPart(empty));
});

test('no jti: the other valid form of an ECDSA signature (s -> n-s) is the same token for replay', async () => {
  const token = await sign(claims({ jti: undefined }));
  const [h, p, s] = token.split('.') as [string, string, string];
  const sig = Buffer.from(s, 'base64url');
  // P-256's group order: (r, s) and (r, n-s) both verify.
  const n = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
  const flipped = (n - BigInt(`0x${sig.subarray(32).toString('hex')}`)).toString(16).padStart(64, '0');
  const twin = `${h}.${p}.${Buffer.concat([sig.subarray(0, 32), Buffer.from(flipped, 'hex')]).toString('base64url')}`;
  assert.notEqual(twin, token);
  const [a, b] = [await verifyToken(token, ctx()), await verifyToken(twin, ctx())];
  assert.equal(a.replayKey, b.replayKey);
});

test('alg none is refused', async () => {
  const token = `${b64({ alg: 'none', kid, typ: 'JWT' })}.${b64(claims())}.`;
  await refused(token);
});

test('HS256 signed with the public JWK JSON as the secret is refused', async () => {
  const secret = new TextEncoder().encode(JSON.stringify(publicJwk));
  await refused(await sign(claims(), { alg: 'HS256' }, secret), ctx(), /signature/);
});

test('the right kid signed by another key is refused', async () => {
  const other = await jose.generateKeyPair('ES256');
  await refused(await sign(claims(), {}, other.privateKey), ctx(), /signature/);
});

test('a tampered payload is refused', async () => {
  const [h, , s] = (await sign(claims())).split('.');
  await refused(`${h}.${b64(claims({ sub: 'evil.example.com' }))}.${s}`, ctx(), /signature/);
});

test('wrong iss or kid is refused (lookup is exact)', async () => {
  await refused(await sign(claims({ iss: 'someone-else' })), ctx(), /provisioner not found/);
  await refused(await sign(claims({ iss: 'Admin' })), ctx(), /provisioner not found/);
  await refused(await sign(claims(), { kid: 'not-the-kid' }), ctx(), /provisioner not found/);
  await refused(await sign(claims(), { kid: undefined }), ctx(), /provisioner not found/);
  await refused(await sign(claims({ iss: undefined })), ctx(), /provisioner not found/);
});

test('a wrong audience is refused', async () => {
  await refused(await sign(claims({ aud: 'https://ca.example.com/1.0/revoke' })), ctx(), /audience/);
  await refused(await sign(claims({ aud: 'http://ca.example.com/1.0/sign' })), ctx(), /audience/);
  await refused(await sign(claims({ aud: undefined })), ctx(), /audience/);
  // the same audience is fine for the operation it names
  const v = await verifyToken(await sign(claims({ aud: 'https://ca.example.com/1.0/revoke', sub: '1234' })), ctx({ op: 'revoke' }));
  assert.equal(v.claims.sub, '1234');
});

test('exp: 60 s leeway', async () => {
  await verifyToken(await sign(claims({ iat: T - 330, nbf: T - 330, exp: T - 30 })), ctx());
  await refused(await sign(claims({ iat: T - 420, nbf: T - 420, exp: T - 120 })), ctx(), /exp/);
});

test('nbf: 60 s leeway', async () => {
  await verifyToken(await sign(claims({ iat: T, nbf: T + 30, exp: T + 330 })), ctx());
  await refused(await sign(claims({ iat: T, nbf: T + 120, exp: T + 420 })), ctx(), /nbf/);
});

test('iat more than 60 s in the future is refused', async () => {
  await verifyToken(await sign(claims({ iat: T + 30, nbf: T, exp: T + 300 })), ctx());
  await refused(await sign(claims({ iat: T + 120, nbf: T, exp: T + 300 })), ctx(), /iat/);
});

test('an old iat alone is no reason to refuse (no "issued before the CA started" rule)', async () => {
  const v = await verifyToken(await sign(claims({ iat: T - 86_400, nbf: T, exp: T + 300 })), ctx());
  assert.equal(v.claims.iat, T - 86_400);
});

test('a token without exp is refused', async () => {
  await refused(await sign(claims({ exp: undefined })), ctx(), /exp/);
});

test('validity window exp − nbf is bounded by maxLifetimeMs', async () => {
  const token = await sign(claims({ iat: T, nbf: T, exp: T + 7200 }));
  await refused(token, ctx(), /lifetime/);
  const v = await verifyToken(token, ctx({ maxLifetimeMs: 3 * HOUR_MS }));
  assert.equal(v.claims.exp, T + 7200);
  // exactly the maximum is fine
  await verifyToken(await sign(claims({ iat: T, nbf: T, exp: T + 3600 })), ctx());
});

test('without nbf the window is measured from iat', async () => {
  await refused(await sign(claims({ nbf: undefined, iat: T - 3000, exp: T + 1000 })), ctx(), /lifetime/);
  await verifyToken(await sign(claims({ nbf: undefined, iat: T - 600, exp: T + 1000 })), ctx());
});

test('with neither nbf nor iat the token is refused', async () => {
  await refused(await sign(claims({ nbf: undefined, iat: undefined, exp: T + 300 })), ctx());
});

test('time claims of the wrong type are refused', async () => {
  await refused(await sign(claims({ exp: String(T + 300) })), ctx(), /exp/);
  await refused(await sign(claims({ nbf: String(T) })), ctx(), /nbf/);
  await refused(await sign(claims({ iat: null })), ctx());
});

test('an empty or missing sub is refused', async () => {
  await refused(await sign(claims({ sub: '' })), ctx(), /sub/);
  await refused(await sign(claims({ sub: undefined })), ctx(), /sub/);
  await refused(await sign(claims({ sub: 42 })), ctx(), /sub/);
});

test('a JWE (five parts) is refused', async () => {
  const jwe = await new jose.CompactEncrypt(new TextEncoder().encode(JSON.stringify(claims())))
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid })
    .encrypt(randomBytes(32));
  assert.equal(jwe.split('.').length, 5);
  await refused(jwe);
});

test('garbage is refused', async () => {
  await refused('');
  await refused('not.a.token');
  await refused('abc');
});

test('signSans: missing, null or empty sans become [sub]', () => {
  const base = { iss: 'admin', sub: 'svc.example.com', aud: AUD, exp: T + 300 } as TokenClaims;
  assert.deepEqual(signSans({ ...base }), ['svc.example.com']);
  assert.deepEqual(signSans({ ...base, sans: null }), ['svc.example.com']);
  assert.deepEqual(signSans({ ...base, sans: [] }), ['svc.example.com']);
  assert.deepEqual(signSans({ ...base, sans: ['a.example.com', '10.0.0.1'] }), ['a.example.com', '10.0.0.1']);
});

test('signSans: anything but a list of strings is refused', () => {
  const base = { iss: 'admin', sub: 'svc.example.com', aud: AUD, exp: T + 300 } as TokenClaims;
  for (const sans of [['a.example.com', 1], [null], 'a.example.com', { 0: 'a' }, [['a']], 7]) {
    assert.throws(() => signSans({ ...base, sans }), (e: unknown) => e instanceof CaError && e.code === 'unauthorized', JSON.stringify(sans));
  }
});
