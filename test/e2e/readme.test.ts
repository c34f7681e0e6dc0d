// The README's walkthrough, run verbatim: if a newcomer can paste it, so can CI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { REPO } from '../helpers/ca.ts';

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    }).on('error', rej);
  });
}

test('README walkthrough runs and issues a certificate that openssl verifies', async () => {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const block = /## Walkthrough[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block, 'the README has a walkthrough shell block');
  const port = await freePort();
  // The block verbatim, behind a trap: a step that fails (or the deadline) must not leave its
  // background server running or its temp directory behind (issue 19).
  const harness = `trap 'exit 143' TERM\ntrap 'if [ -n "\${CA_PID:-}" ]; then kill "$CA_PID" 2>/dev/null || true; fi; [ -n "\${DEMO:-}" ] && rm -rf "$DEMO"' EXIT\n`;
  const r = spawnSync('bash', ['-euo', 'pipefail', '-c', harness + block], { cwd: REPO, env: { ...process.env, PORT: String(port) }, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `walkthrough failed:\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /subject=CN ?= ?web\.internal/);
  assert.match(r.stdout, /DNS:web\.internal, IP Address:127\.0\.0\.1/);
  assert.match(r.stdout, /web\.crt: OK/);
  assert.match(r.stdout, /\{"status":401,"message":"The request lacked necessary authorization/);
});
