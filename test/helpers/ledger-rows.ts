// Made-up ledger records for the ledger tests: unique serials, every field filled.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import Database from 'better-sqlite3';
import { CaError } from '../../src/errors.ts';
import type { CertificateRecord, TokenClaim } from '../../src/ledger/ledger.ts';

export const HOUR = 3600_000;
let serial = 1000n + BigInt(crypto.randomInt(1_000_000)) * 1_000_000n;

export function cert(over: Partial<CertificateRecord> = {}): CertificateRecord {
  const s = (serial++).toString();
  const now = Date.now();
  return {
    serial: s,
    subject: `host-${s}.example`,
    sans: [`host-${s}.example`, '10.0.0.1', 'ops@example.com', 'spiffe://example/x'],
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 24 * HOUR),
    fingerprint: crypto.createHash('sha256').update(s).digest('hex'),
    provisioner: 'admin',
    pem: `-----BEGIN CERTIFICATE-----\nMII${s}\n-----END CERTIFICATE-----\n`,
    issuedAt: new Date(now),
    method: 'sign',
    replaces: null,
    issuer: null,
    ...over,
  };
}

export const token = (jti: string, expiresAt = new Date(Date.now() + 5 * 60_000)): TokenClaim => ({ jti, provisioner: 'admin', expiresAt });

export function rejectsWith(code: string) {
  return (err: unknown) => {
    assert.ok(err instanceof CaError, `expected CaError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  };
}

/** How many certificates a CA's SQLite ledger holds, read on a connection of its own. */
export function certificateCount(dbPath: string): number {
  const db = new Database(dbPath, { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM certificates').get() as { n: number }).n;
  } finally {
    db.close();
  }
}
