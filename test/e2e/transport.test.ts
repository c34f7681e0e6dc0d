// The TLS/HTTP transport under abuse (issue 12 items 2, 7, 8): renegotiation refused, every error
// in step-ca's {"status","message"} shape even when fastify or Node's parser produces it, and
// connections that idle or crowd in are closed or capped without starving /health.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { TcpSocketConnectOpts } from 'node:net';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { request, startTestCa, type TestCa } from '../helpers/ca.ts';
import { mintToken, opensslCsr, provisionerKey, type ProvisionerKey } from '../helpers/tokens.ts';
import { waitForLog } from '../helpers/logs.ts';

let ca: TestCa;
/** Small connection caps and the default (long) timeouts, so held connections stay held. */
let capped: TestCa;
let admin: ProvisionerKey;

before(async () => {
  // Short timeouts; a per-IP limit small enough to reach (the 429 test runs last against this CA).
  ca = await startTestCa({
    configure: (c) => {
      c.stepstone.rateLimit = { enabled: true, perIp: { max: 60, window: '1m' } };
      c.stepstone.requestTimeout = '2s';
      c.stepstone.connections = { keepAliveTimeout: '1s' };
    },
  });
  capped = await startTestCa({
    configure: (c) => {
      c.stepstone.connections = { max: 6, perAddress: 4, healthReserve: 2 };
      c.tls.renegotiation = true;
    },
  });
  admin = await provisionerKey(ca.configPath, ca.password);
});
const sockets: tls.TLSSocket[] = [];
after(async () => {
  // Held connections first: a server waiting on them would not stop.
  sockets.forEach((s) => s.destroy());
  await ca?.cleanup();
  await capped?.cleanup();
});

/** A TLS connection from `localAddress` that completes its handshake and sends nothing; 'refused' if it cannot. */
async function openIdle(port: number, localAddress = '127.0.0.1'): Promise<tls.TLSSocket | 'refused'> {
  // tls.connect hands localAddress on to net.connect; its options type does not list it.
  const options: tls.ConnectionOptions & Pick<TcpSocketConnectOpts, 'localAddress'> = { host: '127.0.0.1', port, localAddress, ca: ca.rootPem, rejectUnauthorized: false, servername: 'localhost' };
  const s = tls.connect(options);
  sockets.push(s);
  s.on('error', () => undefined);
  return new Promise((res) => {
    const deadline = setTimeout(() => { s.destroy(); res('refused'); }, 15_000);
    s.once('secureConnect', () => { clearTimeout(deadline); res(s); });
    s.once('close', () => { clearTimeout(deadline); res('refused'); });
  });
}

/** Resolves with the ms from now until `s` closes, or -1 if it is still open after `ms`. */
function closedWithin(s: tls.TLSSocket, ms: number): Promise<number> {
  const t0 = Date.now();
  if (s.destroyed) return Promise.resolve(0);
  return new Promise((res) => {
    const deadline = setTimeout(() => res(-1), ms);
    s.once('close', () => { clearTimeout(deadline); res(Date.now() - t0); });
  });
}

/** One request on its own connection from `localAddress`; status and body, or 'refused'. */
async function getFrom(target: TestCa, localAddress: string, path: string): Promise<{ status: number; json: any } | 'refused'> {
  const s = await openIdle(target.port, localAddress);
  if (s === 'refused') return s;
  s.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
  const text = await new Promise<string>((res) => {
    let got = '';
    s.on('data', (d) => { got += d; });
    s.once('close', () => res(got));
  });
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
  let json: any;
  try { json = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)); } catch { json = undefined; }
  return { status, json };
}

interface RawReply { status: number; headers: string; body: string; json: any }

/** Writes `bytes` on a fresh TLS connection and reads the reply until the server closes it (or 10 s). */
async function raw(port: number, bytes: string | Buffer): Promise<RawReply> {
  const s = tls.connect({ host: '127.0.0.1', port, ca: ca.rootPem, servername: 'localhost' });
  try {
    await new Promise<void>((res, rej) => { s.once('secureConnect', res); s.once('error', rej); });
    s.write(bytes);
    const text = await new Promise<string>((res) => {
      let got = '';
      const stop = setTimeout(() => res(got), 10_000);
      s.on('data', (d) => { got += d; });
      s.on('error', () => undefined);
      s.on('close', () => { clearTimeout(stop); res(got); });
    });
    const i = text.indexOf('\r\n\r\n');
    const head = i < 0 ? text : text.slice(0, i);
    const body = i < 0 ? '' : text.slice(i + 4);
    let json: any;
    try { json = JSON.parse(body); } catch { json = undefined; }
    return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), headers: head, body, json };
  } finally {
    s.destroy();
  }
}

