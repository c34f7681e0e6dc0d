// Appending to the audit hash chain inside a SQLite write transaction. The head is read inside
// the transaction that extends it, and SQLite lets one writer in at a time (BEGIN IMMEDIATE), so
// whichever connection writes (the writer thread, or the server's own for revocations) continues
// the one chain. Used by issuance-batch.ts (in the writer thread) and sqlite-events.ts.
import type Database from 'better-sqlite3';
import { AUDIT_COLUMNS, extendChain, type AuditRowValues, type ChainHead } from './audit-chain.js';

export interface ChainWriter {
  /** The head as committed (call inside the write transaction). */
  head(): ChainHead;
  /** Inserts `rows` after `head` and returns the new head; save it before the transaction ends. */
  append(head: ChainHead, rows: AuditRowValues[]): ChainHead;
  save(head: ChainHead): void;
}

/** Rows per INSERT statement: a batch's events go in a few calls rather than one per row. */
const CHUNK = 16;
const PLACEHOLDERS = `(${Array(AUDIT_COLUMNS.split(', ').length + 3).fill('?').join(', ')})`;

/** Statements are prepared on first use, so a connection that never appends needs no audit tables. */
export function chainWriter(db: Database.Database): ChainWriter {
  let s: { readHead: Database.Statement<[], ChainHead>; one: Database.Statement; chunk: Database.Statement; writeHead: Database.Statement<[number, string]> } | null = null;
  const statements = () => {
    if (s) return s;
    const insert = (n: number) => db.prepare(`INSERT INTO audit_events (seq, ${AUDIT_COLUMNS}, prev_hash, hash) VALUES ${Array(n).fill(PLACEHOLDERS).join(', ')}`);
    s = {
      readHead: db.prepare<[], ChainHead>('SELECT seq, hash FROM audit_head WHERE id = 1'),
      one: insert(1),
      chunk: insert(CHUNK),
      writeHead: db.prepare<[number, string]>('UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1'),
    };
    return s;
  };
  return {
    head: () => statements().readHead.get()!,
    append(head, rows) {
      const { values, head: next } = extendChain(head, rows);
      const st = statements();
      let i = 0;
      for (; i + CHUNK <= values.length; i += CHUNK) st.chunk.run(values.slice(i, i + CHUNK).flat());
      for (; i < values.length; i++) st.one.run(values[i]);
      return next;
    },
    save(head) {
      statements().writeHead.run(head.seq, head.hash);
    },
  };
}
