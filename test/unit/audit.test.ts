// The audit trail on both ledger backends (a real SQLite file, a real PostgreSQL database): the
// chain across issuance batches, revocations and standalone appends; refusal aggregation and its
// cap on distinct clients; admin actions paged back; expiry notices once per certificate; webhook
// cursor leases; and on PostgreSQL, two replicas appending at once into one unbroken chain.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { CaError, unauthorized } from '../../src/errors.ts';
import type { AuditEventInput, CertificateRecord, Ledger } from '../../src/ledger/ledger.ts';
import { AuditTrail } from '../../src/observe/audit.ts';
import { refusalReason } from '../../src/observe/reasons.ts';
import { postgresBackend, sqliteBackend, useBackend } from '../helpers/ledger-backends.ts';
import { cert, HOUR } from '../helpers/ledger-rows.ts';

const event = (type: AuditEventInput['type'], over: Partial<AuditEventInput> = {}): AuditEventInput => ({ id: crypto.randomUUID(), time: new Date(), type, ...over });
const jti = () => ({ jti: crypto.randomUUID(), provisioner: 'admin', expiresAt: new Date(Date.now() + HOUR) });

const pgBackend = postgresBackend();
for (const backend of [sqliteBackend(), pgBackend]) {
  describe(`audit trail: ${backend.name}`, () => {
    const open = useBackend(backend);

    test('issuances in one group commit, a revocation and standalone appends make one unbroken chain; a refused item leaves no event', async (t) => {
      const ledger = await open(t);
      if (!ledger) return;
      const certs = Array.from({ length: 20 }, () => cert());
      const replayed = cert();
      await ledger.recordIssuance(certs[0]!, { jti: 'j1', provisioner: 'admin', expiresAt: new Date(Date.now() + HOUR) }, event('issued', { serial: certs[0]!.serial }));
      // Concurrent: one batch; the replayed token fails alone, and its event with it.
      const results = await Promise.allSettled([
        ...certs.slice(1).map((c) => ledger.recordIssuance(c, undefined, event('issued', { serial: c.serial }))),
        ledger.recordIssuance(replayed, { jti: 'j1', provisioner: 'admin', expiresAt: new Date(Date.now() + HOUR) }, event('issued', { serial: replayed.serial })),
        ledger.events.append([event('admin', { actor: 'ops', outcome: 'rotate' })]),
      ]);
      assert.equal(results.filter((r) => r.status === 'rejected').length, 1);
      assert.equal(await ledger.revoke({ serial: certs[3]!.serial, reasonCode: 1, reason: 'x', revokedAt: new Date() }, undefined, event('revoked', { serial: certs[3]!.serial })), 'revoked');
      // Nothing revoked, nothing recorded.
      assert.equal(await ledger.revoke({ serial: certs[3]!.serial, reasonCode: 1, reason: 'x', revokedAt: new Date() }, undefined, event('revoked', { serial: certs[3]!.serial })), 'already_revoked');

      const all = await ledger.events.list({ limit: 100 });
      assert.equal(all.length, 22);
      assert.deepEqual(all.map((e) => e.seq), Array.from({ length: 22 }, (_, i) => i + 1));
      assert.ok(!all.some((e) => e.serial === replayed.serial));
      assert.equal(all.filter((e) => e.type === 'revoked').length, 1);
      const report = await ledger.events.verify();
      assert.equal(report.problem, null);
      assert.equal(report.events, 22);
      assert.deepEqual(report.head, { seq: 22, hash: all.at(-1)!.hash });
      // Paging both ways, and filters.
      const newest = await ledger.events.list({ limit: 5, order: 'desc' });
      assert.deepEqual(newest.map((e) => e.seq), [22, 21, 20, 19, 18]);
      assert.deepEqual((await ledger.events.list({ limit: 5, order: 'desc', beforeSeq: 18 })).map((e) => e.seq), [17, 16, 15, 14, 13]);
      assert.deepEqual((await ledger.events.list({ limit: 100, types: ['admin', 'revoked'] })).map((e) => e.type).sort(), ['admin', 'revoked']);
      assert.equal((await ledger.events.list({ limit: 100, since: new Date(Date.now() + HOUR) })).length, 0);
    });

    test('refusals: one row at once per client, reason and window, the rest aggregated; clients past the cap share a row', async (t) => {
      const ledger = await open(t);
      if (!ledger) return;
      let now = new Date('2026-01-01T00:00:00Z');
      const trail = new AuditTrail(ledger.events, { replica: 'r1', windowMs: 60_000, maxClients: 3, now: () => now });
      t.after(() => trail.close());
      const bad = unauthorized('bad signature');
      for (let i = 0; i < 100; i++) trail.refused({ op: 'sign', credential: 'token', clientAddress: '10.0.0.1', requestId: `r${i}` }, bad);
      trail.refused({ op: 'sign', credential: 'token', clientAddress: '10.0.0.1' }, new CaError('token_used', { detail: 'used' }));
      for (let c = 2; c <= 9; c++) trail.refused({ op: 'sign', credential: 'token', clientAddress: `10.0.0.${c}` }, bad);
      // A failure is not a decision: nothing recorded.
      trail.refused({ op: 'sign', credential: 'token', clientAddress: '10.0.0.1' }, new Error('disk on fire'));
      await trail.flush();
      now = new Date(now.getTime() + 61_000);
      trail.refused({ op: 'sign', credential: 'token', clientAddress: '10.0.0.1', requestId: 'later' }, bad);
      await trail.close();
      const rows = (await ledger.events.list({ limit: 100 })).map((e) => ({ client: e.clientAddress, reason: e.reason, count: e.count, requestId: e.requestId }));
      assert.deepEqual(rows, [
        { client: '10.0.0.1', reason: 'token_invalid', count: 1, requestId: 'r0' },
        { client: '10.0.0.1', reason: 'token_used', count: 1, requestId: null },
        { client: '10.0.0.2', reason: 'token_invalid', count: 1, requestId: null },
        { client: '10.0.0.3', reason: 'token_invalid', count: 1, requestId: null },
        // Written when the window closed: the 99 others from .1, and the six clients past the cap of 3.
        { client: '10.0.0.1', reason: 'token_invalid', count: 99, requestId: null },
        { client: '*', reason: 'token_invalid', count: 6, requestId: null },
        { client: '10.0.0.1', reason: 'token_invalid', count: 1, requestId: 'later' },
      ]);
      assert.equal((await ledger.events.verify()).problem, null);
    });

    test('a window rolled late by a busy event loop lasts a whole window: the overdue timer does not cut it short', async (t) => {
      const ledger = await open(t);
      if (!ledger) return;
      const windowMs = 1000;
      const trail = new AuditTrail(ledger.events, { replica: 'r1', windowMs, maxClients: 3 });
      t.after(() => trail.close());
      const bad = unauthorized('bad signature');
      const refuse = (requestId: string) => trail.refused({ op: 'sign', credential: 'token', clientAddress: '10.0.0.1', requestId }, bad);
      refuse('first');
      // Hold the loop past the window's end, so the refusal below rolls the window itself while
      // the timer is overdue.
      const until = Date.now() + windowMs + 50;
      while (Date.now() < until);
      refuse('second');
      refuse('folded-1');
      // Timers run in order of when they were due: the overdue one first, then this one.
      await new Promise((r) => setTimeout(r, 1));
      // Well inside the window that 'second' opened.
      refuse('folded-2');
      await trail.close();
      const rows = (await ledger.events.list({ limit: 100 })).map((e) => ({ count: e.count, requestId: e.requestId }));
      assert.deepEqual(rows, [
        { count: 1, requestId: 'first' },
        { count: 1, requestId: 'second' },
        { count: 2, requestId: null },
      ]);
    });

    test('admin actions append at once and read back newest first, page by page', async (t) => {
      const ledger = await open(t);
      if (!ledger) return;
      const trail = new AuditTrail(ledger.events, { replica: 'console', windowMs: 60_000, maxClients: 10 });
      try {
        for (let i = 0; i < 7; i++) await trail.admin({ actor: 'alice', action: 'provisioner.update', provisioner: `p${i}`, reason: 'rotation' });
        const first = await trail.list({ limit: 3, types: ['admin'] });
        assert.deepEqual(first.events.map((e) => e.provisioner), ['p6', 'p5', 'p4']);
        assert.equal(first.events[0]!.actor, 'alice');
        assert.equal(first.events[0]!.outcome, 'provisioner.update');
        const second = await trail.list({ limit: 3, types: ['admin'], beforeSeq: first.next! });
        assert.deepEqual(second.events.map((e) => e.provisioner), ['p3', 'p2', 'p1']);
        const last = await trail.list({ limit: 3, types: ['admin'], beforeSeq: second.next! });
        assert.deepEqual(last.events.map((e) => e.provisioner), ['p0']);
        assert.equal(last.next, null);
      } finally {
        await trail.close();
      }
    });

    test('expiry notices: once per certificate, only for the unrenewed, unrevoked and unexpired past their point', async (t) => {
      const ledger = await open(t);
      if (!ledger) return;
      const now = Date.now();
      const span = (startAgo: number, lifetime: number, over: Partial<CertificateRecord> = {}) => cert({ notBefore: new Date(now - startAgo), notAfter: new Date(now - startAgo + lifetime), ...over });
      const fresh = span(HOUR, 24 * HOUR); // 1/24 through
      const overdue = span(20 * HOUR, 24 * HOUR); // 5/6 through: past 3/4, not yet 9/10
      const expiring = span(22 * HOUR, 24 * HOUR); // 11/12 through: both notices
      const renewedOld = span(22 * HOUR, 24 * HOUR);
      const revoked = span(22 * HOUR, 24 * HOUR);
      const expired = span(30 * HOUR, 24 * HOUR);
      for (const c of [fresh, overdue, expiring, renewedOld, revoked, expired]) await ledger.recordIssuance(c);
      await ledger.recordIssuance(span(0, 24 * HOUR, { method: 'renew', replaces: renewedOld.serial }));
      await ledger.revoke({ serial: revoked.serial, reasonCode: 0, reason: '', revokedAt: new Date() });
      const o = { replica: 'r', horizonMs: 720 * HOUR, limit: 100, kinds: ['expiring-soon', 'renewal-overdue'] as const };
      assert.equal(await ledger.events.appendNotices(new Date(now), o), 3);
      assert.equal(await ledger.events.appendNotices(new Date(now), o), 0, 'each notice is sent once');
      const got = (await ledger.events.list({ limit: 10 })).map((e) => `${e.type} ${e.serial}`).sort();
      assert.deepEqual(got, [`expiring-soon ${expiring.serial}`, `renewal-overdue ${expiring.serial}`, `renewal-overdue ${overdue.serial}`].sort());
    });

    test('webhook cursors start at the head, and only the lease holder moves one', async (t) => {
      const ledger = await open(t);
      if (!ledger) return;
      await ledger.events.append([event('admin'), event('admin')]);
      const now = new Date();
      const a = await ledger.events.leaseCursor('hook', 'A', now, 30_000);
      assert.deepEqual(a && { seq: a.seq, attempts: a.attempts }, { seq: 2, attempts: 0 });
      assert.equal(await ledger.events.leaseCursor('hook', 'B', now, 30_000), null);
      assert.equal(await ledger.events.saveCursor({ ...a!, seq: 5 }, 'B'), false);
      assert.equal(await ledger.events.saveCursor({ ...a!, seq: 2, attempts: 3, lastError: 'HTTP 500' }, 'A'), true);
      // Past the lease, another owner takes over where A left off.
      const b = await ledger.events.leaseCursor('hook', 'B', new Date(now.getTime() + 31_000), 30_000);
      assert.deepEqual(b && { seq: b.seq, attempts: b.attempts, lastError: b.lastError }, { seq: 2, attempts: 3, lastError: 'HTTP 500' });
    });

    if (backend === pgBackend) {
      test('two replicas appending at once make one unbroken chain', async (t) => {
        const a = await open(t);
        if (!a) return;
        const b = await pgBackend.another();
        t.after(() => b.close());
        // Each replica: issuances (group-committed batches), revocations and standalone appends, all at once.
        const work = (l: Ledger, name: string) => Array.from({ length: 60 }, async (_, i) => {
          const c = cert();
          await l.recordIssuance(c, jti(), event('issued', { serial: c.serial, replica: name }));
          if (i % 10 === 0) await l.revoke({ serial: c.serial, reasonCode: 1, reason: '', revokedAt: new Date() }, undefined, event('revoked', { serial: c.serial, replica: name }));
          if (i % 7 === 0) await l.events.append([event('refused', { replica: name, count: 3 })]);
        });
        await Promise.all([...work(a, 'a'), ...work(b, 'b')]);
        const all = await a.events.list({ limit: 1000 });
        assert.equal(all.length, 2 * (60 + 6 + 9));
        assert.deepEqual(all.map((e) => e.seq), all.map((_, i) => i + 1));
        // Interleaved: neither replica waited for the other to finish.
        const switches = all.filter((e, i) => i > 0 && e.replica !== all[i - 1]!.replica).length;
        assert.ok(switches > 2, `${switches} switches between replicas`);
        for (const l of [a, b]) {
          const report = await l.events.verify();
          assert.equal(report.problem, null);
          assert.deepEqual(report.head, { seq: all.length, hash: all.at(-1)!.hash });
        }
      });
    }
  });
}

test('refusal reasons: known codes, a policy code this table has not heard of, and failures', () => {
  assert.equal(refusalReason(unauthorized('x'), { op: 'sign', credential: 'token' }), 'token_invalid');
  assert.equal(refusalReason(unauthorized('x'), { op: 'renew', credential: 'certificate' }), 'certificate_invalid');
  assert.equal(refusalReason(new CaError('token_used', { detail: 'x' })), 'token_used');
  assert.equal(refusalReason(new CaError('rate_limited', { detail: 'x' })), 'rate_limited');
  // Codes added later by other rooms fall somewhere sensible without touching the table.
  assert.equal(refusalReason(new CaError('policy_denied' as never, { detail: 'x' })), 'policy');
  const odd = Object.assign(new CaError('forbidden', { detail: 'x' }), { code: 'name_not_allowed' });
  assert.equal(refusalReason(odd), 'forbidden');
  assert.equal(refusalReason(new CaError('unavailable', { detail: 'x' })), null);
  assert.equal(refusalReason(new Error('boom')), null);
});
