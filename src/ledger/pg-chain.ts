// Appending to the audit hash chain on PostgreSQL, for every replica at once. The head row is
// locked (SELECT ... FOR UPDATE) inside the transaction that records what the events describe,
// and the lock holds until COMMIT: replicas append one after another, each hashing from the head
// the previous one committed, so the chain is one line whatever the concurrency. The lock is taken
// last, after the transaction's certificate and token rows, so a transaction waiting on a token
// another replica is spending never holds it: the wait on the head is only ever for a commit.
import type { ClientBase } from 'pg';
import { AUDIT_COLUMNS, extendChain, type AuditRowValues } from './audit-chain.js';

// One array parameter per column, in storedValues() order: seq, the content, prev_hash, hash.
export const AUDIT_TYPES = ['int8', 'text', 'int8', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'int8', 'text', 'text'];
const APPEND_SQL = `
WITH added AS (
  INSERT INTO audit_events (seq, ${AUDIT_COLUMNS}, prev_hash, hash)
  SELECT * FROM unnest(${AUDIT_TYPES.map((t, i) => `$${i + 1}::${t}[]`).join(', ')})
)
UPDATE audit_head SET seq = $${AUDIT_TYPES.length + 1}, hash = $${AUDIT_TYPES.length + 2} WHERE id = 1`;

/** Appends `rows` to the chain. `c` must be inside a transaction: the head stays locked until it ends. */
export async function appendChain(c: ClientBase, rows: AuditRowValues[]): Promise<void> {
  if (!rows.length) return;
  const { rows: [head] } = await c.query<{ seq: number; hash: string }>({ name: 'stepstone_audit_head_lock', text: 'SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE' });
  const { values, head: next } = extendChain({ seq: Number(head!.seq), hash: head!.hash }, rows);
  const columns = AUDIT_TYPES.map((_, i) => values.map((v) => v[i]));
  await c.query({ name: 'stepstone_audit_append', text: APPEND_SQL, values: [...columns, next.seq, next.hash] });
}