const get = (path: string, extra = '') => raw(ca.port, `GET ${path} HTTP/1.1\r\nHost: localhost\r\n${extra}Connection: close\r\n\r\n`);

function assertShape(r: RawReply, status: number, message: RegExp): void {
  assert.equal(r.status, status, `${r.headers}\n${r.body}`);
  assert.match(r.headers, /content-type: application\/json/i);
  assert.deepEqual(Object.keys(r.json ?? {}).sort(), ['message', 'status'], r.body);
  assert.equal(r.json.status, status);
  assert.match(r.json.message, message);
}

/** Connects over TLS 1.2 and tries to renegotiate: 'renegotiated' or why not. */
async function tryRenegotiate(port: number, rootPem: string): Promise<string> {
  const s = tls.connect({ host: '127.0.0.1', port, ca: rootPem, servername: 'localhost', maxVersion: 'TLSv1.2' });
  try {
    await new Promise<void>((res, rej) => { s.once('secureConnect', res); s.once('error', rej); });
    return await new Promise<string>((res) => {
      s.once('error', (e) => res(`refused: ${e.message}`));
      s.once('close', () => res('closed'));
      if (!s.renegotiate({ rejectUnauthorized: false }, (err) => res(err ? `refused: ${err.message}` : 'renegotiated'))) res('not started');
    });
  } finally {
    s.destroy();
  }
}

test('TLS 1.2 renegotiation is refused (tls.renegotiation false, the default)', async () => {
  const outcome = await tryRenegotiate(ca.port, ca.rootPem);
  assert.match(outcome, /^(refused|closed)/, outcome);
});

test('tls.renegotiation true lets a TLS 1.2 client renegotiate (the probe above can tell)', async () => {
  assert.equal(await tryRenegotiate(capped.port, capped.rootPem), 'renegotiated');
});

test('a path parameter too long for the router: 414 in the JSON shape', async () => {
  assertShape(await get(`/root/${'a'.repeat(150)}`), 414, /URI too long/);
  assertShape(await get(`/1.0/root/${'a'.repeat(150)}`), 414, /URI too long/);
});

test('a URL that does not decode: 400 in the JSON shape', async () => {
  assertShape(await get('/ocsp/%FF'), 400, /malformed URL encoding/);
  assertShape(await get('/root/%E0%A4%A'), 400, /malformed URL encoding/);
});

test('headers over the limit: 431 in the JSON shape; a malformed request line: 400', async () => {
  assertShape(await get('/health', `X-Big: ${'b'.repeat(20 * 1024)}\r\n`), 431, /headers too large/);
  assertShape(await raw(ca.port, 'NOT HTTP AT ALL\r\n\r\n'), 400, /malformed HTTP request/);
});

test('a request body that does not arrive within requestTimeout: 408 in the JSON shape', async () => {
  const r = await raw(ca.port, 'POST /1.0/sign HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"csr":');
  assertShape(r, 408, /did not arrive in time/);
});

test('revoke by token: token sub and body serial compare as numbers, whatever their spelling', async () => {
  const issue = async (cn: string) => {
    const r = await request(ca, 'POST', '/sign', { csr: opensslCsr(cn, [cn]).csrPem, ott: await mintToken(admin, { aud: `${ca.url}/1.0/sign`, sub: cn }) });
    assert.equal(r.status, 201, r.body);
    return BigInt(`0x${new X509Certificate(r.json.crt).serialNumber}`);
  };
  const revoke = async (sub: string, serial: string) => request(ca, 'POST', '/revoke',
    { serial, ott: await mintToken(admin, { aud: `${ca.url}/1.0/revoke`, sub, sans: undefined }), reasonCode: 1, passive: true });
  const a = await issue('spelled-a.internal');
  const both = await revoke(`0x${a.toString(16)}`, `0x${a.toString(16)}`);
  assert.equal(both.status, 200, both.body);
  const b = await issue('spelled-b.internal');
  const mixed = await revoke(`0X${b.toString(16).toUpperCase()}`, `000${b.toString(10)}`);
  assert.equal(mixed.status, 200, mixed.body);
  const c = await issue('spelled-c.internal');
  const other = await revoke(`0x${(c + 1n).toString(16)}`, c.toString(10));
  assert.equal(other.status, 403, 'a different number is still refused');
  assert.match(other.json.message, /do not match/);
});

