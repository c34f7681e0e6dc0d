// TLS session tickets on the API port (stepstone.sessionTickets): on by default, so a client that
// keeps its session resumes without a full handshake; off, every connection is a full handshake
// (what a deployment whose clients never resume chooses to save the tickets' cost). Checked with
// openssl s_client's own session file, over TLS 1.3 and TLS 1.2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { startTestCa, type TestCa } from '../helpers/ca.ts';

/** Connects twice, the second time offering the first connection's session: 'Reused' or 'New'. */
function secondConnection(ca: TestCa, version: '-tls1_3' | '-tls1_2'): string {
  const session = join(ca.dir, `session${version}.pem`);
  const base = ['s_client', '-connect', `127.0.0.1:${ca.port}`, version, '-CAfile', ca.rootFile, '-ign_eof'];
  const input = 'GET /health HTTP/1.0\r\n\r\n';
  const first = spawnSync('openssl', [...base, '-sess_out', session], { input, encoding: 'utf8', timeout: 30_000 });
  assert.match(first.stdout, /HTTP\/1\.[01] 200/, first.stderr);
  const second = spawnSync('openssl', [...base, '-sess_in', session], { input, encoding: 'utf8', timeout: 30_000 });
  assert.match(second.stdout, /HTTP\/1\.[01] 200/, second.stderr);
  const m = /^(New|Reused), TLSv1\.[23]/m.exec(second.stdout);
  assert.ok(m, second.stdout.slice(0, 400));
  return m[1]!;
}

test('by default a client that keeps its session resumes (TLS 1.3 and 1.2)', async (t) => {
  const ca = await startTestCa();
  t.after(() => ca.cleanup());
  assert.equal(secondConnection(ca, '-tls1_3'), 'Reused');
  assert.equal(secondConnection(ca, '-tls1_2'), 'Reused');
});

test('stepstone.sessionTickets: false: no session resumes, every connection is a full handshake', async (t) => {
  const ca = await startTestCa({ configure: (c) => { c.stepstone = { ...c.stepstone, sessionTickets: false }; } });
  t.after(() => ca.cleanup());
  assert.equal(secondConnection(ca, '-tls1_3'), 'New');
  assert.equal(secondConnection(ca, '-tls1_2'), 'New');
});
