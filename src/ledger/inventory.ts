// The ledger as an inventory (the web console's reads): one page of certificates by any search,
// and the overview's per-day series. Both backends build their SQL here, so a search means the
// same on SQLite and PostgreSQL. Pages are keyset-paged (WHERE key < last key, never OFFSET) along
// an index of the sort key (migration 0009), so page 1000 costs what page 1 does.
import type { StoredCertificate } from './ledger.js';

export type CertificateState = 'valid' | 'expiring' | 'expired' | 'revoked';
export type CertificateSort = 'issued' | 'expires' | 'subject';

export const CERTIFICATE_STATES: readonly CertificateState[] = ['valid', 'expiring', 'expired', 'revoked'];
export const CERTIFICATE_SORTS: readonly CertificateSort[] = ['issued', 'expires', 'subject'];

export interface CertificateSearch {
  /** Subject (common name) starts with this, byte for byte (an index range). */
  namePrefix?: string;
  /** Subject or any SAN contains this, byte for byte (a scan: it reads until the page is full). */
  nameContains?: string;
  /** Decimal serial, exact. */
  serial?: string;
  provisioner?: string;
  /** valid: not revoked, not expired; expiring: valid and expiring within 7 days. */
  state?: CertificateState;
  sort?: CertificateSort;
  descending?: boolean;
  /** A previous page's `next`. */
  after?: string;
  /** 1–500. */
  limit: number;
  /** Certificates a substring search reads per page at most (default SCAN_WINDOW). */
  scanWindow?: number;
  now: Date;
}

export interface CertificatePage {
  certificates: StoredCertificate[];
  /** Pass as `after` for the following page; null on the last one. */
  next: string | null;
  /**
   * A substring search stopped reading after SCAN_WINDOW certificates with fewer matches than a
   * page: `next` goes on searching from where it stopped.
   */
  searchedPart?: true;
}

export interface DayCount {
  /** Midnight UTC starting the day. */
  day: Date;
  count: number;
}

/** The overview: counts as LedgerStats has them (the CA's own serving certificates left out), and per-day series. */
export interface InventorySeries {
  /** Not revoked, not expired. */
  valid: number;
  /** Valid and expiring within 7 days. */
  expiring7d: number;
  /** Revoked, not yet expired. */
  revoked: number;
  /** Issued since midnight UTC. */
  issuedToday: number;
  /** Certificates issued on each of the last 90 days (UTC), oldest first; the last is today. Every certificate counts. */
  issuedPerDay: DayCount[];
  /** Unrevoked certificates expiring on each of the next 90 days (UTC), from today. Every certificate counts. */
  expiringPerDay: DayCount[];
}

export const SERIES_DAYS = 90;
export const DAY_MS = 86_400_000;
const EXPIRING_MS = 7 * DAY_MS;
const MAX_LIMIT = 500;

/** The differences between the two dialects that the SQL below needs. */
export interface Dialect {
  /** Adds a bound value, returns its placeholder. */
  param(v: unknown): string;
  /** Breaks ties within one sort key: SQLite's rowid (every index holds it), PostgreSQL's serial. */
  tie: 'rowid' | 'serial';
  /** Appended to `subject` where it is compared, so the index (byte order) applies. */
  subjectCollation: string;
  /** SQLite: ` INDEXED BY name` to keep the planner on the sort index; PostgreSQL: nothing. */
  indexedBy(index: string | null): string;
}

const SORT_COLUMN: Record<CertificateSort, string> = { issued: 'issued_at', expires: 'not_after', subject: 'subject' };
const SORT_INDEX: Record<CertificateSort, string> = { issued: 'certificates_issued_at', expires: 'certificates_not_after', subject: 'certificates_subject' };

/** The cursor, opaque to callers: the last row's sort value and tie-breaker. */
type Cursor = [string | number, string | number];

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

export function decodeCursor(s: string, sort: CertificateSort, tie: Dialect['tie']): Cursor {
  let c: unknown;
  try {
    c = JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
  } catch {
    throw new RangeError('searchCertificates: the page cursor is not one this ledger made');
  }
  const keyType = sort === 'subject' ? 'string' : 'number';
  const tieType = tie === 'rowid' ? 'number' : 'string';
  if (!Array.isArray(c) || c.length !== 2 || typeof c[0] !== keyType || typeof c[1] !== tieType) {
    throw new RangeError('searchCertificates: the page cursor is not one this ledger made');
  }
  return c as Cursor;
}

