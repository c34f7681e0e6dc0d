// A real PostgreSQL for tests: the shared server on 127.0.0.1:5432 (trust auth, user postgres),
// one randomly named database per test file, dropped at the end. Never mocked. Under CI the
// server must be there (.ci/run starts it); elsewhere the PostgreSQL tests skip, each with one loud line.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inCi } from './capability.ts';

export const PG_ADMIN_URL = process.env.STEPSTONE_TEST_PG ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

let reachable: Promise<string | null> | undefined;

/** null when PostgreSQL answers; else why not. Throws under CI, where a skip would be a lie. */
export async function postgresMissing(): Promise<string | null> {
  reachable ??= (async () => {
    const c = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 3000 });
    try {
      await c.connect();
      await c.query('SELECT 1');
      return null;
    } catch (e) {
      return `PostgreSQL at ${new URL(PG_ADMIN_URL).host} is not reachable (${(e as Error).message})`;
    } finally {
      await c.end().catch(() => undefined);
    }
  })();
  const why = await reachable;
  if (why && inCi()) throw new Error(`CI: ${why}; .ci/run must start it`);
  return why;
}

export interface TestDatabase {
  name: string;
  /** postgresql://postgres@127.0.0.1:5432/<name> */
  url: string;
  drop(): Promise<void>;
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>, url = PG_ADMIN_URL): Promise<T> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** A new, empty database with a random name on the server at `adminUrl`. */
export async function createDatabase(adminUrl = PG_ADMIN_URL): Promise<TestDatabase> {
  const name = `stepstone_test_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`), adminUrl);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    // FORCE: connections a failed test left open must not keep the database alive.
    drop: () => admin(async (c) => { await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`); }, adminUrl),
  };
}
