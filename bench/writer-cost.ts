// What the ledger's writer thread spends per issuance, by part: the certificate row, the spent
// token, the audit event (hash chain), the commit. Runs issuanceBatch in this process on a fresh
// migrated ledger, batches of B items, CPU from process.cpuUsage.
//   node --import tsx bench/writer-cost.ts [--items 20000] [--batch 5] [--sync FULL|OFF]
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { configureConnection } from '../src/ledger/connection.ts';
import { issuanceBatch, type IssuanceItem } from '../src/ledger/issuance-batch.ts';
import { openSqliteLedger } from '../src/ledger/sqlite.ts';
import { toAuditRow } from '../src/ledger/audit-chain.ts';

const { values: f } = parseArgs({ options: {
  items: { type: 'string', default: '20000' }, batch: { type: 'string', default: '5' }, sync: { type: 'string', default: 'FULL' },
} });
const PEM = `-----BEGIN CERTIFICATE-----\n${`${randomBytes(48).toString('base64')}\n`.repeat(14)}-----END CERTIFICATE-----\n`;

function item(parts: Set<string>): IssuanceItem {
  const name = `host-${randomBytes(6).toString('hex')}.bench.internal`;
  const now = Date.now();
  const serial = BigInt(`0x${randomBytes(16).toString('hex')}`).toString();
  return {
    row: parts.has('row') ? { serial, subject: name, sans: JSON.stringify([name]), not_before: now - 60_000, not_after: now + 86_400_000,
      fingerprint: randomBytes(32).toString('hex'), provisioner: 'admin', pem: PEM, issued_at: now, method: 'sign', replaces: null, issuer: null } : undefined,
    token: parts.has('token') ? { jti: randomBytes(32).toString('hex'), provisioner: 'admin', expiresAt: now + 300_000 } : undefined,
    events: parts.has('event') ? [toAuditRow({ id: randomUUID(), time: new Date(now), type: 'issued', requestId: randomUUID(), provisioner: 'admin', subject: name, sans: [name], serial, outcome: 'ok', clientAddress: '127.0.0.1' })] : undefined,
  };
}

const variants: [string, string[]][] = [
  ['empty transaction', []], ['row', ['row']], ['token', ['token']], ['event', ['event']], ['row+token+event', ['row', 'token', 'event']],
];
const n = Number(f.items), b = Number(f.batch);
for (let round = 0; round < 2; round++) {
  for (const [label, parts] of variants) {
    const dir = mkdtempSync(join(tmpdir(), 'writer-cost-'));
    const file = join(dir, 'ledger.sqlite');
    await (await openSqliteLedger(file, { writer: 'inline' })).close();
    const db = new Database(file);
    configureConnection(db);
    db.pragma(`synchronous = ${f.sync}`);
    if (process.env.PRAGMAS) for (const p of process.env.PRAGMAS.split(';')) db.pragma(p);
    const commit = issuanceBatch(db);
    const set = new Set(parts);
    const batches = Array.from({ length: n / b }, () => Array.from({ length: b }, () => item(set)));
    const c0 = process.cpuUsage();
    for (const batch of batches) commit(batch);
    const c = process.cpuUsage(c0);
    db.close();
    rmSync(dir, { recursive: true, force: true });
    console.log(JSON.stringify({ round, label, sync: f.sync, batch: b, usPerItem: +((c.user + c.system) / n).toFixed(1), sysUsPerItem: +(c.system / n).toFixed(1) }));
  }
}
