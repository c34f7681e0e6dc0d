// RFC 8555 on the wire, with a small jose client (test/helpers/acme-client.ts) that can also
// misbehave: nonces, account keys of every accepted algorithm, key rollover, deactivation,
// orders list, revokeCert by account and by certificate key, IP identifiers, wildcards, and the
// adversarial cases (replayed nonce, wrong url/kid, key change onto a used key, CSR for other
// names, another account's challenge, 100 concurrent newOrders, oversized JWS, a validation
// target that never answers, redirects elsewhere).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { Socket } from 'node:net';
import { X509Certificate } from 'node:crypto';
import * as jose from 'jose';
import { cli, request, type HttpResult, type TestCa } from '../helpers/ca.ts';
import { toPem } from '../../src/pki/pem.ts';
import { freePort, missingBinary, startAcmeCa, startChallTestSrv, type ChallTestSrv } from '../helpers/acme.ts';
import { AcmeTestClient, JOSE, accountKey, csrFor } from '../helpers/acme-client.ts';

const skip = missingBinary('pebble-challtestsrv');
let dns: ChallTestSrv;
let ca: TestCa & { directory: string };
let responder: http.Server;
const sockets = new Set<Socket>();
/** token → what the responder does: the body to send, 'hang', or a redirect target. */
const answers = new Map<string, string | { hang: true } | { redirect: string }>();
const ORDER_LIMIT = 20;
let responderPort = 0;
const httpPortOf = () => responderPort;

before(async () => {
  if (skip) return;
  dns = await startChallTestSrv();
  const httpPort = await freePort();
  responderPort = httpPort;
  responder = http.createServer((req, res) => {
    const token = req.url?.split('/').pop() ?? '';
    const a = answers.get(token);
    if (a === undefined) return void res.writeHead(404).end();
    if (typeof a === 'string') return void res.end(a);
    if ('hang' in a) return; // never answers
    res.writeHead(302, { location: a.redirect }).end();
  });
  responder.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((r) => responder.listen(httpPort, '127.0.0.1', r));
  ca = await startAcmeCa({
    dnsPort: dns.dnsPort, httpPort,
    acme: {
      validation: { resolver: `127.0.0.1:${dns.dnsPort}`, httpPort, timeout: '2s' },
      rateLimit: { ordersPerAccount: { max: ORDER_LIMIT, window: '1h' } },
    },
    configure: (cfg) => {
      cfg.authority.provisioners.push({ type: 'ACME', name: 'http-only', challenges: ['http-01'] }, { type: 'ACME', name: 'with-eab', requireEAB: true },
        { type: 'ACME', name: 'policed', challenges: ['http-01'], policy: { x509: { deny: { dns: ['*.forbidden.stepstone.test'] } } } });
    },
  });
});

after(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => (responder ? responder.close(r) : r(undefined)));
  await ca?.cleanup();
  await dns?.stop();
});

const client = (alg: 'ES256' | 'ES384' | 'RS256' | 'EdDSA' = 'ES256', directory = ca.directory) => AcmeTestClient.create(ca.rootPem, directory, alg);
const problem = (r: HttpResult, type: string, status: number) => {
  assert.equal(r.status, status, r.body);
  assert.match(String(r.headers['content-type']), /^application\/problem\+json/);
  assert.equal(r.json.type, `urn:ietf:params:acme:error:${type}`, r.body);
  assert.ok(r.headers['replay-nonce'], 'every error carries a fresh nonce');
};

/** newOrder → http-01 answered → ready. Returns the order URL and body. */
async function readyOrder(c: AcmeTestClient, identifiers: { type: string; value: string }[]): Promise<{ url: string; order: any }> {
  const o = await c.newOrder(identifiers);
  assert.equal(o.status, 201, o.body);
  for (const authzUrl of o.json.authorizations) {
    const z = await c.post(authzUrl, '');
    const ch = z.json.challenges.find((x: any) => x.type === 'http-01');
    answers.set(ch.token, await c.keyAuthorization(ch.token));
    const started = await c.post(ch.url, {});
    assert.equal(started.status, 200, started.body);
    assert.match(String(started.headers.link), /rel="up"/);
  }
  const url = String(o.headers.location);
  const ready = await c.poll(url, (r) => r.json.status !== 'pending');
  assert.equal(ready.json.status, 'ready', ready.body);
  return { url, order: ready.json };
}

