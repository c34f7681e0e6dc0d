// The two ledger backends as test suites use them: SQLite (a file per case) and PostgreSQL (a
// randomly named database for the run, emptied before each case and dropped at the end).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import type { Ledger } from '../../src/ledger/ledger.ts';
import { openSqliteLedger } from '../../src/ledger/sqlite.ts';
import { openPostgresLedger, type PostgresLedger } from '../../src/ledger/postgres.ts';
import { pgSource } from '../../src/ledger/pg-source.ts';
import { createDatabase, postgresMissing, type TestDatabase } from './postgres.ts';
import { requireCapability } from './capability.ts';

export interface Backend {
  name: string;
  /** Why this backend cannot run here (outside CI only), else null. */
  setup(): Promise<string | null>;
  /** A ledger with nothing in it. The suite closes it. */
  fresh(): Promise<Ledger>;
  teardown(): Promise<void>;
}

export function sqliteBackend(): Backend {
  let root = '';
  let n = 0;
  return {
    name: 'sqlite',
    async setup() {
      root = fs.mkdtempSync(path.join(os.tmpdir(), 'stepstone-ledger-'));
      return null;
    },
    fresh: () => openSqliteLedger(path.join(root, `case-${++n}`, 'ledger.db')),
    async teardown() {
      if (root) fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

export function postgresBackend(): Backend & { another(): Promise<PostgresLedger> } {
  let db: TestDatabase | null = null;
  return {
    name: 'postgresql',
    async setup() {
      const missing = await postgresMissing();
      if (missing) return missing;
      db = await createDatabase();
      return null;
    },
    async fresh() {
      const ledger = await openPostgresLedger(pgSource({ type: 'postgresql', dataSource: db!.url }));
      await ledger.pool.query(`TRUNCATE certificates, used_tokens, audit_events, webhook_cursors, notices, acme_accounts, acme_orders, acme_authorizations, acme_nonces, acme_eab_keys; UPDATE crl_state SET number = 0;
        UPDATE audit_head SET seq = 0, hash = '${'0'.repeat(64)}'`);
      return ledger;
    },
    /** A second ledger on the same database, as another replica would open it (not emptied). */
    another: () => openPostgresLedger(pgSource({ type: 'postgresql', dataSource: db!.url })),
    async teardown() {
      await db?.drop();
    },
  };
}

export type OpenLedger = (t: { skip(msg: string): void; after(fn: () => Promise<void>): void }) => Promise<Ledger | null>;

/**
 * Inside a describe(): sets `backend` up before its tests and down after them, and returns
 * `open(t)`, a fresh ledger closed after the test, passed or failed (a writer thread or a pool
 * left open would keep the test process alive, issue 19); null, with the test skipped, when the
 * backend cannot run here (outside CI; under CI the test fails instead).
 */
export function useBackend(backend: Backend): OpenLedger {
  let skip: string | null = null;
  before(async () => { skip = await backend.setup(); });
  after(() => backend.teardown());
  return async (t) => {
    if (!requireCapability(t, !skip, skip)) return null;
    const l = await backend.fresh();
    t.after(() => l.close());
    return l;
  };
}
