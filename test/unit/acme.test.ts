// ACME pieces on their own: JWS structure rules, identifier normalisation, the bounded queue,
// the rate windows, and the validator against real local servers (sizes, timeouts, redirects).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import * as jose from 'jose';
import { generateKeyPairSync } from 'node:crypto';
import { parseJws, verifyJws } from '../../src/acme/jws.ts';
import { normaliseIdentifiers } from '../../src/acme/identifiers.ts';
import { Bounded, Validator } from '../../src/acme/validator.ts';
import { Windows } from '../../src/acme/rate.ts';
import { AcmeProblem } from '../../src/acme/problem.ts';

const isProblem = (type: string) => (e: unknown) => e instanceof AcmeProblem && e.type === type;

async function signed(header: Record<string, unknown>, payload = '{}'): Promise<{ jws: jose.FlattenedJWS; jwk: jose.JWK }> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = await jose.exportJWK(publicKey);
  const jws = await new jose.FlattenedSign(new TextEncoder().encode(payload)).setProtectedHeader({ alg: 'ES256', nonce: 'n', url: 'https://ca/x', jwk, ...header } as jose.JWSHeaderParameters).sign(privateKey);
  return { jws, jwk };
}

test('JWS: structure, algorithms and key rules', async () => {
  const { jws, jwk } = await signed({});
  const p = parseJws(jws);
  assert.equal(new TextDecoder().decode(await verifyJws(p, jwk)), '{}');
  assert.throws(() => parseJws({ ...jws, header: { kid: 'x' } }), isProblem('malformed'));
  assert.throws(() => parseJws({ ...jws, signatures: [] }), isProblem('malformed'));
  assert.throws(() => parseJws([jws]), isProblem('malformed'));
  const noneAlg = { ...jws, protected: Buffer.from(JSON.stringify({ alg: 'none', nonce: 'n', url: 'u', jwk })).toString('base64url') };
  assert.throws(() => parseJws(noneAlg), isProblem('badSignatureAlgorithm'));
  const hs = { ...jws, protected: Buffer.from(JSON.stringify({ alg: 'HS256', nonce: 'n', url: 'u', jwk })).toString('base64url') };
  assert.throws(() => parseJws(hs), isProblem('badSignatureAlgorithm'));
  const both = await signed({ kid: 'https://ca/acct/1' });
  assert.throws(() => parseJws(both.jws), isProblem('malformed'));
  const noNonce = { ...jws, protected: Buffer.from(JSON.stringify({ alg: 'ES256', url: 'u', jwk })).toString('base64url') };
  assert.throws(() => parseJws(noNonce), isProblem('badNonce'));
  // A private key sent as the account key is refused, and a signature over other bytes fails.
  await assert.rejects(verifyJws(parseJws((await signed({})).jws), { ...jwk, d: 'AAAA' }), isProblem('badPublicKey'));
  await assert.rejects(verifyJws(parseJws({ ...jws, payload: Buffer.from('{"a":1}').toString('base64url') }), jwk), isProblem('malformed'));
});

test('identifiers: normalised, deduplicated, syntax and wildcard rules', () => {
  assert.deepEqual(normaliseIdentifiers([{ type: 'dns', value: 'WWW.Example.TEST.' }, { type: 'dns', value: 'www.example.test' }, { type: 'ip', value: '::ffff:127.0.0.1' }], true),
    [{ type: 'dns', value: 'www.example.test' }, { type: 'ip', value: '127.0.0.1' }]);
  assert.deepEqual(normaliseIdentifiers([{ type: 'dns', value: '*.example.test' }], true), [{ type: 'dns', value: '*.example.test' }]);
  assert.throws(() => normaliseIdentifiers([{ type: 'dns', value: '*.example.test' }], false), isProblem('rejectedIdentifier'));
  for (const bad of ['a..b', '-a.test', 'a-.test', 'a.*.test', 'x'.repeat(64) + '.test', 'under_score.test', '127.0.0.1']) {
    assert.throws(() => normaliseIdentifiers([{ type: 'dns', value: bad }], true), isProblem('rejectedIdentifier'), bad);
  }
  assert.throws(() => normaliseIdentifiers([{ type: 'ip', value: '300.1.1.1' }], true), isProblem('rejectedIdentifier'));
  assert.throws(() => normaliseIdentifiers(Array.from({ length: 101 }, (_, i) => ({ type: 'dns', value: `n${i}.test` })), true), isProblem('rejectedIdentifier'));
  assert.throws(() => normaliseIdentifiers([], true), isProblem('malformed'));
});