test('newNonce: HEAD 200 and GET 204, each with a fresh nonce and no-store', { skip: skip ?? false }, async () => {
  const c = await client();
  const head = await request(ca, 'HEAD', c.dir.newNonce!);
  const get = await request(ca, 'GET', c.dir.newNonce!);
  assert.equal(head.status, 200);
  assert.equal(get.status, 204);
  assert.ok(head.headers['replay-nonce'] && head.headers['replay-nonce'] !== get.headers['replay-nonce']);
  assert.equal(get.headers['cache-control'], 'no-store');
  assert.match(String(get.headers.link), /directory>;rel="index"/);
});

test('newAccount with ES256, ES384, RS256 and EdDSA keys; the same key finds its account; onlyReturnExisting; contacts', { skip: skip ?? false }, async () => {
  for (const alg of ['ES256', 'ES384', 'RS256', 'EdDSA'] as const) {
    const c = await client(alg);
    const r = await c.register({ termsOfServiceAgreed: true, contact: ['mailto:ops@example.com'] });
    assert.equal(r.status, 201, `${alg}: ${r.body}`);
    assert.equal(r.json.status, 'valid');
    assert.deepEqual(r.json.contact, ['mailto:ops@example.com']);
    const again = await c.register();
    assert.equal(again.status, 200);
    assert.equal(again.headers.location, r.headers.location);
    const byKid = await c.post(String(r.headers.location), '');
    assert.equal(byKid.status, 200, byKid.body);
  }
  const stranger = await client();
  problem(await stranger.post(stranger.dir.newAccount!, { onlyReturnExisting: true }, { useJwk: true }), 'accountDoesNotExist', 400);
  problem(await stranger.post(stranger.dir.newAccount!, { contact: ['tel:+1555'] }, { useJwk: true }), 'unsupportedContact', 400);
  problem(await stranger.post(stranger.dir.newAccount!, { contact: ['mailto:a@b.example,c@d.example'] }, { useJwk: true }), 'invalidContact', 400);
});

test('order flow: http-01, a CSR for other names refused (badCSR), finalize, download, orders list', { skip: skip ?? false }, async () => {
  const c = await client();
  await c.register();
  const name = 'flow.stepstone.test';
  const { url, order } = await readyOrder(c, [{ type: 'dns', value: name }, { type: 'ip', value: '127.0.0.1' }]);
  const other = await csrFor({ dns: ['other.stepstone.test'] });
  problem(await c.post(order.finalize, { csr: other.csr }), 'badCSR', 400);
  const partial = await csrFor({ dns: [name] });
  problem(await c.post(order.finalize, { csr: partial.csr }), 'badCSR', 400);
  const still = await c.post(url, '');
  assert.equal(still.json.status, 'ready', 'a refused CSR leaves the order ready');
  const { csr } = await csrFor({ dns: [name], ip: ['127.0.0.1'] });
  const fin = await c.post(order.finalize, { csr });
  assert.equal(fin.status, 200, fin.body);
  assert.equal(fin.json.status, 'valid');
  problem(await c.post(order.finalize, { csr }), 'orderNotReady', 403);
  const cert = await c.post(fin.json.certificate, '');
  assert.equal(cert.status, 200);
  assert.match(String(cert.headers['content-type']), /^application\/pem-certificate-chain/);
  const [leaf, inter] = cert.body.split(/(?<=-----END CERTIFICATE-----\n)/);
  const x = new X509Certificate(leaf!);
  assert.match(x.subjectAltName!, /DNS:flow\.stepstone\.test/);
  assert.match(x.subjectAltName!, /IP Address:127\.0\.0\.1/);
  assert.ok(x.verify(new X509Certificate(inter!).publicKey));
  const orders = await c.post(`${c.kid}/orders`, '');
  assert.deepEqual(orders.json.orders, [url]);
  // Another account may neither read the order nor download the certificate.
  const eve = await client();
  await eve.register();
  problem(await eve.post(url, ''), 'unauthorized', 403);
  problem(await eve.post(fin.json.certificate, ''), 'unauthorized', 403);
  problem(await eve.post(`${c.kid}/orders`, ''), 'unauthorized', 403);
});

