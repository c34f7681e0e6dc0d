// The per-address ACME limit (stepstone.acme.rateLimit.requestsPerAddress): past it, signed
// requests from that address are rateLimited with Retry-After before any ledger work; nonces
// (unsigned) still flow, so a client can retry once the window passes.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { request, type TestCa } from '../helpers/ca.ts';
import { freePort, missingBinary, startAcmeCa, startChallTestSrv, type ChallTestSrv } from '../helpers/acme.ts';
import { AcmeTestClient } from '../helpers/acme-client.ts';

const skip = missingBinary('pebble-challtestsrv');
let dns: ChallTestSrv | undefined;
let ca: TestCa | undefined;

after(async () => {
  await ca?.cleanup();
  await dns?.stop();
});

test('signed ACME requests past the per-address limit are rateLimited with Retry-After', { skip: skip ?? false, timeout: 120_000 }, async () => {
  dns = await startChallTestSrv();
  const acmeCa = await startAcmeCa({ dnsPort: dns.dnsPort, httpPort: await freePort(), acme: { rateLimit: { requestsPerAddress: { max: 10, window: '1h' } } } });
  ca = acmeCa;
  const c = await AcmeTestClient.create(acmeCa.rootPem, acmeCa.directory);
  assert.equal((await c.register()).status, 201);
  const statuses: number[] = [];
  let limited: Awaited<ReturnType<typeof c.post>> | null = null;
  for (let i = 0; i < 15; i++) {
    const r = await c.post(String(c.kid), '');
    statuses.push(r.status);
    if (r.status === 429) limited ??= r;
  }
  assert.deepEqual(statuses, [...Array(9).fill(200), ...Array(6).fill(429)], 'the account registration counted as the first of 10');
  assert.equal(limited!.json.type, 'urn:ietf:params:acme:error:rateLimited');
  assert.ok(Number(limited!.headers['retry-after']) > 0);
  assert.equal((await request(acmeCa, 'HEAD', c.dir.newNonce!)).status, 200, 'nonces are still handed out');
});
