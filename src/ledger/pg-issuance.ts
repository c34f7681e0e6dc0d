// Group commit on PostgreSQL: a whole batch of issuances is ONE statement, so one round trip and
// one commit (one WAL flush) however many certificates it carries. The token check is inside it:
// each token is inserted with ON CONFLICT DO NOTHING, and a certificate row goes in only when its
// token did. A token another replica is spending at the same moment makes this statement wait on
// the unique index until that transaction ends, then skip: one token, one certificate, cluster-wide.
// A batch that carries audit events (or webhook cursor saves) becomes one transaction: the same
// statement, then the saves, then the events appended to the chain under its head lock (pg-chain.ts).
import type { ClientBase, Pool } from 'pg';
import { LEASE_LOST, type IssuanceItem, type ItemOutcome } from './issuance-batch.js';
import { appendChain } from './pg-chain.js';
import { isConnectionLoss } from './pg-errors.js';

/** The whole batch failed; `outcomeUnknown` when the connection went while the commit was pending. */
export class PgBatchFailed extends Error {
  constructor(override readonly cause: unknown, readonly outcomeUnknown: boolean) {
    super((cause as Error)?.message ?? String(cause));
  }
}

const COLUMNS = ['serial', 'subject', 'sans', 'not_before', 'not_after', 'fingerprint', 'provisioner', 'pem', 'issued_at', 'method', 'replaces', 'issuer'] as const;
const TYPES = ['text', 'text', 'text', 'int8', 'int8', 'text', 'text', 'text', 'int8', 'text', 'text', 'text'];
// The token arrays and the spending time follow the certificate columns.
const [JTI, TOKEN_PROVISIONER, TOKEN_EXPIRES, USED_AT] = [1, 2, 3, 4].map((k) => `$${TYPES.length + k}`);

/**
 * Spends tokens: the (jti, provisioner, expires_at, used_at) rows of `rows` (a VALUES list or a
 * SELECT). A jti already spent inserts nothing; the caller tells a replay from the rows it got.
 * Issuance (the batch below) and revocation both spend through it.
 */
export const spendTokensSql = (rows: string) =>
  `INSERT INTO used_tokens (jti, provisioner, expires_at, used_at) ${rows} ON CONFLICT (jti) DO NOTHING`;

// Arrays in, one row per item out of unnest; then the tokens (NULL jti: no token).
const BATCH_SQL = `
WITH input AS (
  SELECT * FROM unnest(${TYPES.map((t, i) => `$${i + 1}::${t}[]`).join(', ')}, ${JTI}::text[], ${TOKEN_PROVISIONER}::text[], ${TOKEN_EXPIRES}::int8[])
    AS t(${COLUMNS.join(', ')}, jti, token_provisioner, token_expires)
), spent AS (
  ${spendTokensSql(`SELECT jti, token_provisioner, token_expires, ${USED_AT}::int8 FROM input WHERE jti IS NOT NULL`)}
  RETURNING jti
), issued AS (
  INSERT INTO certificates (${COLUMNS.join(', ')})
  SELECT ${COLUMNS.join(', ')} FROM input WHERE jti IS NULL OR jti IN (SELECT jti FROM spent)
  RETURNING serial
)
SELECT serial FROM issued`;

type Certified = IssuanceItem & { row: NonNullable<IssuanceItem['row']> };

function params(items: Certified[]): unknown[] {
  const cols = COLUMNS.map((c) => items.map((it) => it.row[c]));
  return [...cols, items.map((it) => it.token?.jti ?? null), items.map((it) => it.token?.provisioner ?? null),
    items.map((it) => it.token?.expiresAt ?? null), Date.now()];
}

async function runBatch(q: Pool | ClientBase, items: IssuanceItem[]): Promise<Set<string>> {
  const certified = items.filter((it): it is Certified => it.row !== undefined);
  if (!certified.length) return new Set();
  const { rows } = await q.query<{ serial: string }>({ name: 'stepstone_issue_batch', text: BATCH_SQL, values: params(certified) });
  return new Set(rows.map((r) => r.serial));
}