test('adversarial: a replayed nonce is badNonce (with a fresh one), a wrong url or kid is refused', { skip: skip ?? false }, async () => {
  const c = await client();
  await c.register();
  const nonce = await c.nonce();
  const first = await c.post(String(c.kid), '', { nonce });
  assert.equal(first.status, 200);
  const replay = await c.post(String(c.kid), '', { nonce });
  problem(replay, 'badNonce', 400);
  // The fresh nonce from the badNonce answer works at once.
  assert.equal((await c.post(String(c.kid), '', { nonce: String(replay.headers['replay-nonce']) })).status, 200);
  problem(await c.post(String(c.kid), '', { nonce: 'made-up' }), 'badNonce', 400);
  problem(await c.post(c.dir.newOrder!, { identifiers: [{ type: 'dns', value: 'a.stepstone.test' }] }, { url: String(c.kid) }), 'unauthorized', 403);
  const eve = await client();
  await eve.register();
  // Eve names Alice's account but signs with her own key.
  problem(await eve.post(String(c.kid), '', { kid: c.kid }), 'malformed', 400);
  problem(await eve.post(c.dir.newOrder!, { identifiers: [{ type: 'dns', value: 'a.stepstone.test' }] }, { kid: `${String(c.kid)}x` }), 'accountDoesNotExist', 400);
  problem(await eve.post(c.dir.newOrder!, { identifiers: [] }, { kid: 'https://elsewhere.example/acme/acme/account/1' }), 'unauthorized', 403);
  // Unsigned-by-anyone bodies and the wrong media type.
  problem(await request(ca, 'POST', c.dir.newOrder!, undefined, { raw: '{"protected":"e30","payload":"","signature":""}', headers: JOSE }), 'malformed', 400);
  const jws = JSON.stringify(await c.jws(String(c.kid), ''));
  problem(await request(ca, 'POST', String(c.kid), undefined, { raw: jws, headers: { 'content-type': 'application/json' } }), 'malformed', 415);
});

test('adversarial: an oversized JWS is refused with a problem document', { skip: skip ?? false }, async () => {
  const c = await client();
  await c.register();
  const big = await c.post(c.dir.newOrder!, { identifiers: [{ type: 'dns', value: 'a.stepstone.test' }], pad: 'x'.repeat(200_000) });
  problem(big, 'malformed', 413);
});

test('key rollover: the new key works, the old does not; rolling onto a key in use is a conflict', { skip: skip ?? false }, async () => {
  const c = await client();
  await c.register();
  const other = await client();
  await other.register();
  const roll = async (to: typeof c.key) => {
    const url = c.dir.keyChange!;
    const inner = await new jose.FlattenedSign(new TextEncoder().encode(JSON.stringify({ account: c.kid, oldKey: c.key.jwk })))
      .setProtectedHeader({ alg: to.alg, jwk: to.jwk, url }).sign(to.privateKey);
    return c.post(url, inner);
  };
  const conflict = await roll(other.key);
  problem(conflict, 'malformed', 409);
  assert.equal(conflict.headers.location, other.kid);
  const fresh = await accountKey('ES384');
  const old = c.key;
  const r = await roll(fresh);
  assert.equal(r.status, 200, r.body);
  c.key = fresh;
  assert.equal((await c.post(String(c.kid), '')).status, 200);
  c.key = old;
  problem(await c.post(String(c.kid), ''), 'malformed', 400);
});

test('deactivated accounts can do nothing more', { skip: skip ?? false }, async () => {
  const c = await client();
  await c.register();
  const r = await c.post(String(c.kid), { status: 'deactivated' });
  assert.equal(r.status, 200);
  assert.equal(r.json.status, 'deactivated');
  problem(await c.newOrder([{ type: 'dns', value: 'x.stepstone.test' }]), 'unauthorized', 403);
  problem(await c.register(), 'unauthorized', 403);
});

