// GET /crl is served from the encoding the publisher keeps: one build per change, never per
// request, on both ledgers; a revocation (or the timer) makes the next one, with a higher number.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { CrlPublisher, type CrlBuilder } from '../../src/authority/crl-publisher.ts';
import { buildCrl } from '../../src/authority/crl.ts';
import { createRootCertificate, makeIssuer } from '../../src/authority/profiles.ts';
import { crlSchema } from '../../src/config/schema.ts';
import { readCrlParts } from '../../src/pki/crl-parts.ts';
import { postgresBackend, sqliteBackend, useBackend } from '../helpers/ledger-backends.ts';
import { cert } from '../helpers/ledger-rows.ts';

for (const backend of [sqliteBackend(), postgresBackend()]) {
  describe(backend.name, () => {
    const open = useBackend(backend);
    test('the CRL is built once and served from its cached bytes until a revocation makes the next one', async (t) => {
      const ledger = await open(t);
      if (!ledger) return;
      const k = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const now = new Date();
      const root = await createRootCertificate({ name: 'Publisher Root', key: k.privateKey, notBefore: now, notAfter: new Date(now.getTime() + 86_400_000) });
      const issuer = await makeIssuer(root, k.privateKey);
      let builds = 0;
      const build: CrlBuilder = (p) => { builds++; return buildCrl(p); };
      const publisher = new CrlPublisher({ issuer, ledger, settings: crlSchema.parse({}), now: () => new Date(), build });
      await publisher.start();
      t.after(() => publisher.stop());

      const first = await publisher.current();
      const again = await publisher.current();
      assert.equal(builds, 1);
      assert.equal(again.der, first.der, 'the same Buffer, not a re-encoding');
      assert.equal(readCrlParts(first.der)!.entryCount, 0);

      const c = cert();
      await ledger.recordIssuance(c);
      assert.equal(await ledger.revoke({ serial: c.serial, reasonCode: 1, reason: 'key compromise', revokedAt: new Date() }), 'revoked');
      const next = await publisher.regenerate();
      assert.equal(builds, 2);
      assert.ok(next.number > first.number);
      assert.deepEqual(readCrlParts(next.der)!.entries().map((e) => [BigInt(`0x${e.serialHex}`).toString(), e.reason]), [[c.serial, 1]]);
      assert.equal((await publisher.current()).der, next.der);
      assert.equal(builds, 2);
    });
  });
}
