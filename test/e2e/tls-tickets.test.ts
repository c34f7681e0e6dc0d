// TLS session tickets on the API port (stepstone.sessionTickets): on by default, so a client that
// keeps its session resumes without a full handshake; off, every connection is a full handshake
// (what a deployment whose clients never resume chooses to save the tickets' cost). Checked with
// openssl s_client's own session file, over TLS 1.3 and TLS 1.2. How many tickets a TLS 1.3
// handshake sends is set by config/openssl.cnf, which bin/stepstone's launcher line gives node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestCa, type TestCa } from '../helpers/ca.ts';

/** The NewSessionTicket messages one full TLS 1.3 handshake brings (openssl s_client -msg). */
function ticketsPerHandshake(ca: TestCa): number {
  const r = spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${ca.port}`, '-tls1_3', '-CAfile', ca.rootFile, '-msg', '-ign_eof'],
    { input: 'GET /health HTTP/1.0\r\n\r\n', encoding: 'utf8', timeout: 30_000 });
  assert.match(r.stdout, /HTTP\/1\.[01] 200/, r.stderr);
  return (r.stdout.match(/<<< TLS 1\.3, Handshake \[length [0-9a-f]+\], NewSessionTicket/g) ?? []).length;
}

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

test('run as a program, serve sends one TLS 1.3 ticket per handshake, as step-ca does, and a client still resumes', async (t) => {
  // `node bin/stepstone` skips the launcher line: OpenSSL 3.0's default of two tickets.
  const plain = await startTestCa();
  t.after(() => plain.cleanup());
  assert.equal(ticketsPerHandshake(plain), 2);

  const ca = await startTestCa({ asProgram: true, env: { OPENSSL_CONF: '', MALLOC_ARENA_MAX: '' } });
  t.after(() => ca.cleanup());
  assert.equal(ticketsPerHandshake(ca), 1);
  assert.equal(secondConnection(ca, '-tls1_3'), 'Reused');
  assert.equal(secondConnection(ca, '-tls1_2'), 'Reused');
  // The rest of what the launcher line gives: V8's young generation cap and old generation growth,
  // and glibc's arena cap.
  const pid = ca.proc.pid!;
  const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  assert.ok(cmdline.includes('--max-semi-space-size=4'), cmdline.join(' '));
  assert.ok(cmdline.includes('--heap-growing-percent=50'), cmdline.join(' '));
  assert.ok(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes('MALLOC_ARENA_MAX=2'));
});

test("run as a program, an operator's OPENSSL_CONF is used instead of config/openssl.cnf", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stepstone-openssl-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const conf = join(dir, 'openssl.cnf');
  writeFileSync(conf, 'nodejs_conf = init\n[init]\nssl_conf = ssl\n[ssl]\nsystem_default = tls\n[tls]\nNumTickets = 0\n');
  const ca = await startTestCa({ asProgram: true, env: { OPENSSL_CONF: conf } });
  t.after(() => ca.cleanup());
  // NumTickets = 0 there: nothing to resume with (s_client then has no session to save).
  assert.equal(ticketsPerHandshake(ca), 0);
});
