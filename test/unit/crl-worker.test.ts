// The CRL worker thread is a V8 isolate of its own (10–20 MiB resident): it runs while a CRL is
// being built and stops once idle, so a serving CA does not hold it between CRL runs; the next
// build starts it again and gets the same kind of CRL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { CrlWorker } from '../../src/authority/crl-publisher.ts';
import { createRootCertificate, makeIssuer } from '../../src/authority/profiles.ts';
import { readCrlParts } from '../../src/pki/crl-parts.ts';

test('the CRL worker stops after idling and starts again for the next build', async (t) => {
  const k = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const now = new Date();
  const root = await createRootCertificate({ name: 'Worker Root', key: k.privateKey, notBefore: now, notAfter: new Date(now.getTime() + 86_400_000) });
  const issuer = await makeIssuer(root, k.privateKey);
  const worker = new CrlWorker(300);
  t.after(() => worker.close());
  const params = (number: number) => ({ issuer, number, thisUpdate: now, nextUpdate: new Date(now.getTime() + 3_600_000), entries: [] });

  const first = await worker.build(params(1));
  assert.equal(readCrlParts(first)!.entryCount, 0);
  assert.equal(worker.running, true, 'running right after a build');
  // Until the idle time has passed it stays (a burst of revocations reuses it).
  await sleep(100);
  assert.equal(worker.running, true);
  const deadline = Date.now() + 10_000;
  while (worker.running && Date.now() < deadline) await sleep(50);
  assert.equal(worker.running, false, 'stopped once idle');

  const second = await worker.build(params(2));
  assert.equal(readCrlParts(second)!.entryCount, 0);
  assert.equal(worker.running, true, 'started again for the next build');
});
