// The audit trail's hash chain, shared by every ledger backend and by `ledger verify`: one
// canonical encoding of a row's content, SHA-256 over the previous row's hash and that encoding,
// and the check that walks the chain and names the first row that breaks it.
import { hash } from 'node:crypto';
import type { AuditEvent, AuditEventInput } from './events.js';

export const GENESIS_HASH = '0'.repeat(64);

/** A row's content as stored: exactly the values the hash covers (no seq: position is the chain's job). */
export interface AuditRowValues {
  id: string;
  time: number;
  type: string;
  actor: string | null;
  request_id: string | null;
  replica: string | null;
  client_address: string | null;
  provisioner: string | null;
  subject: string | null;
  /** JSON array text, as stored. */
  sans: string | null;
  serial: string | null;
  outcome: string | null;
  reason: string | null;
  count: number;
}

export interface StoredAuditRow extends AuditRowValues {
  seq: number;
  prev_hash: string;
  hash: string;
}

export interface ChainHead { seq: number; hash: string }

export const AUDIT_COLUMNS = 'id, time, type, actor, request_id, replica, client_address, provisioner, subject, sans, serial, outcome, reason, count';

/**
 * A JSON array in a fixed field order: JSON.stringify of strings, integers and nulls is
 * deterministic, and the leading tag versions the encoding. Numbers are normalised because a
 * driver may hand a BIGINT back as a string.
 */
export function canonical(r: AuditRowValues): string {
  return JSON.stringify([
    'stepstone-audit-1', r.id, Number(r.time), r.type, r.actor, r.request_id, r.replica, r.client_address,
    r.provisioner, r.subject, r.sans, r.serial, r.outcome, r.reason, Number(r.count),
  ]);
}

export function chainHash(prevHash: string, r: AuditRowValues): string {
  return hash('sha256', `${prevHash}\n${canonical(r)}`, 'hex');
}

/** An event as the columns that store it. */
export function toAuditRow(e: AuditEventInput): AuditRowValues {
  const time = e.time.getTime();
  if (!Number.isFinite(time)) throw new RangeError('audit event: time is not a valid date');
  return {
    id: e.id,
    time,
    type: e.type,
    actor: e.actor ?? null,
    request_id: e.requestId ?? null,
    replica: e.replica ?? null,
    client_address: e.clientAddress ?? null,
    provisioner: e.provisioner ?? null,
    subject: e.subject ?? null,
    sans: e.sans ? JSON.stringify(e.sans) : null,
    serial: e.serial ?? null,
    outcome: e.outcome ?? null,
    reason: e.reason ?? null,
    count: e.count ?? 1,
  };
}

/** The column values of a stored row, in AUDIT_COLUMNS order after seq, then prev_hash and hash. */
export function storedValues(r: AuditRowValues, seq: number, prevHash: string, h: string): unknown[] {
  return [seq, r.id, r.time, r.type, r.actor, r.request_id, r.replica, r.client_address, r.provisioner, r.subject, r.sans, r.serial, r.outcome, r.reason, r.count, prevHash, h];
}

/** Appends rows to a chain whose head is `head`: each row's values (storedValues), and the new head. */
export function extendChain(head: ChainHead, rows: AuditRowValues[]): { values: unknown[][]; head: ChainHead } {
  let { seq, hash: h } = head;
  const values = rows.map((r) => {
    const prev = h;
    h = chainHash(prev, r);
    return storedValues(r, ++seq, prev, h);
  });
  return { values, head: { seq, hash: h } };
}

export type ChainProblemKind = 'edited' | 'deleted' | 'inserted' | 'reordered';

export interface ChainProblem {
  kind: ChainProblemKind;
  /** The first row that is not what the chain says it should be. */
  seq: number;
  message: string;
}

export interface ChainReport {
  events: number;
  head: ChainHead;
  /** The first break, or null when the chain is whole. */
  problem: ChainProblem | null;
}

/**
 * Walks `rows` (in seq order) and checks each against its own hash, its position and the row
 * before it, then the last against the recorded head. Stops at the first break: everything after
 * a break is misaligned, and the first bad row is what an investigator needs. `seqOfHash` finds
 * the row holding a hash (a scan is fine: it runs once, at a break) to tell a deletion from an
 * insertion or a reordering.
 */
export async function verifyChain(
  rows: Iterable<StoredAuditRow> | AsyncIterable<StoredAuditRow>, recordedHead: ChainHead, seqOfHash: (hash: string) => Promise<number | null>,
): Promise<ChainReport> {
  let prev: ChainHead = { seq: 0, hash: GENESIS_HASH };
  let events = 0;
  const report = (problem: ChainProblem) => ({ events, head: recordedHead, problem });
  for await (const raw of rows) {
    const r = { ...raw, seq: Number(raw.seq) };
    events++;
    if (chainHash(r.prev_hash, r) !== r.hash) {
      return report({ kind: 'edited', seq: r.seq, message: `audit event ${r.seq} was edited: its content does not match its hash` });
    }
    if (r.seq !== prev.seq + 1) {
      const missing = r.seq - 1 === prev.seq + 1 ? `${prev.seq + 1}` : `${prev.seq + 1}-${r.seq - 1}`;
      return report({ kind: 'deleted', seq: prev.seq + 1, message: `audit event ${missing} ${missing.includes('-') ? 'were' : 'was'} deleted: the chain jumps from ${prev.seq} to ${r.seq}` });
    }
    if (r.prev_hash !== prev.hash) {
      const follows = await seqOfHash(r.prev_hash);
      if (follows === null) {
        return report({ kind: 'deleted', seq: r.seq, message: `an audit event before ${r.seq} was deleted: ${r.seq} follows a row that no longer exists` });
      }
      if (follows < prev.seq) {
        return report({ kind: 'inserted', seq: follows + 1, message: `audit event ${follows + 1} was inserted: ${r.seq} was written after ${follows}` });
      }
      return report({ kind: 'reordered', seq: r.seq, message: `audit event ${r.seq} is out of order: it was written after the row now at ${follows}` });
    }
    prev = { seq: r.seq, hash: r.hash };
  }
  const head = { seq: Number(recordedHead.seq), hash: recordedHead.hash };
  if (head.seq > prev.seq) {
    return report({ kind: 'deleted', seq: prev.seq + 1, message: `audit event ${prev.seq + 1}${head.seq > prev.seq + 1 ? `-${head.seq}` : ''} deleted: the chain head records ${head.seq} events` });
  }
  if (head.seq < prev.seq) {
    return report({ kind: 'inserted', seq: head.seq + 1, message: `audit event ${head.seq + 1} was inserted after the last recorded event (${head.seq})` });
  }
  if (head.hash !== prev.hash) {
    return report({ kind: 'edited', seq: prev.seq, message: `audit event ${prev.seq} does not match the chain head's hash` });
  }
  return { events, head, problem: null };
}

/** A stored row as the event it records. */
export function fromAuditRow(r: StoredAuditRow): AuditEvent {
  return {
    seq: Number(r.seq),
    id: r.id,
    time: new Date(Number(r.time)),
    type: r.type,
    actor: r.actor,
    requestId: r.request_id,
    replica: r.replica,
    clientAddress: r.client_address,
    provisioner: r.provisioner,
    subject: r.subject,
    sans: r.sans === null ? null : (JSON.parse(r.sans) as string[]),
    serial: r.serial,
    outcome: r.outcome,
    reason: r.reason,
    count: Number(r.count),
    hash: r.hash,
  };
}