test('a connection that completes its handshake and sends nothing is closed after requestTimeout', async () => {
  const s = await openIdle(ca.port);
  assert.notEqual(s, 'refused');
  const ms = await closedWithin(s as tls.TLSSocket, 20_000);
  assert.notEqual(ms, -1, 'still open 20 s after the handshake (requestTimeout is 2s)');
  assert.ok(ms >= 1500, `closed after ${ms} ms, before the 2 s timeout`);
});

test('an idle keep-alive connection is closed after keepAliveTimeout', async () => {
  const s = await openIdle(ca.port);
  assert.notEqual(s, 'refused');
  const sock = s as tls.TLSSocket;
  const answered = new Promise<string>((res) => { let got = ''; sock.on('data', (d) => { got += d; if (/\r\n\r\n.*\}/s.test(got)) res(got); }); });
  sock.write('GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n');
  assert.match(await answered, /^HTTP\/1\.1 200/);
  const ms = await closedWithin(sock, 15_000);
  assert.notEqual(ms, -1, 'idle keep-alive connection still open after 15 s (keepAliveTimeout is 1s)');
  assert.ok(ms >= 700, `closed after ${ms} ms, before the 1 s keep-alive timeout`);
});

test('connections are capped per client address, with one log line however many are refused', async () => {
  for (let i = 0; i < 4; i++) assert.notEqual(await openIdle(capped.port, '127.0.0.2'), 'refused', `connection ${i + 1} of 4`);
  for (let i = 0; i < 5; i++) assert.equal(await openIdle(capped.port, '127.0.0.2'), 'refused', 'a fifth connection from the same address');
  const other = await getFrom(capped, '127.0.0.3', '/health');
  assert.notEqual(other, 'refused', 'another address is not affected');
  assert.equal((other as { status: number }).status, 200);
  await waitForLog(capped.logs, /too many open connections from one client address.*"address":"127\.0\.0\.2"|"address":"127\.0\.0\.2".*too many open connections from one client address/, 10_000);
  const lines = capped.logs.filter((l) => l.includes('too many open connections from one client address'));
  assert.ok(lines.length <= 2, `refusals are rate-limited in the log, got ${lines.length} lines`);
  assert.match(lines[0]!, /stepstone\.connections\.perAddress/);
});

test('at the total cap /health still answers (on the reserve); other requests there get 503 JSON', async () => {
  // Per-address connections from the previous test (4 from 127.0.0.2) are still open: 2 more from .5 reach max (6).
  for (let i = 0; i < 2; i++) assert.notEqual(await openIdle(capped.port, '127.0.0.5'), 'refused');
  const health = await getFrom(capped, '127.0.0.6', '/health');
  assert.notEqual(health, 'refused', '/health must be reachable at the cap');
  assert.equal((health as { status: number }).status, 200);
  const roots = await getFrom(capped, '127.0.0.6', '/roots');
  assert.notEqual(roots, 'refused');
  assert.equal((roots as { status: number }).status, 503);
  assert.deepEqual((roots as { json: any }).json, { status: 503, message: (roots as { json: any }).json.message });
  assert.match((roots as { json: any }).json.message, /connection limit reached/);
});

test('the per-IP 429 names the window, not the time left in it', async () => {
  let limited: Awaited<ReturnType<typeof request>> | undefined;
  for (let i = 0; i < 100 && !limited; i++) {
    const r = await request(ca, 'GET', '/roots');
    if (r.status === 429) limited = r;
  }
  assert.ok(limited, 'no 429 within 100 requests');
  assert.deepEqual(Object.keys(limited.json).sort(), ['message', 'status']);
  assert.match(limited.json.message, /more than 60 requests per 1m0s\./, limited.json.message);
});
