// Ledger maintenance on the CA's machine: an online backup through SQLite's backup API (a
// consistent copy while the CA keeps writing), and a verification that every row still says what
// its certificate says. Both open their own connections; neither writes to the live ledger.
import { createHash, X509Certificate } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import { MIGRATIONS_DIR } from './migrate.js';

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
}

interface Row {
  serial: string; subject: string; not_before: number; not_after: number; fingerprint: string; pem: string;
  revoked_at: number | null; revocation_reason_code: number | null;
}

/** Checks `file` against itself and against `issuers` (certificates that may have signed its rows). */
export function verifyLedger(file: string, issuers: X509Certificate[], limit = 50): VerifyReport {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  const problems: string[] = [];
  let problemCount = 0;
  const problem = (p: string) => { if (problemCount++ < limit) problems.push(p); };
  try {
    db.pragma('busy_timeout = 5000');
    const integrity = db.pragma('integrity_check') as { integrity_check: string }[];
    if (integrity.length !== 1 || integrity[0]!.integrity_check !== 'ok') problem(`integrity_check: ${integrity.map((r) => r.integrity_check).join('; ')}`);
    const schemaVersion = Number((db.prepare('SELECT max(version) AS v FROM schema_version').get() as { v: number | null }).v ?? 0);
    const known = Math.max(0, ...readdirSync(MIGRATIONS_DIR).map((f) => Number(/^(\d+)\.do\./.exec(f)?.[1] ?? 0)));
    if (schemaVersion > known) problem(`schema version ${schemaVersion} is newer than this build knows (${known})`);
    const keys = issuers.map((c) => c.publicKey);
    let certificates = 0;
    let revoked = 0;
    for (const r of db.prepare('SELECT serial, subject, not_before, not_after, fingerprint, pem, revoked_at, revocation_reason_code FROM certificates').iterate() as IterableIterator<Row>) {
      certificates++;
      if (r.revoked_at !== null) {
        revoked++;
        if (r.revocation_reason_code === null || r.revocation_reason_code < 0 || r.revocation_reason_code > 10 || r.revocation_reason_code === 7) problem(`${r.serial}: revocation reason code ${String(r.revocation_reason_code)} is not an RFC 5280 reason`);
      }
      let cert: X509Certificate;
      try {
        cert = new X509Certificate(r.pem);
      } catch {
        problem(`${r.serial}: the stored certificate does not parse`);
        continue;
      }
      if (createHash('sha256').update(cert.raw).digest('hex') !== r.fingerprint) problem(`${r.serial}: fingerprint column does not match the certificate`);
      if (BigInt(`0x${cert.serialNumber}`).toString() !== r.serial) problem(`${r.serial}: the certificate's serial is ${BigInt(`0x${cert.serialNumber}`).toString()}`);
      if (Date.parse(cert.validTo) !== r.not_after || Date.parse(cert.validFrom) !== r.not_before) problem(`${r.serial}: validity columns do not match the certificate`);
      const cn = /^CN=(.*)$/m.exec(cert.subject)?.[1] ?? '';
      if (!cert.subject.includes('\\') && cn !== r.subject) problem(`${r.serial}: subject column "${r.subject}" but the certificate says "${cn}"`);
      if (keys.length && !keys.some((k) => cert.verify(k))) problem(`${r.serial}: not signed by the CA's intermediate`);
    }
    return { certificates, revoked, schemaVersion, problems, problemCount };
  } finally {
    db.close();
  }
}
