// The TLS/HTTP transport under abuse (issue 12 items 2, 7, 8): renegotiation refused, every error
// in step-ca's {"status","message"} shape even when fastify or Node's parser produces it, and
// connections that idle or crowd in are closed or capped without starving /health.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { startTestCa, type TestCa } from '../helpers/ca.ts';

let ca: TestCa;

before(async () => {
  ca = await startTestCa();
});
after(() => ca.cleanup());

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
