// The ledger as the console reads it (searchCertificates, series), on both backends, held to an
// in-memory reference: every filter, every sort both ways, paged in small pages across ties.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { CertificateRecord, CertificateSearch, CertificateSort, CertificateState, Ledger, StoredCertificate } from '../../src/ledger/ledger.ts';
import { SqliteLedger } from '../../src/ledger/sqlite.ts';
import { searchSql, seriesSql, DAY_MS, dayStart } from '../../src/ledger/inventory.ts';
import { sqliteDialect } from '../../src/ledger/sqlite-dialect.ts';
import { STORED_COLUMNS } from '../../src/ledger/rows.ts';
import { postgresBackend, sqliteBackend, useBackend } from '../helpers/ledger-backends.ts';
import { cert, HOUR } from '../helpers/ledger-rows.ts';

const NOW = Date.now();

/** 40 certificates: issue times with ties, lifetimes from expired to 60 days, three provisioners, some revoked. */
function fixture(): { certs: CertificateRecord[]; revoked: Set<string> } {
  const certs: CertificateRecord[] = [];
  const names = ['alpha', 'beta', 'alphabet', 'gamma', 'al', 'Alpha', 'zeta', 'épée'];
  for (let i = 0; i < 40; i++) {
    const issuedAt = new Date(NOW - Math.floor(i / 3) * 5 * DAY_MS - 1000); // groups of three share an instant
    const lifetime = [-2 * HOUR, 3 * DAY_MS, 20 * DAY_MS, 60 * DAY_MS][i % 4]!;
    const name = `${names[i % names.length]}-${i % 5}.example`;
    certs.push(cert({
      subject: name,
      sans: [name, i % 7 === 0 ? 'needle.internal' : `other-${i}.internal`],
      issuedAt,
      notBefore: new Date(issuedAt.getTime() - 60_000),
      notAfter: new Date(NOW + lifetime),
      provisioner: ['admin', 'ops', null][i % 3]!,
    }));
  }
  return { certs, revoked: new Set(certs.filter((_, i) => i % 9 === 4).map((c) => c.serial)) };
}

function stateOf(c: CertificateRecord, revoked: Set<string>): CertificateState[] {
  if (revoked.has(c.serial)) return c.notAfter.getTime() <= NOW ? ['revoked', 'expired'] : ['revoked'];
  if (c.notAfter.getTime() <= NOW) return ['expired'];
  return c.notAfter.getTime() <= NOW + 7 * DAY_MS ? ['valid', 'expiring'] : ['valid'];
}

const keyOf = (c: CertificateRecord, sort: CertificateSort) => (sort === 'issued' ? c.issuedAt.getTime() : sort === 'expires' ? c.notAfter.getTime() : c.subject);

/** Every page of a search, `limit` at a time. */
async function all(ledger: Ledger, q: Omit<CertificateSearch, 'limit' | 'now'>, limit = 4, scanWindow?: number): Promise<StoredCertificate[]> {
  const out: StoredCertificate[] = [];
  let after: string | undefined;
  for (let pages = 0; pages < 100; pages++) {
    const page = await ledger.searchCertificates({ ...q, after, limit, now: new Date(NOW), scanWindow });
    assert.ok(page.certificates.length <= limit);
    out.push(...page.certificates);
    if (!page.next) return out;
    after = page.next;
  }
  throw new Error('paging did not end');
}