test('adversarial: another account\'s challenge, and a CSR for names validated in another order, are refused', { skip: skip ?? false }, async () => {
  const alice = await client();
  await alice.register();
  const eve = await client();
  await eve.register();
  const o = await alice.newOrder([{ type: 'dns', value: 'alice.stepstone.test' }]);
  const z = await alice.post(o.json.authorizations[0], '');
  problem(await eve.post(z.json.challenges[0].url, {}), 'unauthorized', 403);
  problem(await eve.post(o.json.authorizations[0], ''), 'unauthorized', 403);
  // Eve validates her own name, then asks for Alice's in that order's CSR.
  const { order } = await readyOrder(eve, [{ type: 'dns', value: 'eve.stepstone.test' }]);
  const { csr } = await csrFor({ dns: ['eve.stepstone.test', 'alice.stepstone.test'] });
  problem(await eve.post(order.finalize, { csr }), 'badCSR', 400);
  // A challenge id that is not in the authorization.
  problem(await eve.post(z.json.challenges[0].url.replace(/[^/]+$/, 'nope'), {}), 'unauthorized', 403);
});

test('identifiers: wildcards only with dns-01; bad names rejected; unknown types unsupported', { skip: skip ?? false }, async () => {
  const c = await client();
  await c.register();
  const w = await c.newOrder([{ type: 'dns', value: '*.wild.stepstone.test' }]);
  assert.equal(w.status, 201);
  const z = await c.post(w.json.authorizations[0], '');
  assert.deepEqual(z.json.challenges.map((x: any) => x.type), ['dns-01']);
  assert.equal(z.json.wildcard, true);
  assert.equal(z.json.identifier.value, 'wild.stepstone.test');
  problem(await c.newOrder([{ type: 'dns', value: 'bad_name..test' }]), 'rejectedIdentifier', 400);
  problem(await c.newOrder([{ type: 'email', value: 'a@b.test' }]), 'unsupportedIdentifier', 400);
  // A lifetime the provisioner's claims do not allow is refused at newOrder, not at finalize.
  const long = await c.post(c.dir.newOrder!, { identifiers: [{ type: 'dns', value: 'long.stepstone.test' }], notAfter: new Date(Date.now() + 365 * 86_400_000).toISOString() });
  problem(long, 'malformed', 400);
  assert.match(long.json.detail, /notBefore\/notAfter/);
  const short = await c.post(c.dir.newOrder!, { identifiers: [{ type: 'dns', value: 'short.stepstone.test' }], notAfter: new Date(Date.now() + 3_600_000).toISOString() });
  assert.equal(short.status, 201, short.body);
  const h = await client('ES256', ca.directory.replace('/acme/acme/', '/acme/http-only/'));
  await h.register();
  problem(await h.newOrder([{ type: 'dns', value: '*.wild.stepstone.test' }]), 'rejectedIdentifier', 400);
});

test('name policy: an identifier the ACME provisioner\'s policy denies is rejectedIdentifier at newOrder; an allowed one is ordered', { skip: skip ?? false }, async () => {
  const c = await client('ES256', ca.directory.replace('/acme/acme/', '/acme/policed/'));
  await c.register();
  const denied = await c.newOrder([{ type: 'dns', value: 'ok.stepstone.test' }, { type: 'dns', value: 'db.forbidden.stepstone.test' }]);
  problem(denied, 'rejectedIdentifier', 400);
  assert.match(denied.json.detail, /db\.forbidden\.stepstone\.test/);
  const allowed = await c.newOrder([{ type: 'dns', value: 'ok.stepstone.test' }]);
  assert.equal(allowed.status, 201, allowed.body);
  // The same name on a provisioner without that policy is ordered: the refusal is the policy's.
  const other = await client();
  await other.register();
  assert.equal((await other.newOrder([{ type: 'dns', value: 'db.forbidden.stepstone.test' }])).status, 201);
});

test('adversarial: a validation target that never answers fails the challenge after the timeout; the CA keeps answering', { skip: skip ?? false }, async () => {
  const c = await client();
  await c.register();
  const o = await c.newOrder([{ type: 'dns', value: 'hang.stepstone.test' }]);
  const z = await c.post(o.json.authorizations[0], '');
  const ch = z.json.challenges.find((x: any) => x.type === 'http-01');
  answers.set(ch.token, { hang: true });
  const started = await c.post(ch.url, {});
  assert.equal(started.json.status, 'processing');
  assert.equal(started.headers['retry-after'], '1');
  // Meanwhile the CA answers.
  assert.equal((await c.post(String(c.kid), '')).status, 200);
  const done = await c.poll(ch.url, (r) => r.json.status !== 'processing');
  assert.equal(done.json.status, 'invalid');
  assert.equal(done.json.error.type, 'urn:ietf:params:acme:error:connection');
  const order = await c.post(String(o.headers.location), '');
  assert.equal(order.json.status, 'invalid');
});

