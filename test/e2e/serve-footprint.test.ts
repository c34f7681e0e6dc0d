// What the serving thread keeps loaded (issue 18, memory): ca.json's schemas (zod) and the ledger's
// migrator (postgrator) are needed at start and on reload only, so they run on threads that end
// (config/load-off-thread.ts, ledger/migrate-worker.ts, ledger/migrate-postgres-worker.ts) and
// never enter the server's own module graph, on SQLite or PostgreSQL; pkijs (key encryption, for
// init and the CLI) is imported only when a key is encrypted. A module import added to the serving
// path by mistake fails here.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { BIN, request, startTestCa } from '../helpers/ca.ts';
import { createDatabase, postgresMissing } from '../helpers/postgres.ts';
import { knownVersion, PG_MIGRATIONS_DIR } from '../../src/ledger/migrations-dir.ts';

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

/** The modules reachable from bin/stepstone in a serve that started, answered and reloaded once. */
async function servingGraph(name: string, configure?: (c: Record<string, any>) => void): Promise<(re: RegExp) => string[]> {
  const trace = join(dir, `${name}.jsonl`);
  const ca = await startTestCa({
    env: { NODE_OPTIONS: `--import ${pathToFileURL(join(import.meta.dirname, '..', 'helpers', 'module-trace.mjs')).href}`, STEPSTONE_MODULE_TRACE: trace },
    configure,
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
  return has;
}

const OFF_THREAD_ONLY = /\/node_modules\/(zod|postgrator|glob|minimatch|pkijs)\//;
const OURS_OFF_THREAD_ONLY = /\/dist\/(config\/(load|schema|acme-schema|console-schema|observe-schema|policy-schema)|ledger\/(migrate|migrate-postgres))\.js$/;

test('serve: zod, postgrator and pkijs stay out of the serving thread, at start and through a reload', async () => {
  const has = await servingGraph('sqlite');
  assert.equal(has(/\/dist\/ledger\/sqlite\.js$/).length, 1, 'the SQLite ledger served');
  assert.deepEqual(has(OFF_THREAD_ONLY), []);
  assert.deepEqual(has(OURS_OFF_THREAD_ONLY), []);
});

test('serve on PostgreSQL: the migration runs on its own thread, postgrator stays out of the serving thread', async (t) => {
  const missing = await postgresMissing();
  if (missing) return t.skip(missing);
  const db = await createDatabase();
  t.after(() => db.drop());
  const has = await servingGraph('postgres', (c) => { c.db = { type: 'postgresql', dataSource: db.url }; });
  assert.equal(has(/\/dist\/ledger\/postgres\.js$/).length, 1, 'the PostgreSQL ledger served');
  assert.deepEqual(has(OFF_THREAD_ONLY), []);
  assert.deepEqual(has(OURS_OFF_THREAD_ONLY), []);
  // The thread did migrate: the schema is current.
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    const { rows } = await c.query<{ v: string }>('SELECT max(version)::text AS v FROM schema_version');
    assert.equal(Number(rows[0]!.v), knownVersion(PG_MIGRATIONS_DIR));
  } finally {
    await c.end();
  }
});