for (const backend of [sqliteBackend(), postgresBackend()]) {
  describe(`ledger inventory: ${backend.name}`, () => {
    const open = useBackend(backend);

    test('every filter and sort, paged across ties, matches the reference', async (t) => {
      const ledger = await open(t);
      if (!ledger) return;
      const { certs, revoked } = fixture();
      for (const c of certs) await ledger.recordIssuance(c);
      for (const s of revoked) assert.equal(await ledger.revoke({ serial: s, reasonCode: 1, reason: 'test', revokedAt: new Date(NOW) }), 'revoked');

      const cases: [Omit<CertificateSearch, 'limit' | 'now'>, (c: CertificateRecord) => boolean][] = [
        [{}, () => true],
        [{ namePrefix: 'alpha' }, (c) => c.subject.startsWith('alpha')],
        [{ namePrefix: 'é' }, (c) => c.subject.startsWith('é')],
        [{ nameContains: 'pha-' }, (c) => c.subject.includes('pha-')],
        [{ nameContains: 'needle' }, (c) => c.sans.some((s) => s.includes('needle'))],
        [{ serial: certs[17]!.serial }, (c) => c.serial === certs[17]!.serial],
        [{ provisioner: 'ops' }, (c) => c.provisioner === 'ops'],
        [{ provisioner: 'ops', state: 'valid' }, (c) => c.provisioner === 'ops' && stateOf(c, revoked).includes('valid')],
        ...(['valid', 'expiring', 'expired', 'revoked'] as const).map((state): [Omit<CertificateSearch, 'limit' | 'now'>, (c: CertificateRecord) => boolean] => [{ state }, (c) => stateOf(c, revoked).includes(state)]),
        [{ namePrefix: 'al', state: 'revoked' }, (c) => c.subject.startsWith('al') && revoked.has(c.serial)],
      ];
      for (const [filter, matches] of cases) {
        for (const sort of ['issued', 'expires', 'subject'] as const) {
          for (const descending of [false, true]) {
            const q = { ...filter, sort, descending };
            // Substring searches read a bounded window per page: a window of 3 makes them page
            // through short pages, which must add up to the same answer.
            const got = await all(ledger, q, 4, filter.nameContains ? 3 : undefined);
            const want = certs.filter(matches);
            const what = JSON.stringify(q);
            assert.deepEqual(got.map((c) => c.serial).sort(), want.map((c) => c.serial).sort(), `${what}: the same certificates`);
            assert.equal(new Set(got.map((c) => c.serial)).size, got.length, `${what}: none twice`);
            const keys = got.map((c) => keyOf(c, sort));
            // Byte order (as both backends compare subjects), not the locale's.
            const cmp = (a: string | number, b: string | number) => (typeof a === 'number' ? a - (b as number) : Buffer.compare(Buffer.from(a), Buffer.from(b as string)));
            const sorted = [...keys].sort((a, b) => (descending ? cmp(b, a) : cmp(a, b)));
            assert.deepEqual(keys, sorted, `${what}: in order`);
          }
        }
      }
      // Newest first when no sort is asked for.
      const first = await ledger.searchCertificates({ limit: 3, now: new Date(NOW) });
      assert.equal(first.certificates[0]!.issuedAt.getTime(), Math.max(...certs.map((c) => c.issuedAt.getTime())));
      assert.equal(first.certificates[0]!.revokedAt, null);
      await assert.rejects(ledger.searchCertificates({ limit: 3, now: new Date(NOW), after: 'bm9wZQ' }), /cursor/);
      // The overview's counts, read from indexes only, agree with the gauges' scan: around the
      // 7-day edge (which falls inside a day of the horizon) and beyond the 90-day horizon too.
      for (const ms of [7 * DAY_MS - 60_000, 7 * DAY_MS, 7 * DAY_MS + 60_000, 200 * DAY_MS]) await ledger.recordIssuance(cert({ notAfter: new Date(NOW + ms) }));
      await ledger.recordIssuance(cert({ method: 'serving', provisioner: null, notAfter: new Date(NOW + DAY_MS) }));
      const serving = cert({ method: 'serving', provisioner: null, notAfter: new Date(NOW + 2 * DAY_MS) });
      await ledger.recordIssuance(serving);
      await ledger.revoke({ serial: serving.serial, reasonCode: 0, reason: '', revokedAt: new Date(NOW) });
      const stats = await ledger.stats(new Date(NOW));
      const overview = await ledger.series(new Date(NOW));
      assert.deepEqual({ valid: overview.valid, expiring7d: overview.expiring7d, revoked: overview.revoked }, { valid: stats.valid, expiring7d: stats.expiring7d, revoked: stats.revoked });
      assert.ok(stats.valid > 5 && stats.expiring7d > 2 && stats.revoked > 1, JSON.stringify(stats));
      await assert.rejects(ledger.searchCertificates({ limit: 0, now: new Date(NOW) }), /limit/);
      // A rare substring with a small window: a short page that says it searched only part.
      const part = await ledger.searchCertificates({ nameContains: 'needle', limit: 50, now: new Date(NOW), scanWindow: 5 });
      assert.equal(part.searchedPart, true);
      assert.ok(part.next !== null && part.certificates.length < 50);
      const whole = await ledger.searchCertificates({ nameContains: 'needle', limit: 50, now: new Date(NOW) });
      assert.equal(whole.searchedPart, undefined);
      assert.equal(whole.next, null);
      assert.equal(whole.certificates.length, certs.filter((c) => c.sans.includes('needle.internal')).length);
    });

    test('series: issuance per day over 90 days, unrevoked expiries per day ahead', async (t) => {
      const ledger = await open(t);
      if (!ledger) return;
      const today = dayStart(NOW);
      const at = (days: number, hours = 1) => new Date(today - days * DAY_MS + hours * HOUR);
      const rows = [
        cert({ issuedAt: at(0), notAfter: new Date(NOW + 2 * DAY_MS) }),
        cert({ issuedAt: at(0, 0), notAfter: new Date(NOW + 2 * DAY_MS) }),
        cert({ issuedAt: at(3), notAfter: new Date(NOW + 30 * DAY_MS) }),
        cert({ issuedAt: at(89), notAfter: new Date(NOW + 2 * DAY_MS) }),
        cert({ issuedAt: at(90), notAfter: new Date(NOW + 200 * DAY_MS) }), // outside both windows
        cert({ issuedAt: at(5), notAfter: new Date(NOW - HOUR) }), // expired: not on the horizon
      ];
      for (const r of rows) await ledger.recordIssuance(r);
      await ledger.revoke({ serial: rows[1]!.serial, reasonCode: 0, reason: '', revokedAt: new Date(NOW) });
      const s = await ledger.series(new Date(NOW));
      assert.equal(s.issuedPerDay.length, 90);
      assert.equal(s.issuedPerDay.at(-1)!.day.getTime(), today);
      assert.equal(s.issuedPerDay.at(-1)!.count, 2, 'two issued today');
      assert.equal(s.issuedPerDay.at(-4)!.count, 1);
      assert.equal(s.issuedPerDay[0]!.count, 1, '89 days ago is the first day');
      assert.equal(s.issuedPerDay.reduce((n, d) => n + d.count, 0), 5);
      assert.equal(s.issuedToday, 2);
      await ledger.recordIssuance(cert({ method: 'serving', provisioner: null, issuedAt: at(0) }));
      const withServing = await ledger.series(new Date(NOW));
      assert.equal(withServing.issuedToday, 2, 'the CA\'s own certificates are not counted');
      assert.equal(withServing.issuedPerDay.at(-1)!.count, 3, 'but are charted');
      assert.equal(withServing.valid, 4);
      assert.equal(withServing.revoked, 1);
      assert.equal(s.expiringPerDay[0]!.day.getTime(), today);
      const expDay = (ms: number) => Math.floor((ms - today) / DAY_MS);
      assert.equal(s.expiringPerDay[expDay(NOW + 2 * DAY_MS)]!.count, 2, 'the revoked one is not counted');
      assert.equal(s.expiringPerDay[expDay(NOW + 30 * DAY_MS)]!.count, 1);
      assert.equal(s.expiringPerDay.reduce((n, d) => n + d.count, 0), 3);
    });

    if (backend.name === 'sqlite') {
      test('SQLite pages along an index: no sort of the whole table for any list shape', async (t) => {
        const ledger = await open(t) as SqliteLedger | null;
        if (!ledger) return;
        const shapes: Omit<CertificateSearch, 'limit' | 'now'>[] = [
          {}, { sort: 'expires' }, { sort: 'subject', descending: true }, { provisioner: 'x' }, { state: 'valid' }, { state: 'expiring', sort: 'expires' },
          { namePrefix: 'a', sort: 'subject' }, { serial: '1' },
        ];
        for (const shape of shapes) {
          const d = sqliteDialect();
          const text = searchSql({ ...shape, limit: 50, now: new Date(NOW), after: undefined }, d, `${STORED_COLUMNS}, rowid AS tie`);
          const plan = (ledger.db.prepare(`EXPLAIN QUERY PLAN ${text}`).all(...d.values) as { detail: string }[]).map((r) => r.detail).join('; ');
          assert.doesNotMatch(plan, /SCAN certificates(?! USING)/, `${JSON.stringify(shape)}: ${plan}`);
          if (!shape.namePrefix && !shape.serial) assert.doesNotMatch(plan, /TEMP B-TREE/, `${JSON.stringify(shape)}: ${plan}`);
        }
        // The overview reads indexes only, never the table (rows of ~1 KB of PEM each).
        for (const [name, b] of Object.entries(seriesSql(sqliteDialect, NOW))) {
          const plan = (ledger.db.prepare(`EXPLAIN QUERY PLAN ${b.text}`).all(...b.values) as { detail: string }[]).map((r) => r.detail).join('; ');
          assert.match(plan, name === 'revokedLive' ? /USING INDEX certificates_revoked_at/ : /USING (COVERING )?INDEX/, `${name}: ${plan}`);
          if (name === 'issued' || name === 'expiring' || name === 'tail') assert.doesNotMatch(plan, /USING INDEX|SCAN certificates(?! USING COVERING)/, `${name}: ${plan}`);
        }
      });
    }
  });
}