test('adversarial: a redirect to another host is not followed', { skip: skip ?? false }, async () => {
  const c = await client();
  await c.register();
  const o = await c.newOrder([{ type: 'dns', value: 'redirect.stepstone.test' }]);
  const z = await c.post(o.json.authorizations[0], '');
  const ch = z.json.challenges.find((x: any) => x.type === 'http-01');
  // The target would answer correctly: only the host check stands between it and a valid challenge.
  answers.set(`${ch.token}-elsewhere`, await c.keyAuthorization(ch.token));
  answers.set(ch.token, { redirect: `http://other.stepstone.test:${new URL(ca.url).port === '' ? 80 : httpPortOf()}/.well-known/acme-challenge/${ch.token}-elsewhere` });
  await c.post(ch.url, {});
  const done = await c.poll(ch.url, (r) => r.json.status !== 'processing');
  assert.equal(done.json.status, 'invalid');
  assert.match(done.json.error.detail, /redirect .* refused/);
});

test('adversarial: 100 concurrent newOrders from one account: the limit holds, the rest are rateLimited with Retry-After', { skip: skip ?? false, timeout: 120_000 }, async () => {
  const c = await client();
  await c.register();
  const nonces = await Promise.all(Array.from({ length: 100 }, async () => String((await request(ca, 'HEAD', c.dir.newNonce!)).headers['replay-nonce'])));
  const replies = await Promise.all(nonces.map((nonce, i) => c.post(c.dir.newOrder!, { identifiers: [{ type: 'dns', value: `n${i}.stepstone.test` }] }, { nonce })));
  const created = replies.filter((r) => r.status === 201);
  const limited = replies.filter((r) => r.status === 429);
  assert.equal(created.length, ORDER_LIMIT);
  assert.equal(limited.length, 100 - ORDER_LIMIT);
  for (const r of limited) {
    assert.equal(r.json.type, 'urn:ietf:params:acme:error:rateLimited');
    assert.ok(Number(r.headers['retry-after']) > 0);
  }
  // Another account is not held back by this one.
  const d = await client();
  await d.register();
  assert.equal((await d.newOrder([{ type: 'dns', value: 'other.stepstone.test' }])).status, 201);
});

test('revokeCert by the account and by the certificate key; revoked certificates are in the ledger as revoked', { skip: skip ?? false }, async () => {
  const c = await client();
  await c.register();
  const issue = async (name: string) => {
    const { order } = await readyOrder(c, [{ type: 'dns', value: name }]);
    const { csr, key } = await csrFor({ dns: [name] });
    const fin = await c.post(order.finalize, { csr });
    const pem = (await c.post(fin.json.certificate, '')).body.split(/(?<=-----END CERTIFICATE-----\n)/)[0]!;
    return { der: new X509Certificate(pem).raw.toString('base64url'), key, serial: BigInt(`0x${new X509Certificate(pem).serialNumber}`).toString() };
  };
  const a = await issue('rev-a.stepstone.test');
  const eve = await client();
  await eve.register();
  problem(await eve.post(eve.dir.revokeCert!, { certificate: a.der }), 'unauthorized', 403);
  problem(await c.post(c.dir.revokeCert!, { certificate: a.der, reason: 7 }), 'badRevocationReason', 400);
  assert.equal((await c.post(c.dir.revokeCert!, { certificate: a.der, reason: 1 })).status, 200);
  problem(await c.post(c.dir.revokeCert!, { certificate: a.der }), 'alreadyRevoked', 400);
  // By the certificate's own key (jwk in the JWS), no account needed.
  const b = await issue('rev-b.stepstone.test');
  const certKey = { alg: 'ES256' as const, privateKey: b.key.privateKey, jwk: await jose.exportJWK(b.key.publicKey) };
  const byKey = await c.post(c.dir.revokeCert!, { certificate: b.der }, { key: certKey, useJwk: true });
  assert.equal(byKey.status, 200, byKey.body);
  const rows = JSON.parse(cli(['ledger', 'list', '--home', ca.home, '--revoked', '--json']).stdout) as { serial: string; provisioner: string }[];
  for (const s of [a.serial, b.serial]) assert.equal(rows.find((r) => r.serial === s)?.provisioner, 'acme');
});

