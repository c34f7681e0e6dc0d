// Group commit on PostgreSQL: a whole batch of issuances is ONE statement, so one round trip and
// one commit (one WAL flush) however many certificates it carries. The token check is inside it:
// each token is inserted with ON CONFLICT DO NOTHING, and a certificate row goes in only when its
// token did. A token another replica is spending at the same moment makes this statement wait on
// the unique index until that transaction ends, then skip: one token, one certificate, cluster-wide.
import type { Pool } from 'pg';
import type { IssuanceItem, ItemOutcome } from './issuance-batch.js';
import { isConnectionLoss } from './pg-errors.js';

/** The whole batch failed; `outcomeUnknown` when the connection went while the commit was pending. */
export class PgBatchFailed extends Error {
  constructor(override readonly cause: unknown, readonly outcomeUnknown: boolean) {
    super((cause as Error)?.message ?? String(cause));
  }
}

const COLUMNS = ['serial', 'subject', 'sans', 'not_before', 'not_after', 'fingerprint', 'provisioner', 'pem', 'issued_at', 'method', 'replaces'] as const;
const TYPES = ['text', 'text', 'text', 'int8', 'int8', 'text', 'text', 'text', 'int8', 'text', 'text'];

// Arrays in, one row per item out of unnest; $12..$14 are the tokens (NULL jti: no token).
const BATCH_SQL = `
WITH input AS (
  SELECT * FROM unnest(${TYPES.map((t, i) => `$${i + 1}::${t}[]`).join(', ')}, $12::text[], $13::text[], $14::int8[])
    AS t(${COLUMNS.join(', ')}, jti, token_provisioner, token_expires)
), spent AS (
  INSERT INTO used_tokens (jti, provisioner, expires_at, used_at)
  SELECT jti, token_provisioner, token_expires, $15::int8 FROM input WHERE jti IS NOT NULL
  ON CONFLICT (jti) DO NOTHING
  RETURNING jti
), issued AS (
  INSERT INTO certificates (${COLUMNS.join(', ')})
  SELECT ${COLUMNS.join(', ')} FROM input WHERE jti IS NULL OR jti IN (SELECT jti FROM spent)
  RETURNING serial
)
SELECT serial FROM issued`;

function params(items: IssuanceItem[]): unknown[] {
  const cols = COLUMNS.map((c) => items.map((it) => it.row[c]));
  return [...cols, items.map((it) => it.token?.jti ?? null), items.map((it) => it.token?.provisioner ?? null),
    items.map((it) => it.token?.expiresAt ?? null), Date.now()];
}

async function runBatch(pool: Pool, items: IssuanceItem[]): Promise<Set<string>> {
  const { rows } = await pool.query<{ serial: string }>({ name: 'stepstone_issue_batch', text: BATCH_SQL, values: params(items) });
  return new Set(rows.map((r) => r.serial));
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
  let issued: Set<string>;
  try {
    issued = await runBatch(pool, live);
  } catch (err) {
    if (isConnectionLoss(err)) throw new PgBatchFailed(err, true);
    const code = (err as { code?: unknown }).code;
    // A constraint broken by one row (a duplicate serial, an unknown `replaces`) fails the whole
    // statement: retry each item alone, so only that one fails. Anything else fails them all.
    if (typeof code !== 'string' || !code.startsWith('23')) throw new PgBatchFailed(err, false);
    return commitOneByOne(pool, items, outcomes);
  }
  return items.map((it, i) => outcomes[i] ?? (issued.has(it.row.serial) ? null : { tokenUsed: it.token?.jti ?? '' }));
}

async function commitOneByOne(pool: Pool, items: IssuanceItem[], outcomes: ItemOutcome[]): Promise<ItemOutcome[]> {
  const result: ItemOutcome[] = [];
  for (const [i, item] of items.entries()) {
    if (outcomes[i] !== null) {
      result.push(outcomes[i]!);
      continue;
    }
    try {
      const issued = await runBatch(pool, [item]);
      result.push(issued.has(item.row.serial) ? null : { tokenUsed: item.token?.jti ?? '' });
    } catch (err) {
      if (isConnectionLoss(err)) throw new PgBatchFailed(err, true);
      const code = (err as { code?: unknown }).code;
      result.push({ code: typeof code === 'string' ? code : undefined, message: (err as Error).message });
    }
  }
  return result;
}