/**
 * A substring search cannot use an index: each page reads at most this many certificates (in
 * the page's order) looking for matches, so a rare substring costs a bounded time per page; the
 * page then says how far it got and `next` continues from there.
 */
export const SCAN_WINDOW = 20_000;

/** Everything but the substring test, with placeholders bound in the order the text uses them. */
function filters(q: CertificateSearch, d: Dialect): { where: string[]; key: string; dir: string; index: string | null } {
  if (!Number.isSafeInteger(q.limit) || q.limit < 1 || q.limit > MAX_LIMIT) throw new RangeError(`searchCertificates: limit must be 1–${MAX_LIMIT}`);
  if (q.scanWindow !== undefined && !(Number.isSafeInteger(q.scanWindow) && q.scanWindow >= 1)) throw new RangeError('searchCertificates: scanWindow must be a positive integer');
  const sort = q.sort ?? 'issued';
  const key = sort === 'subject' ? `subject${d.subjectCollation}` : SORT_COLUMN[sort];
  const now = q.now.getTime();
  const where: string[] = [];
  if (q.serial !== undefined) where.push(`serial = ${d.param(q.serial)}`);
  if (q.provisioner !== undefined) where.push(`provisioner = ${d.param(q.provisioner)}`);
  if (q.namePrefix) {
    // Every string starting with the prefix sorts between it and it + the highest code point.
    where.push(`subject${d.subjectCollation} >= ${d.param(q.namePrefix)} AND subject${d.subjectCollation} < ${d.param(`${q.namePrefix}\u{10FFFF}`)}`);
  }
  switch (q.state) {
    case 'valid': where.push(`revoked_at IS NULL AND not_after > ${d.param(now)}`); break;
    case 'expiring': where.push(`revoked_at IS NULL AND not_after > ${d.param(now)} AND not_after <= ${d.param(now + EXPIRING_MS)}`); break;
    case 'expired': where.push(`not_after <= ${d.param(now)}`); break;
    case 'revoked': where.push('revoked_at IS NOT NULL'); break;
    case undefined: break;
  }
  const desc = q.descending ?? sort === 'issued';
  if (q.after !== undefined) {
    const [k, t] = decodeCursor(q.after, sort, d.tie);
    const op = desc ? '<' : '>';
    // Written so the leading comparison is an index range on the sort key. (Each placeholder
    // binds anew: SQLite's are positional.)
    where.push(`${key} ${op}= ${d.param(k)} AND (${key} ${op} ${d.param(k)} OR ${d.tie} ${op} ${d.param(t)})`);
  }
  return { where, key, dir: desc ? 'DESC' : 'ASC', index: chooseIndex(q, sort) };
}

const whereClause = (where: string[]) => (where.length ? ` WHERE ${where.join(' AND ')}` : '');

/**
 * The statement for one page: limit + 1 rows, so the caller knows whether another page follows.
 * `columns` is what the backend selects: its stored columns plus the tie-breaker as `tie`.
 */
