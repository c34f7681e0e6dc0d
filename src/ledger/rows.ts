// A certificate as both backends store it: times as unix milliseconds, SANs as a JSON array.
// One mapping for SQLite and PostgreSQL, so a row means the same wherever it was written.
import type { CertificateRecord, IssuanceMethod, StoredCertificate } from './ledger.js';
import { CERT_COLUMNS, type IssuanceRow } from './issuance-batch.js';

export type CertificateRow = Omit<IssuanceRow, 'method'> & { method: IssuanceMethod };

export interface StoredRow extends CertificateRow {
  revoked_at: number | null;
  revocation_reason_code: number | null;
  revocation_reason: string | null;
}

export const STORED_COLUMNS = `${CERT_COLUMNS}, revoked_at, revocation_reason_code, revocation_reason`;

// An Invalid Date would otherwise be bound as NULL/NaN and surface as an obscure constraint error.
export function millis(d: Date, what: string): number {
  const ms = d.getTime();
  if (!Number.isFinite(ms)) throw new RangeError(`ledger: ${what} is not a valid date`);
  return ms;
}

export function toRow(c: CertificateRecord): CertificateRow {
  return {
    serial: c.serial,
    subject: c.subject,
    sans: JSON.stringify(c.sans),
    not_before: millis(c.notBefore, 'notBefore'),
    not_after: millis(c.notAfter, 'notAfter'),
    fingerprint: c.fingerprint,
    provisioner: c.provisioner,
    pem: c.pem,
    issued_at: millis(c.issuedAt, 'issuedAt'),
    method: c.method,
    replaces: c.replaces,
    issuer: c.issuer ?? null,
  };
}

export function fromRow(r: StoredRow): StoredCertificate {
  return {
    serial: r.serial,
    subject: r.subject,
    sans: JSON.parse(r.sans) as string[],
    notBefore: new Date(r.not_before),
    notAfter: new Date(r.not_after),
    fingerprint: r.fingerprint,
    provisioner: r.provisioner,
    pem: r.pem,
    issuedAt: new Date(r.issued_at),
    method: r.method,
    replaces: r.replaces,
    issuer: r.issuer,
    revokedAt: r.revoked_at === null ? null : new Date(r.revoked_at),
    revocationReasonCode: r.revocation_reason_code,
    revocationReason: r.revocation_reason,
  };
}

/** listCertificates' limit: absent (no limit) or a non-negative integer. */
export function checkLimit(limit: number | undefined): void {
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 0)) {
    throw new RangeError(`listCertificates: limit must be a non-negative integer, got ${limit}`);
  }
}
