// `ledger events`: the audit trail, read from the ledger on the CA's machine; --follow tails it.
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { AuditEvent, EventQuery, Ledger } from '../ledger/ledger.js';
import { AUDIT_EVENT_TYPES } from '../ledger/events.js';
import { parseDuration } from '../util/duration.js';
import { CliError, collect } from './common.js';
import { withLedger } from './ledger.js';

interface EventsOpts { home?: string; since?: string; type?: string[]; json?: boolean; follow?: boolean; limit?: number }

const FOLLOW_POLL_MS = 500;
const PAGE = 500;

/** '1h' is an hour ago; anything else must be an RFC 3339 time. */
function parseSince(text: string, now: Date): Date {
  const d = parseDuration(text);
  if (d !== null) return new Date(now.getTime() - Math.abs(d));
  const t = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i.test(text) ? new Date(text) : null;
  if (!t || Number.isNaN(t.getTime())) throw new CliError(`--since: '${text}' is neither a duration such as 1h nor an RFC 3339 time`, 2);
  return t;
}

function parseLimit(v: string): number {
  if (!/^\d+$/.test(v) || Number(v) < 1 || !Number.isSafeInteger(Number(v))) throw new InvalidArgumentError('expected a positive integer');
  return Number(v);
}

const iso = (d: Date) => d.toISOString();

function jsonOf(e: AuditEvent): Record<string, unknown> {
  return {
    seq: e.seq, id: e.id, time: iso(e.time), type: e.type, outcome: e.outcome, reason: e.reason, count: e.count,
    provisioner: e.provisioner, subject: e.subject, sans: e.sans, serial: e.serial, actor: e.actor,
    requestId: e.requestId, replica: e.replica, clientAddress: e.clientAddress, hash: e.hash,
  };
}

function lineOf(e: AuditEvent): string {
  const what = [e.outcome, e.reason].filter(Boolean).join(': ');
  const who = e.subject ? `${e.subject}${e.serial ? ` (${e.serial})` : ''}` : (e.serial ?? '');
  const cols = [String(e.seq), iso(e.time), e.type, what || '-', who || '-', e.provisioner ?? '-', e.clientAddress ?? '-', e.count > 1 ? `x${e.count}` : ''];
  return cols.join('  ').trimEnd();
}

export function registerLedgerEvents(group: Command): void {
  group.command('events')
    .description('read the audit trail, oldest first: issued, renewed, rekeyed, revoked, refused, admin, expiry notices')
    .option('--home <dir>', 'the CA\'s directory (default $STEPPATH or ~/.step)')
    .option('--since <duration|time>', 'only events since this long ago (e.g. 1h) or this RFC 3339 time')
    .option('--type <type>', `only these types, comma separated or repeated (${AUDIT_EVENT_TYPES.join(', ')})`, collect)
    .option('--limit <n>', 'at most this many (without --since: the newest n; default 100)', parseLimit)
    .option('--json', 'one JSON object per line')
    .option('-f, --follow', 'keep printing events as they are written (Ctrl-C stops)')
    .action(async (o: EventsOpts) => {
      const types = o.type;
      for (const t of types ?? []) {
        if (!(AUDIT_EVENT_TYPES as readonly string[]).includes(t)) throw new CliError(`--type: '${t}' is not an event type (${AUDIT_EVENT_TYPES.join(', ')})`, 2);
      }
      const since = o.since === undefined ? undefined : parseSince(o.since, new Date());
      const print = (e: AuditEvent) => process.stdout.write(`${o.json ? JSON.stringify(jsonOf(e)) : lineOf(e)}\n`);
      await withLedger(o.home, async (ledger) => {
        await ledger.events.head().catch((e: unknown) => {
          // A ledger no server of this version has opened yet has no audit tables.
          if (/no such table|does not exist/.test((e as Error).message)) throw new CliError('this ledger has no audit trail yet: start `stepstone serve` on it once to migrate it');
          throw e;
        });
        let last = await printBacklog(ledger, { since, types, limit: o.limit ?? (since ? Infinity : o.follow ? 10 : 100) }, print, since === undefined);
        if (!o.follow) return;
        let stop = false;
        const onSignal = () => { stop = true; };
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        while (!stop) {
          await new Promise((r) => setTimeout(r, FOLLOW_POLL_MS));
          for (;;) {
            const batch = await ledger.events.list({ afterSeq: last, types, limit: PAGE, order: 'asc' });
            batch.forEach(print);
            if (batch.length) last = batch[batch.length - 1]!.seq;
            if (batch.length < PAGE) break;
          }
        }
      });
    });
}

/**
 * Prints what is already there; returns the seq to follow from: the last one printed (nothing
 * matching can lie between it and the head read before listing), else that head.
 */
async function printBacklog(ledger: Ledger, q: Omit<EventQuery, 'order'>, print: (e: AuditEvent) => void, newest: boolean): Promise<number> {
  const head = (await ledger.events.head()).seq;
  let printed: number | null = null;
  if (newest) {
    // The newest `limit`, shown oldest first.
    const page = await ledger.events.list({ ...q, order: 'desc' });
    page.reverse().forEach(print);
    printed = page.at(-1)?.seq ?? null;
  } else {
    let left = q.limit;
    while (left > 0) {
      const batch = await ledger.events.list({ ...q, afterSeq: printed ?? 0, limit: Math.min(PAGE, left), order: 'asc' });
      batch.forEach(print);
      left -= batch.length;
      if (batch.length) printed = batch[batch.length - 1]!.seq;
      if (batch.length < PAGE) break;
    }
  }
  return printed ?? head;
}