test('EAB: `stepstone acme eab add|list|remove`; a provisioner with requireEAB refuses accounts without a binding, binds a key once', { skip: skip ?? false }, async () => {
  const added = cli(['acme', 'eab', 'add', 'with-eab', '--reference', 'team-a', '--home', ca.home, '--json']);
  assert.equal(added.status, 0, added.stderr);
  const { keyId, hmacKey } = JSON.parse(added.stdout) as { keyId: string; hmacKey: string };
  assert.equal(cli(['acme', 'eab', 'add', 'no-such', '--home', ca.home]).status, 1);
  const dir = ca.directory.replace('/acme/acme/', '/acme/with-eab/');
  const meta = (await request(ca, 'GET', dir)).json.meta;
  assert.equal(meta.externalAccountRequired, true);
  const c = await client('ES256', dir);
  problem(await c.register(), 'externalAccountRequired', 400);
  const binding = async (who: AcmeTestClient, secret: string) => new jose.FlattenedSign(new TextEncoder().encode(JSON.stringify(who.key.jwk)))
    .setProtectedHeader({ alg: 'HS256', kid: keyId, url: who.dir.newAccount }).sign(Buffer.from(secret, 'base64url'));
  problem(await c.register({ externalAccountBinding: await binding(c, Buffer.alloc(32, 1).toString('base64url')) }), 'unauthorized', 403);
  const ok = await c.register({ externalAccountBinding: await binding(c, hmacKey) });
  assert.equal(ok.status, 201, ok.body);
  const d = await client('ES256', dir);
  problem(await d.register({ externalAccountBinding: await binding(d, hmacKey) }), 'unauthorized', 403);
  const listed = JSON.parse(cli(['acme', 'eab', 'list', '--home', ca.home, '--json']).stdout) as { keyId: string; boundTo: string | null; reference: string }[];
  const row = listed.find((k) => k.keyId === keyId)!;
  assert.equal(row.reference, 'team-a');
  assert.equal(`${dir.replace(/\/directory$/, '')}/account/${row.boundTo}`, c.kid);
  assert.ok(!JSON.stringify(listed).includes(hmacKey), 'list never prints the HMAC key');
  assert.equal(cli(['acme', 'eab', 'remove', keyId, '--home', ca.home]).status, 0);
  assert.equal(cli(['acme', 'eab', 'remove', keyId, '--home', ca.home]).status, 1);
});

test('an ACME certificate renews over mTLS (POST /renew) under the ACME provisioner, and OCSP/ledger know it', { skip: skip ?? false }, async () => {
  const c = await client();
  await c.register();
  const name = 'renew.stepstone.test';
  const { order } = await readyOrder(c, [{ type: 'dns', value: name }]);
  const { csr, key } = await csrFor({ dns: [name] });
  const fin = await c.post(order.finalize, { csr });
  const chain = (await c.post(fin.json.certificate, '')).body;
  const keyPem = toPem(new Uint8Array(await crypto.subtle.exportKey('pkcs8', key.privateKey)), 'PRIVATE KEY');
  const r = await request(ca, 'POST', '/renew', undefined, { cert: chain, key: keyPem });
  assert.equal(r.status, 201, r.body);
  const renewed = new X509Certificate(r.json.crt);
  assert.match(renewed.subjectAltName!, /DNS:renew\.stepstone\.test/);
  const rows = JSON.parse(cli(['ledger', 'list', '--home', ca.home, '--provisioner', 'acme', '--json']).stdout) as { serial: string; method: string; replaces: string | null }[];
  const row = rows.find((x) => x.serial === BigInt(`0x${renewed.serialNumber}`).toString());
  assert.equal(row?.method, 'renew');
  assert.equal(row?.replaces, BigInt(`0x${new X509Certificate(chain.split(/(?<=-----END CERTIFICATE-----\n)/)[0]!).serialNumber}`).toString());
});
