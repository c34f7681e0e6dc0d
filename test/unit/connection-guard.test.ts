// The connection guard on a real listening server: the total cap with its health reserve, and the
// refusal log rate-limited. (The TLS end to end cases are in test/e2e/transport.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import pino from 'pino';
import { guardConnections } from '../../src/api/connection-guard.ts';

function connect(port: number): Promise<net.Socket | 'refused'> {
  return new Promise((res) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.on('error', () => undefined);
    // A refused connection is accepted by TCP then closed by the guard: wait to see which.
    s.once('connect', () => setTimeout(() => res(s.destroyed ? 'refused' : s), 1000));
    s.once('close', () => res('refused'));
  });
}

test('past max + healthReserve connections are closed at once, with one warning per burst', async (t) => {
  const lines: string[] = [];
  const log = pino({ level: 'info' }, { write: (l: string) => { lines.push(l); } });
  const server = http.createServer((_req, res) => res.end('ok'));
  const guard = guardConnections(server, { max: 2, perAddress: 100, healthReserve: 1, firstRequestMs: 60_000 }, log);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const open: net.Socket[] = [];
  t.after(() => { open.forEach((s) => s.destroy()); server.close(); });
  const port = (server.address() as net.AddressInfo).port;
  const accepted: net.Socket[] = [];
  server.on('connection', (s) => accepted.push(s));
  for (let i = 0; i < 3; i++) {
    const s = await connect(port);
    assert.notEqual(s, 'refused', `connection ${i + 1} of max 2 + reserve 1`);
    open.push(s as net.Socket);
  }
  assert.deepEqual(accepted.map((s) => guard.onReserve(s)), [false, false, true], 'the third is on the health reserve');
  for (let i = 0; i < 4; i++) assert.equal(await connect(port), 'refused', 'past max + reserve');
  const warnings = lines.filter((l) => l.includes('too many open connections in total'));
  assert.equal(warnings.length, 1, lines.join(''));
  assert.match(warnings[0]!, /"limit":"stepstone\.connections\.max"/);
  // A slot freed is a slot taken again.
  open.shift()!.destroy();
  await new Promise((r) => setTimeout(r, 300));
  const again = await connect(port);
  assert.notEqual(again, 'refused');
  open.push(again as net.Socket);
});
