// The AcmeStore contract (migration 0008) on both ledger backends: nonces work once (also across
// two PostgreSQL replicas), one account per key, compare-and-set status changes, pruning, EAB.
import { describe, test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Ledger } from '../../src/ledger/ledger.ts';
import type { AcmeAccount, AcmeAuthz, AcmeOrder } from '../../src/ledger/acme-store.ts';
import { postgresBackend, sqliteBackend, useBackend } from '../helpers/ledger-backends.ts';

const account = (o: Partial<AcmeAccount> = {}): AcmeAccount => ({
  id: randomUUID(), provisioner: 'acme', thumbprint: randomUUID(), jwk: { kty: 'EC' }, status: 'valid', contact: [], createdAt: Date.now(), ...o,
});

function order(accountId: string, o: Partial<AcmeOrder> = {}): { order: AcmeOrder; authz: AcmeAuthz } {
  const id = randomUUID();
  const authz: AcmeAuthz = {
    id: randomUUID(), orderId: id, accountId, status: 'pending', expiresAt: Date.now() + 60_000, identifier: { type: 'dns', value: 'a.test' }, wildcard: false,
    challenges: [{ id: 'c1', type: 'http-01', token: 'tok', status: 'pending' }],
  };
  return { order: { id, accountId, provisioner: 'acme', status: 'pending', expiresAt: Date.now() + 60_000, createdAt: Date.now(), identifiers: [{ type: 'dns', value: 'a.test' }], authorizations: [authz.id], ...o }, authz };
}

const pg = postgresBackend();
for (const backend of [sqliteBackend(), pg]) {
  describe(`acme store: ${backend.name}`, () => {
    let ledger: Ledger | null = null;
    const open = useBackend(backend);
    beforeEach(() => { ledger = null; });

    test('a nonce works once, an expired or unknown one never', async (t) => {
      if (!(ledger = await open(t))) return;
      const now = Date.now();
      await ledger.acme.addNonce('n1', now + 60_000);
      await ledger.acme.addNonce('old', now - 1);
      const results = await Promise.all(Array.from({ length: 8 }, () => ledger!.acme.useNonce('n1', now)));
      assert.equal(results.filter(Boolean).length, 1);
      assert.equal(await ledger.acme.useNonce('old', now), false);
      assert.equal(await ledger.acme.useNonce('never-issued', now), false);
      if (backend === pg) {
        // Cluster-wide: a nonce issued through one replica is spent once whichever replica sees it.
        const other = await pg.another();
        t.after(() => other.close());
        await ledger.acme.addNonce('shared', now + 60_000);
        const [a, b] = await Promise.all([ledger.acme.useNonce('shared', now), other.acme.useNonce('shared', now)]);
        assert.equal(Number(a) + Number(b), 1);
      }
    });

    test('one account per key; a key change onto a key in use is a conflict', async (t) => {
      if (!(ledger = await open(t))) return;
      const a = account({ contact: ['mailto:a@example.com'] });
      assert.equal(await ledger.acme.createAccount(a), 'created');
      assert.equal(await ledger.acme.createAccount(account({ thumbprint: a.thumbprint })), 'exists');
      assert.deepEqual(await ledger.acme.accountByThumbprint(a.thumbprint), a);
      const b = account();
      await ledger.acme.createAccount(b);
      assert.equal(await ledger.acme.updateAccount({ ...b, thumbprint: a.thumbprint }), 'conflict');
      assert.equal(await ledger.acme.updateAccount({ ...b, status: 'deactivated' }), 'ok');
      assert.equal((await ledger.acme.account(b.id))!.status, 'deactivated');
      assert.equal(await ledger.acme.account('nope'), null);
    });

    test('orders and authorizations change state by compare-and-set only', async (t) => {
      if (!(ledger = await open(t))) return;
      const a = account();
      await ledger.acme.createAccount(a);
      const { order: o, authz: z } = order(a.id);
      await ledger.acme.createOrder(o, [z]);
      assert.deepEqual(await ledger.acme.order(o.id), o);
      assert.deepEqual(await ledger.acme.authzsOfOrder(o.id), [z]);
      const valid: AcmeAuthz = { ...z, status: 'valid', challenges: [{ ...z.challenges[0]!, status: 'valid' }] };
      const [w1, w2] = await Promise.all([ledger.acme.updateAuthz(valid, z), ledger.acme.updateAuthz({ ...z, status: 'invalid' }, z)]);
      assert.equal(Number(w1) + Number(w2), 1, 'exactly one of two racing writers wins');
      assert.equal(await ledger.acme.updateOrder({ ...o, status: 'ready' }, 'pending'), true);
      assert.equal(await ledger.acme.updateOrder({ ...o, status: 'ready' }, 'pending'), false);
      assert.equal(await ledger.acme.updateOrder({ ...o, status: 'valid', certificateSerial: '123' }, 'ready'), true);
      assert.equal((await ledger.acme.orderOfCertificate('123'))!.id, o.id);
      const ids = await ledger.acme.orderIds(a.id, 10);
      assert.deepEqual(ids.map((r) => r.id), [o.id]);
      assert.deepEqual(await ledger.acme.orderIds(a.id, 10, ids[0]), []);
      // A challenge left processing is found again (a restarted CA resumes it).
      const { order: o2, authz: z2 } = order(a.id);
      const processing: AcmeAuthz = { ...z2, challenges: [{ ...z2.challenges[0]!, status: 'processing' }] };
      await ledger.acme.createOrder(o2, [processing]);
      assert.deepEqual((await ledger.acme.processingAuthzs(Date.now(), 10)).map((x) => x.id), [processing.id]);
    });

    test('prune deletes expired nonces and unfinished expired orders with their authorizations, keeps valid ones', async (t) => {
      if (!(ledger = await open(t))) return;
      const a = account();
      await ledger.acme.createAccount(a);
      const past = Date.now() - 1000;
      const stale = order(a.id, { expiresAt: past });
      const done = order(a.id, { expiresAt: past, status: 'valid', certificateSerial: '9' });
      const live = order(a.id);
      for (const x of [stale, done, live]) await ledger.acme.createOrder(x.order, [x.authz]);
      await ledger.acme.addNonce('gone', past);
      await ledger.acme.addNonce('kept', Date.now() + 60_000);
      assert.equal(await ledger.acme.prune(Date.now()), 2);
      assert.equal(await ledger.acme.order(stale.order.id), null);
      assert.equal(await ledger.acme.authz(stale.authz.id), null);
      assert.ok(await ledger.acme.order(done.order.id));
      assert.ok(await ledger.acme.order(live.order.id));
      assert.equal(await ledger.acme.useNonce('kept', Date.now()), true);
    });

    test('an EAB key binds to one account only', async (t) => {
      if (!(ledger = await open(t))) return;
      await ledger.acme.addEabKey({ keyId: 'k1', provisioner: 'acme', hmacKey: 'aGk', reference: 'ref', createdAt: 1, accountId: null, boundAt: null });
      const [x, y] = await Promise.all([ledger.acme.bindEabKey('k1', 'acct-1', 5), ledger.acme.bindEabKey('k1', 'acct-2', 5)]);
      assert.equal(Number(x) + Number(y), 1);
      const k = (await ledger.acme.eabKey('k1'))!;
      assert.ok(k.accountId === 'acct-1' || k.accountId === 'acct-2');
      assert.equal((await ledger.acme.listEabKeys('acme')).length, 1);
      assert.equal((await ledger.acme.listEabKeys('other')).length, 0);
      assert.equal(await ledger.acme.removeEabKey('k1'), true);
      assert.equal(await ledger.acme.removeEabKey('k1'), false);
    });
  });
}