/** A certificate not recorded by the statement had its token spent already (the statement's only way to skip one). */
function certificateOutcomes(items: IssuanceItem[], issued: Set<string>): ItemOutcome[] {
  return items.map((it) => (!it.row || issued.has(it.row.serial) ? null : { tokenUsed: it.token?.jti ?? '' }));
}

const SAVE_CURSOR = 'UPDATE webhook_cursors SET seq = $1, attempts = $2, next_attempt_at = $3, last_error = $4 WHERE webhook = $5 AND lease_owner = $6';

/** The batch statement, the cursor saves and the chain append, in one transaction. */
async function runTransaction(pool: Pool, items: IssuanceItem[]): Promise<ItemOutcome[]> {
  const client = await pool.connect();
  let broken: unknown;
  try {
    await client.query('BEGIN');
    const outcomes = certificateOutcomes(items, await runBatch(client, items));
    for (const [i, it] of items.entries()) {
      const c = it.cursor;
      if (!c || outcomes[i] !== null) continue;
      const saved = await client.query({ name: 'stepstone_cursor_save', text: SAVE_CURSOR, values: [c.seq, c.attempts, c.nextAttemptAt, c.lastError, c.webhook, c.owner] });
      if (saved.rowCount === 0) outcomes[i] = { code: LEASE_LOST, message: `lease on webhook ${c.webhook} lost` };
    }
    await appendChain(client, items.flatMap((it, i) => (outcomes[i] === null ? it.events ?? [] : [])));
    await client.query('COMMIT');
    return outcomes;
  } catch (err) {
    if (isConnectionLoss(err)) broken = err;
    else await client.query('ROLLBACK').catch((e: unknown) => { broken = e; });
    throw err;
  } finally {
    // A connection that failed is destroyed, not handed to the next request.
    client.release(broken as Error | undefined);
  }
}

/** Issuances alone are one autocommitted statement; with events or cursor saves, a transaction. */
function commitSome(pool: Pool, items: IssuanceItem[]): Promise<ItemOutcome[]> {
  if (items.some((it) => it.events?.length || it.cursor)) return runTransaction(pool, items);
  return runBatch(pool, items).then((issued) => certificateOutcomes(items, issued));
}

/**
 * Commits `items`; resolves with each one's outcome (null: committed). Throws PgBatchFailed
 * when nothing of the batch can be known to have committed.
 */
export async function commitIssuances(pool: Pool, items: IssuanceItem[]): Promise<ItemOutcome[]> {
  // One token twice in one batch: the first copy is the one that may spend it.
  const seen = new Set<string>();
  const outcomes: ItemOutcome[] = items.map((it) => {
    const jti = it.token?.jti;
    if (jti === undefined) return null;
    if (seen.has(jti)) return { tokenUsed: jti };
    seen.add(jti);
    return null;
  });
  const live = items.filter((_, i) => outcomes[i] === null);
  let done: ItemOutcome[];
  try {
    done = await commitSome(pool, live);
  } catch (err) {
    if (isConnectionLoss(err)) throw new PgBatchFailed(err, true);
    const code = (err as { code?: unknown }).code;
    // A constraint broken by one row (a duplicate serial, an unknown `replaces`) fails the whole
    // statement: retry each item alone, so only that one fails. Anything else fails them all.
    if (typeof code !== 'string' || !code.startsWith('23')) throw new PgBatchFailed(err, false);
    return commitOneByOne(pool, items, outcomes);
  }
  let k = 0;
  return outcomes.map((o) => o ?? done[k++]!);
}

async function commitOneByOne(pool: Pool, items: IssuanceItem[], outcomes: ItemOutcome[]): Promise<ItemOutcome[]> {
  const result: ItemOutcome[] = [];
  for (const [i, item] of items.entries()) {
    if (outcomes[i] !== null) {
      result.push(outcomes[i]!);
      continue;
    }
    try {
      result.push((await commitSome(pool, [item]))[0]!);
    } catch (err) {
      if (isConnectionLoss(err)) throw new PgBatchFailed(err, true);
      const code = (err as { code?: unknown }).code;
      result.push({ code: typeof code === 'string' ? code : undefined, message: (err as Error).message });
    }
  }
  return result;
}
