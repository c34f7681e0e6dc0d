// What the serving thread keeps loaded (issue 18, memory): ca.json's schemas (zod) and the ledger's
// migrator (postgrator) are needed at start and on reload only, so they run on threads that end
// (config/load-off-thread.ts, ledger/migrate-worker.ts) and never enter the server's own module
// graph. A module import added to the serving path by mistake fails here.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BIN, request, startTestCa } from '../helpers/ca.ts';

const dir = mkdtempSync(join(tmpdir(), 'stepstone-footprint-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Every module reachable from `root` through recorded imports. */
function reachable(edges: [string | null, string][], root: string): Set<string> {
  const next = new Map<string, string[]>();
  for (const [from, to] of edges) if (from) next.set(from, [...(next.get(from) ?? []), to]);
  const seen = new Set([root]);
  const todo = [root];
  while (todo.length) for (const m of next.get(todo.pop()!) ?? []) if (!seen.has(m)) { seen.add(m); todo.push(m); }
  return seen;
}

test('serve: zod and postgrator stay out of the serving thread, at start and through a reload', async () => {
  const trace = join(dir, 'modules.jsonl');
  const ca = await startTestCa({
    env: { NODE_OPTIONS: `--import ${pathToFileURL(join(import.meta.dirname, '..', 'helpers', 'module-trace.mjs')).href}`, STEPSTONE_MODULE_TRACE: trace },
  });
  try {
    assert.equal((await request(ca, 'GET', '/health')).status, 200);
    const before = ca.logs.length;
    ca.proc.kill('SIGHUP');
    for (let i = 0; i < 300 && !ca.logs.slice(before).some((l) => /configuration reloaded/.test(l)); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(ca.logs.slice(before).some((l) => /configuration reloaded/.test(l)), 'the reload happened');
  } finally {
    await ca.cleanup();
  }
  const edges = readFileSync(trace, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as [string | null, string]);
  const served = reachable(edges, pathToFileURL(BIN).href);
  const has = (re: RegExp) => [...served].filter((u) => re.test(u));
  // The trace saw the server's graph (and the check would see these if they were in it).
  assert.ok(has(/\/dist\/runtime\/serve\.js$/).length === 1 && has(/\/node_modules\/fastify\//).length > 0, 'the trace holds the serving graph');
  assert.equal(has(/\/dist\/config\/load-off-thread\.js$/).length, 1, 'the config is read through the off-thread loader');
  assert.deepEqual(has(/\/node_modules\/(zod|postgrator|glob|minimatch)\//), []);
  assert.deepEqual(has(/\/dist\/(config\/(load|schema|acme-schema|console-schema|observe-schema|policy-schema)|ledger\/migrate)\.js$/), []);
});
