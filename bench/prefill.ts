// A large ledger for the "flat with size" run: N synthetic certificate rows bulk-inserted before
// the server starts. Rows look like real ones (random 128-bit serials, ~1 KB of PEM) so the
// indexes and page cache behave as they would after N real issuances.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync } from 'node:fs';
import { openSqliteLedger } from '../src/ledger/sqlite.ts';

const FAKE_PEM = `-----BEGIN CERTIFICATE-----\n${'A'.repeat(64).concat('\n').repeat(13)}-----END CERTIFICATE-----\n`;

/** With `revoked`, every row is revoked (a second apart, reasons 0-10 in turn) and still unexpired: a CRL of n entries. */
export async function prefillLedger(file: string, n: number, o: { revoked?: boolean } = {}): Promise<number> {
  const t0 = performance.now();
  const ledger = await openSqliteLedger(file);
  const db = ledger.db;
  // Setup only: durability is irrelevant while filling, speed is not.
  db.pragma('synchronous = OFF');
  const insert = db.prepare(`INSERT INTO certificates (serial, subject, sans, not_before, not_after, fingerprint, provisioner, pem, issued_at, method, revoked_at, revocation_reason_code)
    VALUES (?, ?, ?, ?, ?, ?, 'admin', ?, ?, 'sign', ?, ?)`);
  const batch = db.transaction((from: number, to: number) => {
    const now = Date.now();
    for (let i = from; i < to; i++) {
      const name = `host-${i}.fill.internal`;
      insert.run(BigInt(`0x${randomBytes(16).toString('hex')}`).toString(), name, JSON.stringify([name]), now - 60_000,
        now + ((i % 720) + 1) * 3_600_000, randomBytes(32).toString('hex'), FAKE_PEM, now - (n - i) * 10,
        o.revoked ? now - (n - i) * 1000 : null, o.revoked ? i % 11 : null);
    }
  });
  for (let i = 0; i < n; i += 50_000) batch(i, Math.min(n, i + 50_000));
  db.pragma('wal_checkpoint(TRUNCATE)');
  await ledger.close();
  // The rows went in with synchronous=OFF: flush them now, or the kernel's writeback of a GB of
  // dirty pages lands in the measured phases and slows every fsync there.
  const fd = openSync(file, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return performance.now() - t0;
}
