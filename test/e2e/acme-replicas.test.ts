// ACME on two replicas sharing one PostgreSQL ledger (as behind a load balancer: one name, the
// requests of one client landing on either): a nonce from one is spent once on both, and an
// order made on one is validated, finalized and downloaded through the other.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { ChildProcess } from 'node:child_process';
import { request, serve, type TestCa } from '../helpers/ca.ts';
import { freePort, missingBinary, startAcmeCa, startChallTestSrv, stopChild, type ChallTestSrv } from '../helpers/acme.ts';
import { AcmeTestClient, csrFor } from '../helpers/acme-client.ts';
import { createDatabase, postgresMissing, type TestDatabase } from '../helpers/postgres.ts';

let skip: string | null = missingBinary('pebble-challtestsrv');
let db: TestDatabase | null = null;
let dns: ChallTestSrv;
let ca: TestCa & { directory: string };
let second: ChildProcess | null = null;
let secondPort = 0;
let responder: http.Server;
const answers = new Map<string, string>();

before(async () => {
  skip ??= await postgresMissing();
  if (skip) return;
  db = await createDatabase();
  dns = await startChallTestSrv();
  const httpPort = await freePort();
  responder = http.createServer((req, res) => {
    const a = answers.get(req.url?.split('/').pop() ?? '');
    if (a) res.end(a);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => responder.listen(httpPort, '127.0.0.1', r));
  ca = await startAcmeCa({ dnsPort: dns.dnsPort, httpPort, configure: (cfg) => { cfg.db = { type: 'postgresql', dataSource: db!.url }; } });
  const s = await serve(ca.home, ca.passwordFile, ['--replica', 'second'], 90_000);
  second = s.proc;
  secondPort = s.port;
});

after(async () => {
  if (second) await stopChild(second);
  await ca?.cleanup();
  await dns?.stop();
  await new Promise((r) => (responder ? responder.close(r) : r(undefined)));
  await db?.drop();
});

test('a nonce is spent once across replicas; an order crosses replicas from newOrder to download', { timeout: 120_000 }, async (t) => {
  // Decided in before() (PostgreSQL reachable?), after this test was declared.
  if (skip) return t.skip(skip);
  const c = await AcmeTestClient.create(ca.rootPem, ca.directory);
  await c.register();
  // Nonce from replica 1, spent on replica 2, replayed on replica 1.
  const nonce = String((await request(ca, 'HEAD', c.dir.newNonce!)).headers['replay-nonce']);
  c.via = secondPort;
  assert.equal((await c.post(String(c.kid), '', { nonce })).status, 200);
  c.via = null;
  const replay = await c.post(String(c.kid), '', { nonce });
  assert.equal(replay.json.type, 'urn:ietf:params:acme:error:badNonce');

  const o = await c.newOrder([{ type: 'dns', value: 'replicas.stepstone.test' }]);
  assert.equal(o.status, 201);
  c.via = secondPort;
  const z = await c.post(o.json.authorizations[0], '');
  const ch = z.json.challenges.find((x: { type: string }) => x.type === 'http-01');
  answers.set(ch.token, await c.keyAuthorization(ch.token));
  await c.post(ch.url, {});
  c.via = null;
  const ready = await c.poll(String(o.headers.location), (r) => r.json.status !== 'pending');
  assert.equal(ready.json.status, 'ready', ready.body);
  const { csr } = await csrFor({ dns: ['replicas.stepstone.test'] });
  // Both replicas race to finalize: exactly one issues.
  const [a, b] = await Promise.all([c.post(ready.json.finalize, { csr }), (async () => {
    const d = new AcmeTestClient(c.rootPem, c.directoryUrl, c.key);
    Object.assign(d, { dir: c.dir, kid: c.kid, via: secondPort });
    return d.post(ready.json.finalize, { csr });
  })()]);
  const statuses = [a.status, b.status].sort();
  assert.deepEqual(statuses, [200, 403], `${a.body}\n${b.body}`);
  const won = a.status === 200 ? a : b;
  c.via = secondPort;
  const cert = await c.post(won.json.certificate, '');
  assert.equal(cert.status, 200);
  assert.match(cert.body, /BEGIN CERTIFICATE/);
});