test('Bounded never runs more than its limit at once, and runs everything', async () => {
  const q = new Bounded(3);
  let running = 0;
  let peak = 0;
  let done = 0;
  await Promise.all(Array.from({ length: 40 }, () => q.run(async () => {
    peak = Math.max(peak, ++running);
    await new Promise((r) => setTimeout(r, Math.random() * 5));
    running--;
    done++;
  })));
  assert.equal(peak, 3);
  assert.equal(done, 40);
});

test('Windows: the limit per key, then rateLimited with a Retry-After', () => {
  let now = 0;
  const w = new Windows(2, 10_000, 'orders', () => now);
  w.take('a');
  w.take('a');
  w.take('b');
  assert.throws(() => w.take('a'), (e: unknown) => e instanceof AcmeProblem && e.type === 'rateLimited' && e.status === 429 && e.extra.retryAfter === 10);
  now = 10_000;
  w.take('a');
});

const sockets = new Set<Socket>();
let server: http.Server;
after(() => {
  for (const s of sockets) s.destroy();
  server?.close();
});

test('validator http-01: body size, silence, status and redirect limits', async () => {
  server = http.createServer((req, res) => {
    const t = req.url!.split('/').pop()!;
    if (t === 'ok') return void res.end('ok.thumb\n');
    if (t === 'big') return void res.end('x'.repeat(100_000));
    if (t === 'wrong') return void res.end('nope');
    if (t === 'hang') return;
    if (t === 'loop') return void res.writeHead(302, { location: '/.well-known/acme-challenge/loop' }).end();
    if (t === 'away') return void res.writeHead(302, { location: 'http://10.0.0.1/' }).end();
    res.writeHead(404).end();
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const v = new Validator({ timeoutMs: 1500, maxResponseBytes: 1024, maxRedirects: 2, httpPort: port, tlsPort: 1 });
  const ip = { type: 'ip' as const, value: '127.0.0.1' };
  await v.validate('http-01', ip, 'ok', 'ok.thumb');
  await assert.rejects(v.validate('http-01', ip, 'big', 'x'), (e: unknown) => e instanceof AcmeProblem && /larger than 1024/.test(e.detail));
  await assert.rejects(v.validate('http-01', ip, 'wrong', 'ok.thumb'), isProblem('incorrectResponse'));
  await assert.rejects(v.validate('http-01', ip, 'missing', 'x'), isProblem('unauthorized'));
  await assert.rejects(v.validate('http-01', ip, 'hang', 'x'), (e: unknown) => e instanceof AcmeProblem && e.type === 'connection' && /no answer/.test(e.detail));
  await assert.rejects(v.validate('http-01', ip, 'loop', 'x'), (e: unknown) => e instanceof AcmeProblem && /more than 2 redirects/.test(e.detail));
  await assert.rejects(v.validate('http-01', ip, 'away', 'x'), (e: unknown) => e instanceof AcmeProblem && /refused/.test(e.detail));
  await assert.rejects(v.validate('tls-alpn-01', ip, 't', 'x'), isProblem('connection'));
});

test('tls-alpn-01 names an IP identifier by its reverse-DNS name (RFC 8738)', async () => {
  const { reverseName } = await import('../../src/acme/validator.ts');
  assert.equal(reverseName('192.0.2.5'), '5.2.0.192.in-addr.arpa');
  assert.equal(reverseName('2001:db8::1'), `${'1'.padEnd(2, '.')}${'0.'.repeat(23)}8.b.d.0.1.0.0.2.ip6.arpa`);
  assert.equal(reverseName('::1'), `1.${'0.'.repeat(31)}ip6.arpa`);
  assert.equal(reverseName('fe80:1:2:3:4:5:6:7'), '7.0.0.0.6.0.0.0.5.0.0.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.8.e.f.ip6.arpa');
});
