// Pending ACME objects expire and are pruned: an order past its lifetime reads as invalid and is
// then deleted by the pruning timer (with its authorizations); a nonce past its lifetime is
// badNonce. Short lifetimes in ca.json, real server, polled (no timing assertions).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request, type TestCa } from '../helpers/ca.ts';
import { freePort, missingBinary, startAcmeCa, startChallTestSrv, type ChallTestSrv } from '../helpers/acme.ts';
import { AcmeTestClient } from '../helpers/acme-client.ts';

const skip = missingBinary('pebble-challtestsrv');
let dns: ChallTestSrv;
let ca: TestCa & { directory: string };

before(async () => {
  if (skip) return;
  dns = await startChallTestSrv();
  ca = await startAcmeCa({ dnsPort: dns.dnsPort, httpPort: await freePort(), acme: { orderLifetime: '2s', nonceLifetime: '2s', pruneInterval: '1s' } });
});

after(async () => {
  await ca?.cleanup();
  await dns?.stop();
});

test('an expired order is invalid, then pruned with its authorizations; an old nonce is badNonce', { skip: skip ?? false, timeout: 120_000 }, async () => {
  const c = await AcmeTestClient.create(ca.rootPem, ca.directory);
  await c.register();
  const o = await c.newOrder([{ type: 'dns', value: 'expire.stepstone.test' }]);
  assert.equal(o.status, 201);
  const orderUrl = String(o.headers.location);
  const authzUrl = o.json.authorizations[0];
  const old = String((await request(ca, 'HEAD', c.dir.newNonce!)).headers['replay-nonce']);
  const end = Date.now() + 60_000;
  let seen: number[] = [];
  for (;;) {
    const r = await c.post(orderUrl, '');
    seen.push(r.status);
    if (r.status === 200) assert.ok(['pending', 'invalid'].includes(r.json.status));
    if (r.status === 404) break;
    if (Date.now() > end) assert.fail(`never pruned: ${seen.join(',')}`);
    await new Promise((res) => setTimeout(res, 300));
  }
  seen = [];
  assert.equal((await c.post(authzUrl, '')).status, 404, 'its authorization went with it');
  const r = await c.post(String(c.kid), '', { nonce: old });
  assert.equal(r.json?.type, 'urn:ietf:params:acme:error:badNonce');
});
