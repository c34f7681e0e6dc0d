// A validation under way when the CA is killed is not lost: the restarted CA finds the challenge
// still 'processing' in the ledger and validates it again.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { Socket } from 'node:net';
import type { ChildProcess } from 'node:child_process';
import { serve, type TestCa } from '../helpers/ca.ts';
import { freePort, missingBinary, startAcmeCa, startChallTestSrv, stopChild, type ChallTestSrv } from '../helpers/acme.ts';
import { AcmeTestClient } from '../helpers/acme-client.ts';

const skip = missingBinary('pebble-challtestsrv');
let dns: ChallTestSrv | undefined;
let ca: TestCa | undefined;
let restarted: ChildProcess | undefined;
let responder: http.Server | undefined;
const sockets = new Set<Socket>();

after(async () => {
  if (restarted) await stopChild(restarted);
  for (const s of sockets) s.destroy();
  await new Promise((r) => (responder ? responder.close(r) : r(undefined)));
  await ca?.cleanup();
  await dns?.stop();
});

test('a challenge left processing by a killed CA is validated after the restart', { skip: skip ?? false, timeout: 180_000 }, async () => {
  dns = await startChallTestSrv();
  const httpPort = await freePort();
  let answer: string | null = null;
  let asked = 0;
  responder = http.createServer((_req, res) => {
    asked++;
    if (answer) res.end(answer); // else: hang, as a slow target would
  });
  responder.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((r) => responder!.listen(httpPort, '127.0.0.1', r));
  const acmeCa = await startAcmeCa({ dnsPort: dns.dnsPort, httpPort, acme: { validation: { resolver: `127.0.0.1:${dns.dnsPort}`, httpPort, timeout: '120s' } } });
  ca = acmeCa;
  const c = await AcmeTestClient.create(acmeCa.rootPem, acmeCa.directory);
  await c.register();
  const o = await c.newOrder([{ type: 'dns', value: 'restart.stepstone.test' }]);
  const z = await c.post(o.json.authorizations[0], '');
  const ch = z.json.challenges.find((x: { type: string }) => x.type === 'http-01');
  assert.equal((await c.post(ch.url, {})).json.status, 'processing');
  const end = Date.now() + 30_000;
  while (asked === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  assert.ok(asked > 0, 'the validator reached the target');
  await acmeCa.stop('SIGKILL');
  answer = await c.keyAuthorization(ch.token);
  const s = await serve(acmeCa.home, acmeCa.passwordFile, [], 90_000);
  restarted = s.proc;
  // Same name, new port: the client keeps its URLs (as behind a stable name) and connects anew.
  c.via = s.port;
  const done = await c.poll(ch.url, (r) => r.json?.status !== 'processing', 60_000);
  assert.equal(done.json.status, 'valid', done.body);
  const order = await c.poll(String(o.headers.location), (r) => r.json?.status !== 'pending', 30_000);
  assert.equal(order.json.status, 'ready');
});
