// Ledger maintenance: an online backup through SQLite's backup API (a consistent copy while the
// CA keeps writing; PostgreSQL has pg_dump), and a verification, on either backend, that every row
// still says what its certificate says. Neither writes to the live ledger.
import { createHash, X509Certificate } from 'node:crypto';
import { closeSync, existsSync, openSync, rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { RawLedger } from './raw.js';
import type { StoredRow } from './rows.js';
import { verifyChain, type ChainReport } from './audit-chain.js';

export interface BackupResult { file: string; pages: number; certificates: number }

/** Copies `ledger` to `out` (0600, refused if it exists) and checks the copy opens intact. */
export async function backupLedger(ledger: string, out: string): Promise<BackupResult> {
  if (existsSync(out)) throw new Error(`${out} already exists; choose a new file (a backup never overwrites)`);
  const src = new Database(ledger, { readonly: true, fileMustExist: true });
  // Created first with 0600, so the copy of every certificate record is never world-readable.
  closeSync(openSync(out, 'wx', 0o600));
  try {
    src.pragma('busy_timeout = 5000');
    const progress = await src.backup(out);
    const copy = new Database(out);
    try {
      // The copy carries the live ledger's WAL mode; as a rollback-journal file it is one
      // self-contained file to move or archive, with no -wal/-shm beside it.
      copy.pragma('journal_mode = DELETE');
      const ok = copy.pragma('integrity_check', { simple: true });
      if (ok !== 'ok') throw new Error(`the copy fails integrity_check: ${String(ok)}`);
      const certificates = (copy.prepare('SELECT count(*) AS n FROM certificates').get() as { n: number }).n;
      return { file: out, pages: progress.totalPages, certificates };
    } finally {
      copy.close();
    }
  } catch (e) {
    rmSync(out, { force: true });
    throw e;
  } finally {
    src.close();
  }
}

export interface VerifyReport {
  certificates: number;
  revoked: number;
  schemaVersion: number;
  /** Every disagreement found, at most `limit` of them. */
  problems: string[];
  problemCount: number;
  /** The audit trail's hash chain; null when this ledger predates it. */
  audit: ChainReport | null;
}

/** Checks a ledger (SQLite or PostgreSQL) against itself and against `issuers` (certificates that may have signed its rows). */
export async function verifyLedger(raw: RawLedger, issuers: X509Certificate[], limit = 50): Promise<VerifyReport> {
  const problems: string[] = [];
  let problemCount = 0;
  const problem = (p: string) => { if (problemCount++ < limit) problems.push(p); };
  for (const p of await raw.integrity()) problem(p);
  const schemaVersion = await raw.schemaVersion();
  if (schemaVersion > raw.knownVersion) problem(`schema version ${schemaVersion} is newer than this build knows (${raw.knownVersion})`);
  const keys = issuers.map((c) => c.publicKey);
  let certificates = 0;
  let revoked = 0;
  for await (const r of raw.certificates()) {
    certificates++;
    if (r.revoked_at !== null) revoked++;
    checkRow(r, keys, problem);
  }
  const head = await raw.auditHead();
  const audit = head ? await verifyChain(raw.auditEvents(), head, (h) => raw.seqOfHash(h)) : null;
  if (audit?.problem) problem(audit.problem.message);
  return { certificates, revoked, schemaVersion, problems, problemCount, audit };
}

/** One row against its own certificate and the CA's keys. */
function checkRow(r: StoredRow, keys: X509Certificate['publicKey'][], problem: (p: string) => void): void {
  if (r.revoked_at !== null) {
    const code = r.revocation_reason_code;
    if (code === null || code < 0 || code > 10 || code === 7) problem(`${r.serial}: revocation reason code ${String(code)} is not an RFC 5280 reason`);
  }
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(r.pem);
  } catch {
    problem(`${r.serial}: the stored certificate does not parse`);
    return;
  }
  if (createHash('sha256').update(cert.raw).digest('hex') !== r.fingerprint) problem(`${r.serial}: fingerprint column does not match the certificate`);
  const serial = BigInt(`0x${cert.serialNumber}`).toString();
  if (serial !== r.serial) problem(`${r.serial}: the certificate's serial is ${serial}`);
  if (Date.parse(cert.validTo) !== r.not_after || Date.parse(cert.validFrom) !== r.not_before) problem(`${r.serial}: validity columns do not match the certificate`);
  const cn = /^CN=(.*)$/m.exec(cert.subject)?.[1] ?? '';
  if (!cert.subject.includes('\\') && cn !== r.subject) problem(`${r.serial}: subject column "${r.subject}" but the certificate says "${cn}"`);
  if (keys.length && !keys.some((k) => cert.verify(k))) problem(`${r.serial}: not signed by the CA's intermediate`);
}