test('ledger copy carries ACME accounts, orders, authorizations and EAB keys from SQLite to PostgreSQL and back', async (t) => {
  const { postgresMissing, createDatabase } = await import('../helpers/postgres.ts');
  const missing = await postgresMissing();
  if (missing) return t.skip(missing);
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const { openSqliteLedger } = await import('../../src/ledger/sqlite.ts');
  const { openPostgresLedger } = await import('../../src/ledger/postgres.ts');
  const { pgSource } = await import('../../src/ledger/pg-source.ts');
  const { copyLedger } = await import('../../src/ledger/copy.ts');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'acme-copy-'));
  const db = await createDatabase();
  t.after(async () => { await db.drop(); fs.rmSync(dir, { recursive: true, force: true }); });
  const file = path.join(dir, 'a.db');
  const src = await openSqliteLedger(file);
  const a = account();
  await src.acme.createAccount(a);
  const { order: o, authz: z } = order(a.id);
  await src.acme.createOrder(o, [z]);
  await src.acme.addEabKey({ keyId: 'k', provisioner: 'acme', hmacKey: 'aGk', reference: null, createdAt: 1, accountId: null, boundAt: null });
  await src.acme.bindEabKey('k', a.id, 2);
  await src.close();
  const pgTarget = { kind: 'postgresql' as const, source: pgSource({ type: 'postgresql', dataSource: db.url }) };
  await copyLedger({ kind: 'sqlite', file }, pgTarget);
  const pgl = await openPostgresLedger(pgTarget.source);
  t.after(() => pgl.close());
  assert.deepEqual(await pgl.acme.account(a.id), a);
  assert.deepEqual(await pgl.acme.order(o.id), o);
  assert.deepEqual(await pgl.acme.authz(z.id), z);
  assert.equal((await pgl.acme.eabKey('k'))!.accountId, a.id);
  const back = path.join(dir, 'back.db');
  await copyLedger(pgTarget, { kind: 'sqlite', file: back });
  const again = await openSqliteLedger(back);
  t.after(() => again.close());
  assert.deepEqual(await again.acme.accountByThumbprint(a.thumbprint), a);
  assert.deepEqual(await again.acme.authzsOfOrder(o.id), [z]);
});
