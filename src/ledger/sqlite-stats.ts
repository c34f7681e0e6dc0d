// The counts behind the certificate gauges. Each is a range scan of the not_after index, which on
// a large ledger takes long enough to matter: a file-backed ledger runs it on a thread of its own
// (stats-worker.ts) over its own read-only connection, so the event loop never waits for it.
import { statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { JobThread } from '../util/worker.js';
import type { LedgerStats } from './ledger.js';
import type { StatsJob, StatsResult } from './stats-worker.js';
import { seriesSql, toSeries, type InventorySeries } from './inventory.js';
import { sqliteDialect } from './sqlite-dialect.js';

const DAY = 86_400_000;

/** The statements, prepared once per connection; `now` in unix ms. */
export function statsQuery(db: Database.Database): (now: number) => Omit<LedgerStats, 'sizeBytes'> {
  const counts = db.prepare<[number, number], { valid: number; expiring7d: number; revoked: number }>(`
    SELECT count(*) FILTER (WHERE revoked_at IS NULL) AS valid,
           count(*) FILTER (WHERE revoked_at IS NULL AND not_after <= ?) AS expiring7d,
           count(*) FILTER (WHERE revoked_at IS NOT NULL) AS revoked
    FROM certificates WHERE not_after > ? AND method <> 'serving'`);
  const unrenewed = db.prepare<[number, number, number], number>(`
    SELECT count(*) FROM certificates c
    WHERE not_after > ? AND not_after <= ? AND revoked_at IS NULL AND method <> 'serving'
      AND ? >= not_before + (not_after - not_before) * 0.75
      AND NOT EXISTS (SELECT 1 FROM certificates r WHERE r.replaces = c.serial)`).pluck();
  return (now) => {
    const c = counts.get(now + 7 * DAY, now)!;
    return { valid: c.valid, expiring7d: c.expiring7d, revoked: c.revoked, expiringUnrenewed: unrenewed.get(now, now + DAY, now) ?? 0 };
  };
}

/** The console's per-day series (inventory.ts); `now` in unix ms. */
export function seriesQuery(db: Database.Database): (now: number) => InventorySeries {
  const cache = new Map<string, Database.Statement<unknown[], Record<string, number>>>();
  const prepared = (text: string) => {
    let stmt = cache.get(text);
    if (!stmt) cache.set(text, (stmt = db.prepare<unknown[], Record<string, number>>(text)));
    return stmt;
  };
  const all = (b: { text: string; values: unknown[] }) => prepared(b.text).all(...b.values) as { d: number; n: number }[];
  const one = (b: { text: string; values: unknown[] }) => prepared(b.text).get(...b.values) as { n: number; e: number };
  return (now) => {
    const q = seriesSql(sqliteDialect, now);
    // One read transaction, so the counts agree with each other.
    return db.transaction(() => toSeries(now, {
      issued: all(q.issued), expiring: all(q.expiring), revokedExpiring: all(q.revokedExpiring),
      tail: one(q.tail), revokedLive: one(q.revokedLive), servingLive: one(q.servingLive), servingToday: one(q.servingToday),
    }))();
  };
}

/** The ledger file and its write-ahead log, in bytes. */
export function fileBytes(file: string): number {
  let total = 0;
  for (const f of [file, `${file}-wal`]) {
    try {
      total += statSync(f).size;
    } catch {
      // no WAL yet
    }
  }
  return total;
}

export class SqliteStats {
  private readonly thread: JobThread<StatsResult> | null;
  private inline: ((now: number) => Omit<LedgerStats, 'sizeBytes'>) | null = null;
  private inlineSeries: ((now: number) => InventorySeries) | null = null;

  constructor(private readonly db: Database.Database, threaded: boolean) {
    this.thread = threaded ? new JobThread<StatsResult>('./stats-worker', import.meta.url, (why) => new Error(`ledger stats worker ${why}`), { workerData: { file: db.name }, idleMs: 60_000 }) : null;
  }

  async compute(now: Date): Promise<LedgerStats> {
    const sizeBytes = this.db.memory ? 0 : fileBytes(this.db.name);
    if (!this.thread) {
      this.inline ??= statsQuery(this.db);
      return { ...this.inline(now.getTime()), sizeBytes };
    }
    const r = await this.thread.call({ now: now.getTime() } satisfies Omit<StatsJob, 'id'>);
    if ('failed' in r) throw Object.assign(new Error(r.failed.message), { code: r.failed.code });
    if (!('stats' in r)) throw new Error('ledger stats worker answered a counts job with a series');
    return { ...r.stats, sizeBytes };
  }

  async series(now: number): Promise<InventorySeries> {
    if (!this.thread) {
      this.inlineSeries ??= seriesQuery(this.db);
      return this.inlineSeries(now);
    }
    const r = await this.thread.call({ now, kind: 'series' } satisfies Omit<StatsJob, 'id'>);
    if ('failed' in r) throw Object.assign(new Error(r.failed.message), { code: r.failed.code });
    if (!('series' in r)) throw new Error('ledger stats worker answered a series job with counts');
    return reviveSeries(r.series);
  }

  close(): Promise<void> {
    return this.thread?.close() ?? Promise.resolve();
  }
}

/** Dates cross the thread boundary as Dates (structured clone), but say so rather than trust it. */
function reviveSeries(s: InventorySeries): InventorySeries {
  const days = (xs: InventorySeries['issuedPerDay']) => xs.map((x) => ({ day: new Date(x.day), count: x.count }));
  return { ...s, issuedPerDay: days(s.issuedPerDay), expiringPerDay: days(s.expiringPerDay) };
}
