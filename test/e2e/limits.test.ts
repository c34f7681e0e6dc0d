// Limits under abuse (issue 6, transport): per-IP and per-provisioner rate limits answer 429 in
// step-ca's JSON shape, and a client that drips its request slowly is cut off. One CA configured
// with small limits so the test stays short; the limits' defaults are generous.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import Database from 'better-sqlite3';
import { request, startTestCa, type TestCa } from '../helpers/ca.ts';
import { mintToken, opensslCsr, provisionerKey, type ProvisionerKey } from '../helpers/tokens.ts';

let ca: TestCa;
let admin: ProvisionerKey;

before(async () => {
  ca = await startTestCa({
    configure: (c) => {
      c.stepstone.rateLimit = { enabled: true, perIp: { max: 25, window: '1m' }, perProvisioner: { max: 3, window: '1m' } };
      c.stepstone.requestTimeout = '2s';
    },
  });
  admin = await provisionerKey(ca.configPath, ca.password);
});
after(() => ca.cleanup());

const rows = () => {
  const db = new Database(ca.dbPath, { readonly: true });
  try { return (db.prepare('SELECT count(*) AS n FROM certificates').get() as { n: number }).n; } finally { db.close(); }
};

test('a client that sends its request slowly is disconnected once requestTimeout (2 s) has passed, not before', async () => {
  const outcome = await new Promise<{ how: string; afterMs: number }>((resolve) => {
    let sentAt = 0;
    const done = (how: string) => resolve({ how, afterMs: Date.now() - sentAt });
    const s = tls.connect({ host: '127.0.0.1', port: ca.port, ca: ca.rootPem, servername: 'localhost' }, () => {
      s.write('POST /1.0/sign HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n{"csr":');
      sentAt = Date.now();
      // One byte a second, for up to 20 s: a slowloris that never finishes its body.
      let n = 0;
      const drip = setInterval(() => { if (n++ < 20 && !s.destroyed) s.write('A'); }, 1000);
      const giveUp = setTimeout(() => { s.destroy(); done('never closed'); }, 25_000);
      s.on('close', () => { clearInterval(drip); clearTimeout(giveUp); done(n < 20 ? `closed after ${n} bytes` : 'never closed'); });
    });
    let reply = '';
    s.on('data', (d) => { reply += d; });
    s.on('end', () => { if (reply) done(`answered: ${reply.split('\r\n')[0]}`); });
    s.on('error', () => undefined);
  });
  assert.match(outcome.how, /^(closed after|answered: HTTP\/1.1 408)/, outcome.how);
  // The server's clock starts when our first bytes reach it, after `sentAt`: a close sooner than
  // the timeout is some other failure (100 ms allows for timer rounding). No upper bound beyond
  // the 25 s give-up: a busy machine may be slow to notice.
  assert.ok(outcome.afterMs >= 1900, `closed ${outcome.afterMs} ms after the request began, before the 2 s requestTimeout: ${outcome.how}`);
});

test('per provisioner: authorized issuances past the limit get 429 and issue nothing; forged tokens do not count', async () => {
  const aud = `${ca.url}/1.0/sign`;
  // Forged tokens naming the provisioner are refused (401) and must not spend its budget.
  for (let i = 0; i < 5; i++) {
    const r = await request(ca, 'POST', '/1.0/sign', { csr: opensslCsr('f.internal').csrPem, ott: `${(await mintToken(admin, { aud, sub: 'f.internal' })).slice(0, -4)}AAAA` });
    assert.equal(r.status, 401);
  }
  for (let i = 0; i < 3; i++) {
    const r = await request(ca, 'POST', '/1.0/sign', { csr: opensslCsr(`q${i}.internal`).csrPem, ott: await mintToken(admin, { aud, sub: `q${i}.internal` }) });
    assert.equal(r.status, 201, r.body);
  }
  const before = rows();
  const over = await request(ca, 'POST', '/1.0/sign', { csr: opensslCsr('q9.internal').csrPem, ott: await mintToken(admin, { aud, sub: 'q9.internal' }) });
  assert.equal(over.status, 429, over.body);
  assert.equal(over.json.status, 429);
  assert.match(over.json.message, /Too many requests/);
  assert.equal(rows(), before);
});

test('per client IP: past the limit every request gets 429 in the JSON shape', async () => {
  let first: Awaited<ReturnType<typeof request>> | undefined;
  for (let i = 0; i < 40 && !first; i++) {
    const r = await request(ca, 'GET', '/health');
    if (r.status === 429) first = r;
    else assert.equal(r.status, 200);
  }
  assert.ok(first, 'no 429 within 40 requests');
  // Every request after the first 429 in the same (1 minute) window, of any kind, is refused too.
  const after = [first];
  for (let i = 0; i < 10; i++) after.push(await request(ca, 'GET', '/health'));
  after.push(await request(ca, 'GET', '/roots'));
  after.push(await request(ca, 'POST', '/1.0/sign', { csr: opensslCsr('ip.internal').csrPem, ott: await mintToken(admin, { aud: `${ca.url}/1.0/sign`, sub: 'ip.internal' }) }));
  for (const [i, r] of after.entries()) {
    assert.equal(r.status, 429, `request ${i} after the limit: ${r.status} ${r.body}`);
    assert.equal(r.json.status, 429);
    assert.match(r.json.message, /Too many requests/);
    assert.ok(r.headers['retry-after'], `request ${i}: Retry-After is set`);
  }
});
