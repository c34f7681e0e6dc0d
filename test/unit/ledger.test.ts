// The Ledger contract, one suite run against both backends: SQLite (a file per case) and
// PostgreSQL (a randomly named database for this run, emptied before each case and dropped at
// the end). What one backend promises, the other must too. Backend-specific behaviour (files,
// WAL, migrations, advisory locks, lost connections) lives in ledger-sqlite/ledger-postgres.test.ts.
import { describe, test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { CaError } from '../../src/errors.ts';
import type { CertificateRecord, Ledger } from '../../src/ledger/ledger.ts';
import { postgresBackend, sqliteBackend, useBackend } from '../helpers/ledger-backends.ts';
import { cert, HOUR, rejectsWith, token } from '../helpers/ledger-rows.ts';

for (const backend of [sqliteBackend(), postgresBackend()]) {
  describe(`ledger contract: ${backend.name}`, () => {
    let ledger: Ledger | null = null;
    const open = useBackend(backend);
    beforeEach(() => { ledger = null; });

    test('recordIssuance then getCertificate round-trips every field', async (t) => {
      if (!(ledger = await open(t))) return;
      const first = cert({ provisioner: null, subject: '', sans: [] });
      const second = cert({ method: 'renew', replaces: first.serial, sans: ['a.example', 'ünïcode.example'], issuer: 'issuing-2027' });
      await ledger.recordIssuance(first);
      await ledger.recordIssuance(second, token(`jti-rt-${first.serial}`));
      const notRevoked = { revokedAt: null, revocationReasonCode: null, revocationReason: null };
      assert.deepEqual(await ledger.getCertificate(first.serial), { ...first, ...notRevoked });
      assert.deepEqual(await ledger.getCertificate(second.serial), { ...second, ...notRevoked });
      assert.equal(await ledger.getCertificate('999999999'), null);
      assert.equal(await ledger.countCertificates(), 2);
      await ledger.ping();
    });

    test('the same jti twice is token_used and the second certificate is not recorded', async (t) => {
      if (!(ledger = await open(t))) return;
      assert.equal(await ledger.isTokenUsed('jti-1'), false);
      await ledger.recordIssuance(cert(), token('jti-1'));
      assert.equal(await ledger.isTokenUsed('jti-1'), true);
      const replay = cert();
      await assert.rejects(ledger.recordIssuance(replay, token('jti-1')), rejectsWith('token_used'));
      assert.equal(await ledger.countCertificates(), 1);
      assert.equal(await ledger.getCertificate(replay.serial), null);
    });

    test('one token in many concurrent issuances buys exactly one certificate', async (t) => {
      if (!(ledger = await open(t))) return;
      const l = ledger;
      const certs = Array.from({ length: 8 }, () => cert());
      const results = await Promise.allSettled(certs.map((c) => l.recordIssuance(c, token('jti-race'))));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      for (const r of results) if (r.status === 'rejected') rejectsWith('token_used')(r.reason);
      assert.equal(await l.countCertificates(), 1);
    });

    test('a failed certificate insert does not spend the token, and fails alone', async (t) => {
      if (!(ledger = await open(t))) return;
      const l = ledger;
      const c = cert();
      await l.recordIssuance(c);
      // Duplicate serial: a plain constraint error (a bug, not a replay), rolled back with its token;
      // the good issuance committed beside it still commits.
      const good = cert();
      const [dup, ok] = await Promise.allSettled([l.recordIssuance({ ...c, fingerprint: 'ff' }, token('jti-dup')), l.recordIssuance(good, token('jti-good'))]);
      assert.equal(dup.status, 'rejected');
      assert.ok(!((dup as PromiseRejectedResult).reason instanceof CaError), String((dup as PromiseRejectedResult).reason));
      assert.equal(ok.status, 'fulfilled');
      assert.equal(await l.isTokenUsed('jti-dup'), false);
      assert.equal(await l.isTokenUsed('jti-good'), true);
      // An unknown `replaces` is refused the same way.
      await assert.rejects(l.recordIssuance(cert({ method: 'renew', replaces: '999999' }), token('jti-fk')), (e: unknown) => !(e instanceof CaError));
      assert.equal(await l.isTokenUsed('jti-fk'), false);
    });

    test('listCertificates filters by expiry window, provisioner and limit, ordered by issuedAt', async (t) => {
      if (!(ledger = await open(t))) return;
      const now = Date.now();
      const expired = cert({ notAfter: new Date(now - HOUR), issuedAt: new Date(now - 5000) });
      const soon = cert({ notAfter: new Date(now + HOUR), issuedAt: new Date(now - 4000), provisioner: 'acme' });
      const later = cert({ notAfter: new Date(now + 48 * HOUR), issuedAt: new Date(now - 3000) });
      const soonToo = cert({ notAfter: new Date(now + 2 * HOUR), issuedAt: new Date(now - 6000) });
      for (const c of [expired, soon, later, soonToo]) await ledger.recordIssuance(c);
      const serials = (cs: CertificateRecord[]) => cs.map((c) => c.serial);
      assert.deepEqual(serials(await ledger.listCertificates()), serials([soonToo, expired, soon, later]));
      assert.deepEqual(serials(await ledger.listCertificates({ expiringBefore: new Date(now + 24 * HOUR) })), serials([soonToo, soon]));
      assert.deepEqual(serials(await ledger.listCertificates({ provisioner: 'acme' })), serials([soon]));
      assert.deepEqual(serials(await ledger.listCertificates({ provisioner: 'admin', expiringBefore: new Date(now + 24 * HOUR) })), serials([soonToo]));
      assert.deepEqual(serials(await ledger.listCertificates({ limit: 2 })), serials([soonToo, expired]));
      assert.deepEqual(await ledger.listCertificates({ limit: 0 }), []);
      await assert.rejects(ledger.listCertificates({ limit: -1 }), RangeError);
    });

    test('pruneUsedTokens deletes only rows that expired before the cut-off', async (t) => {
      if (!(ledger = await open(t))) return;
      const now = Date.now();
      await ledger.recordIssuance(cert(), token('old', new Date(now - HOUR)));
      await ledger.recordIssuance(cert(), token('older', new Date(now - 2 * HOUR)));
      await ledger.recordIssuance(cert(), token('fresh', new Date(now + HOUR)));
      assert.equal(await ledger.pruneUsedTokens(new Date(now)), 2);
      assert.equal(await ledger.isTokenUsed('old'), false);
      assert.equal(await ledger.isTokenUsed('older'), false);
      assert.equal(await ledger.isTokenUsed('fresh'), true);
      assert.equal(await ledger.pruneUsedTokens(new Date(now)), 0);
      assert.equal(await ledger.countCertificates(), 3, 'pruning tokens never touches certificates');
    });

    test('lineage lists the whole renewal chain, oldest first, from any member', async (t) => {
      if (!(ledger = await open(t))) return;
      const a = cert({ issuedAt: new Date(1000) });
      const b = cert({ method: 'renew', replaces: a.serial, issuedAt: new Date(2000) });
      const c = cert({ method: 'rekey', replaces: b.serial, issuedAt: new Date(3000) });
      const other = cert({ issuedAt: new Date(1500) });
      for (const x of [a, other, b, c]) await ledger.recordIssuance(x);
      for (const from of [a, b, c]) {
        assert.deepEqual((await ledger.lineage(from.serial)).map((r) => r.serial), [a.serial, b.serial, c.serial]);
      }
      assert.deepEqual((await ledger.lineage(other.serial)).map((r) => r.serial), [other.serial]);
      assert.deepEqual(await ledger.lineage('424242'), []);
    });

    test('revoke: marks once, spends the token only when it revoked, and says why it did not', async (t) => {
      if (!(ledger = await open(t))) return;
      const c = cert();
      await ledger.recordIssuance(c);
      const at = new Date(1_800_000_000_000);
      assert.equal(await ledger.revoke({ serial: '31337', reasonCode: 1, reason: 'x', revokedAt: at }, token('t-unknown')), 'not_found');
      assert.equal(await ledger.isTokenUsed('t-unknown'), false);
      assert.equal(await ledger.revoke({ serial: c.serial, reasonCode: 1, reason: 'key compromise', revokedAt: at }, token('t-1')), 'revoked');
      assert.equal(await ledger.isTokenUsed('t-1'), true);
      const stored = await ledger.getCertificate(c.serial);
      assert.deepEqual([stored!.revokedAt, stored!.revocationReasonCode, stored!.revocationReason], [at, 1, 'key compromise']);
      assert.equal(await ledger.revoke({ serial: c.serial, reasonCode: 4, reason: 'again', revokedAt: new Date() }, token('t-2')), 'already_revoked');
      assert.equal(await ledger.isTokenUsed('t-2'), false);
      assert.equal((await ledger.getCertificate(c.serial))!.revocationReasonCode, 1, 'the first revocation stands');
      // A replayed token rolls the revocation back.
      const d = cert();
      await ledger.recordIssuance(d);
      await assert.rejects(ledger.revoke({ serial: d.serial, reasonCode: 0, reason: '', revokedAt: at }, token('t-1')), rejectsWith('token_used'));
      assert.equal((await ledger.getCertificate(d.serial))!.revokedAt, null);
    });

    test('listRevoked drops expired certificates; list filter revoked; CRL numbers only increase', async (t) => {
      if (!(ledger = await open(t))) return;
      const live = cert({ issuedAt: new Date(Date.now() - 2000) });
      const gone = cert({ notAfter: new Date(Date.now() - HOUR), issuedAt: new Date(Date.now() - 1000) });
      const good = cert();
      for (const c of [live, gone, good]) await ledger.recordIssuance(c);
      for (const c of [live, gone]) await ledger.revoke({ serial: c.serial, reasonCode: 5, reason: '', revokedAt: new Date() });
      assert.deepEqual((await ledger.listRevoked(new Date())).map((e) => [e.serial, e.reasonCode]), [[live.serial, 5]]);
      assert.deepEqual((await ledger.listCertificates({ revoked: true })).map((r) => r.serial), [live.serial, gone.serial]);
      assert.deepEqual([await ledger.nextCrlNumber(), await ledger.nextCrlNumber(), await ledger.nextCrlNumber()], [1, 2, 3]);
      const snap = await ledger.nextCrl(new Date());
      assert.equal(snap.number, 4);
      assert.deepEqual(snap.entries.map((e) => e.serial), [live.serial]);
      const l = ledger;
      const numbers = (await Promise.all(Array.from({ length: 10 }, () => l.nextCrl(new Date())))).map((s) => s.number).sort((a, b) => a - b);
      assert.deepEqual(numbers, [5, 6, 7, 8, 9, 10, 11, 12, 13, 14], 'concurrent CRLs get distinct numbers');
    });

    test('nextCrl with an issuer scope lists that issuer\'s revoked rows (and the unnamed ones only when asked); without one, all', async (t) => {
      if (!(ledger = await open(t))) return;
      const l = ledger;
      const old = cert({ issuer: null, issuedAt: new Date(Date.now() - 3000) });
      const a = cert({ issuer: 'a', issuedAt: new Date(Date.now() - 2000) });
      const b = cert({ issuer: 'b', issuedAt: new Date(Date.now() - 1000) });
      // Through the batch writer (concurrent issuances share one commit), tokens and all.
      await Promise.all([old, a, b].map((c, i) => l.recordIssuance(c, token(`scope-${c.serial}-${i}`))));
      assert.deepEqual([(await l.getCertificate(a.serial))?.issuer, (await l.getCertificate(old.serial))?.issuer], ['a', null]);
      for (const c of [old, a, b]) await l.revoke({ serial: c.serial, reasonCode: 1, reason: '', revokedAt: new Date() });
      const of = async (scope?: { name: string; orUnnamed: boolean }) => (await l.nextCrl(new Date(), scope)).entries.map((e) => e.serial).sort();
      assert.deepEqual(await of({ name: 'a', orUnnamed: true }), [old.serial, a.serial].sort());
      assert.deepEqual(await of({ name: 'a', orUnnamed: false }), [a.serial]);
      assert.deepEqual(await of({ name: 'b', orUnnamed: false }), [b.serial]);
      assert.deepEqual(await of({ name: 'gone', orUnnamed: false }), []);
      assert.deepEqual(await of(), [old.serial, a.serial, b.serial].sort());
    });

    test('group commit: concurrent issuances all commit, and a replayed token fails alone', async (t) => {
      if (!(ledger = await open(t))) return;
      const l = ledger;
      await l.recordIssuance(cert(), token('spent'));
      const batch = Array.from({ length: 20 }, (_, i) => cert({ subject: `batch-${i}` }));
      const results = await Promise.allSettled(batch.map((c, i) => l.recordIssuance(c, token(i === 7 ? 'spent' : `fresh-${i}`))));
      assert.deepEqual(results.map((r) => r.status), batch.map((_, i) => (i === 7 ? 'rejected' : 'fulfilled')));
      assert.equal((results[7] as PromiseRejectedResult).reason.code, 'token_used');
      assert.equal(await l.getCertificate(batch[7]!.serial), null, 'the replay was not recorded');
      assert.equal(await l.countCertificates(), 20);
    });
  });
}