export function searchSql(q: CertificateSearch, d: Dialect, columns: string): string {
  const f = filters(q, d);
  const from = `certificates${d.indexedBy(f.index)}${whereClause(f.where)}`;
  if (!q.nameContains) return `SELECT ${columns} FROM ${from} ORDER BY ${f.key} ${f.dir}, ${d.tie} ${f.dir} LIMIT ${d.param(q.limit + 1)}`;
  const window = `SELECT ${columns} FROM ${from} ORDER BY ${f.key} ${f.dir}, ${d.tie} ${f.dir} LIMIT ${d.param(q.scanWindow ?? SCAN_WINDOW)}`;
  const find = (col: string) => (d.tie === 'rowid' ? `instr(${col}, ${d.param(q.nameContains)}) > 0` : `strpos(${col}, ${d.param(q.nameContains)}) > 0`);
  // SANs are a JSON array: a needle with a quote or backslash would match its punctuation.
  const contains = /["\\]/.test(q.nameContains) ? find('subject') : `(${find('subject')} OR ${find('sans')})`;
  return `SELECT * FROM (${window}) AS w WHERE ${contains} ORDER BY ${f.key} ${f.dir}, tie ${f.dir} LIMIT ${d.param(q.limit + 1)}`;
}

/**
 * For a substring search whose page came back short: the last certificate its window read, or no
 * row when the window reached the end (nothing left to search).
 */
export function windowEndSql(q: CertificateSearch, d: Dialect): string {
  const f = filters(q, d);
  return `SELECT ${f.key} AS k, ${d.tie} AS tie FROM certificates${d.indexedBy(f.index)}${whereClause(f.where)} ORDER BY ${f.key} ${f.dir}, ${d.tie} ${f.dir} LIMIT 1 OFFSET ${d.param((q.scanWindow ?? SCAN_WINDOW) - 1)}`;
}

/**
 * Which index a page should read (SQLite follows it; PostgreSQL's planner has statistics and
 * chooses itself). A serial or a name prefix narrows to a few rows by its own index; a provisioner
 * in issue order has its compound index; anything else walks the sort key's index, filtering as
 * it goes, and stops when the page is full. Revoked certificates are few: their partial index,
 * then a sort, beats walking a million valid ones.
 */
function chooseIndex(q: CertificateSearch, sort: CertificateSort): string | null {
  if (q.serial !== undefined) return null;
  if (q.namePrefix) return 'certificates_subject';
  if (q.provisioner !== undefined && sort === 'issued') return 'certificates_provisioner_issued_at';
  if (q.state === 'revoked') return 'certificates_revoked_at';
  return SORT_INDEX[sort];
}

/** The cursor after a window that ended short of a full page (windowEndSql's row). */
export function windowCursor(end: { k: string | number; tie: string | number }): string {
  return encodeCursor([end.k, end.tie]);
}

/** Splits limit + 1 rows into the page and the cursor after it. */
export function toPage<R extends { serial: string; issued_at: number; not_after: number; subject: string }>(
  rows: (R & { tie: string | number })[], q: CertificateSearch, map: (r: R) => StoredCertificate,
): CertificatePage {
  const more = rows.length > q.limit;
  const page = more ? rows.slice(0, q.limit) : rows;
  const last = page.at(-1);
  const sort = q.sort ?? 'issued';
  const key = last && (sort === 'issued' ? last.issued_at : sort === 'expires' ? last.not_after : last.subject);
  return { certificates: page.map(map), next: more && last ? encodeCursor([key!, last.tie]) : null };
}

/** Midnight UTC of the day `t` falls in. */
export function dayStart(t: number): number {
  return Math.floor(t / DAY_MS) * DAY_MS;
}

/** The day buckets a series query returned, as SERIES_DAYS entries from `from` (missing days are 0). */
export function fillDays(from: number, rows: { d: number; n: number }[], minus: { d: number; n: number }[] = []): DayCount[] {
  const counts = new Array<number>(SERIES_DAYS).fill(0);
  for (const r of rows) if (r.d >= 0 && r.d < SERIES_DAYS) counts[Number(r.d)]! += Number(r.n);
  for (const r of minus) if (r.d >= 0 && r.d < SERIES_DAYS) counts[Number(r.d)]! -= Number(r.n);
  return counts.map((count, i) => ({ day: new Date(from + i * DAY_MS), count }));
}

/** A statement and the values bound to it. */
export interface Bound { text: string; values: unknown[] }

/**
 * The series' statements, each with a dialect of its own (`dialect()` starts a fresh list of
 * values). Each reads one index only: issued_at for issuance; not_after for the horizon, from
 * which the revoked certificates (their partial index) are subtracted, since asking every row
 * whether it is revoked would read the table.
 */
export interface SeriesStatements { issued: Bound; expiring: Bound; revokedExpiring: Bound; tail: Bound; revokedLive: Bound; servingLive: Bound; servingToday: Bound }

export function seriesSql(dialect: () => Dialect & { values: unknown[] }, now: number): SeriesStatements {
  const { issuedFrom, today } = seriesOrigins(now);
  const horizonEnd = today + SERIES_DAYS * DAY_MS;
  const bound = (build: (d: Dialect) => string): Bound => {
    const d = dialect();
    const text = build(d);
    return { text, values: d.values };
  };
  // CAST: SQLite binds a JS number as a real, which would make the division fractional.
  // CAST: SQLite binds a JS number as a real, which would make the division fractional.
  const day = (d: Dialect, col: string, from: number) => `CAST((${col} - ${d.param(from)}) / ${DAY_MS} AS INTEGER)`;
  // One range count per day: each reads only its slice of the index, where a GROUP BY over the
  // computed day would sort every entry (SQLite builds a temporary b-tree for it).
  // `more` is called where its text goes: SQLite's placeholders bind in the order they appear.
  const perDay = (d: Dialect, col: string, from: number, index: string, more: () => string = () => '') => `WITH RECURSIVE days(d) AS (SELECT 0 UNION ALL SELECT d + 1 FROM days WHERE d < ${SERIES_DAYS - 1})
    SELECT d, (SELECT count(*) FROM certificates${d.indexedBy(index)} WHERE ${col} >= ${d.param(from)} + CAST(d AS BIGINT) * ${DAY_MS}
      AND ${col} < ${d.param(from)} + CAST(d + 1 AS BIGINT) * ${DAY_MS}${more()}) AS n FROM days`;
  return {
    issued: bound((d) => perDay(d, 'issued_at', issuedFrom, 'certificates_issued_at')),
    expiring: bound((d) => perDay(d, 'not_after', today, 'certificates_not_after', () => ` AND not_after > ${d.param(now)}`)),
    revokedExpiring: bound((d) => `SELECT ${day(d, 'not_after', today)} AS d, count(*) AS n FROM certificates${d.indexedBy('certificates_revoked_at')} WHERE revoked_at IS NOT NULL AND not_after > ${d.param(now)} AND not_after < ${d.param(horizonEnd)} GROUP BY 1`),
    // The counts: every unexpired certificate is in the per-day horizon above or beyond it (n),
    // and those expiring within 7 days are its first 7 days plus the start of the 8th (e); less
    // the revoked (their partial index; the serving ones among them are in the next count) and the
    // serving ones (theirs). So the not_after index is read once, not twice.
    tail: bound((d) => `SELECT (SELECT count(*) FROM certificates${d.indexedBy('certificates_not_after')} WHERE not_after >= ${d.param(horizonEnd)}) AS n,
      (SELECT count(*) FROM certificates${d.indexedBy('certificates_not_after')} WHERE not_after >= ${d.param(today + EXPIRING_MS)} AND not_after <= ${d.param(now + EXPIRING_MS)}) AS e`),
    revokedLive: bound((d) => `SELECT count(*) AS n, count(*) FILTER (WHERE not_after <= ${d.param(now + EXPIRING_MS)}) AS e FROM certificates${d.indexedBy('certificates_revoked_at')} WHERE revoked_at IS NOT NULL AND not_after > ${d.param(now)} AND method <> 'serving'`),
    servingLive: bound((d) => `SELECT count(*) AS n, count(*) FILTER (WHERE not_after <= ${d.param(now + EXPIRING_MS)}) AS e FROM certificates${d.indexedBy('certificates_serving')} WHERE method = 'serving' AND not_after > ${d.param(now)}`),
    servingToday: bound((d) => `SELECT count(*) AS n, 0 AS e FROM certificates${d.indexedBy('certificates_serving')} WHERE method = 'serving' AND issued_at >= ${d.param(today)}`),
  };
}

export function seriesOrigins(now: number): { issuedFrom: number; today: number } {
  return { issuedFrom: dayStart(now) - (SERIES_DAYS - 1) * DAY_MS, today: dayStart(now) };
}

type Days = { d: number; n: number }[];
type Count = { n: number; e: number };

/** The overview from the statements' rows (one row each for the counts). */
export function toSeries(now: number, r: { issued: Days; expiring: Days; revokedExpiring: Days; tail: Count; revokedLive: Count; servingLive: Count; servingToday: Count }): InventorySeries {
  const { issuedFrom, today } = seriesOrigins(now);
  const issuedPerDay = fillDays(issuedFrom, r.issued);
  const n = (c: Count) => Number(c.n);
  const e = (c: Count) => Number(c.e);
  const horizon = fillDays(today, r.expiring).map((x) => x.count);
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const live = { n: sum(horizon) + n(r.tail), e: sum(horizon.slice(0, EXPIRING_MS / DAY_MS)) + e(r.tail) };
  return {
    valid: live.n - n(r.revokedLive) - n(r.servingLive),
    expiring7d: live.e - e(r.revokedLive) - e(r.servingLive),
    revoked: n(r.revokedLive),
    issuedToday: issuedPerDay.at(-1)!.count - n(r.servingToday),
    issuedPerDay,
    expiringPerDay: fillDays(today, r.expiring, r.revokedExpiring),
  };
}
