// The issuance ledger: the CA's source of truth. A certificate may leave the CA only after
// `recordIssuance` has resolved (its row is committed and durable). Two backends implement it:
// sqlite.ts (one process, the default) and postgres.ts (several replicas on one database);
// open.ts picks one from ca.json, and test/unit/ledger.test.ts holds both to this contract.

import type { AuditEventInput, EventStore } from './events.js';
import type { CertificatePage, CertificateSearch, InventorySeries } from './inventory.js';
import type { AcmeStore } from './acme-store.js';
export type { AuditEventInput, AuditEvent, AuditEventType, EventQuery, EventStore } from './events.js';
export type { CertificatePage, CertificateSearch, CertificateSort, CertificateState, DayCount, InventorySeries } from './inventory.js';

/** How a certificate came to be ('serving': the CA's own HTTPS certificate). */
export type IssuanceMethod = 'sign' | 'renew' | 'rekey' | 'serving';

export interface CertificateRecord {
  /** Serial number in decimal, as step-ca normalises it. */
  serial: string;
  /** Subject common name ('' when the subject is empty). */
  subject: string;
  /** Every SAN as its plain string: DNS names, IPs, emails, URIs. */
  sans: string[];
  notBefore: Date;
  notAfter: Date;
  /** Lower-case hex SHA-256 of the certificate DER. */
  fingerprint: string;
  /** Name of the provisioner that authorised it, null when none did. */
  provisioner: string | null;
  /** The certificate, PEM. */
  pem: string;
  issuedAt: Date;
  method: IssuanceMethod;
  /** Serial of the certificate this one replaces (renew, rekey), else null. */
  replaces: string | null;
  /**
   * Name of the issuer (stepstone.issuers) that signed it. Null or absent: a row from before
   * issuers were recorded, which is the "default" issuer's (else the first configured one's).
   */
  issuer?: string | null;
}

/** A certificate as the ledger holds it: what was issued plus what happened to it since. */
export interface StoredCertificate extends CertificateRecord {
  revokedAt: Date | null;
  /** RFC 5280 CRLReason number, when revoked. */
  revocationReasonCode: number | null;
  revocationReason: string | null;
}

/** A one-time token being spent. */
export interface TokenClaim {
  /** The token's jti, or the hex SHA-256 of the whole token when it has none. */
  jti: string;
  provisioner: string;
  /** The token's exp; the row may be pruned once this (plus leeway) has passed. */
  expiresAt: Date;
}

export interface Revocation {
  serial: string;
  /** RFC 5280 CRLReason number, 0–10. */
  reasonCode: number;
  reason: string;
  revokedAt: Date;
}

/** What a CRL needs of a revoked certificate, and nothing more (CRLs can hold 100 000s). */
export interface RevokedEntry {
  serial: string;
  revokedAt: Date;
  reasonCode: number;
  notAfter: Date;
}

export type RevokeOutcome = 'revoked' | 'already_revoked' | 'not_found';

export interface CertificateFilter {
  /** Only certificates whose notAfter is before this instant (and not yet past `now`). */
  expiringBefore?: Date;
  provisioner?: string;
  /** Only revoked certificates. */
  revoked?: boolean;
  limit?: number;
}

/**
 * Which issuer's revocations a CRL lists: rows recorded with `name`, and rows recorded with no
 * issuer when `orUnnamed`. Absent: every revoked row (a CA with one issuer).
 */
export interface IssuerScope {
  name: string;
  orUnnamed: boolean;
}

/** A CRL's number and entries, taken together: a higher number never lists less. */
export interface CrlSnapshot {
  number: number;
  entries: RevokedEntry[];
}

/** News of revocations made by other processes sharing this ledger (replicas). */
export interface RevocationFeed {
  /**
   * Calls `listener` after another replica's revocation commits (with its serial), and with null
   * when news may have been missed (the feed reconnected). Returns the unsubscribe function.
   */
  onRevocation(listener: (serial: string | null) => void): () => void;
}

/**
 * A feed this process also speaks on: SQLite shared by `serve --workers` processes, which tell
 * each other of revocations through the cluster's primary (runtime/cluster.ts).
 */
export interface SharedRevocationFeed extends RevocationFeed {
  /** Tells the other processes that `serial` was revoked here (after its commit). */
  announce(serial: string): void;
}

export interface Ledger {
  /** Present when other processes can revoke in this ledger (PostgreSQL); absent for SQLite. */
  readonly revocations?: RevocationFeed;
  /**
   * Records a certificate and, when given, spends the token and appends the audit event — in one
   * transaction. Throws CaError 'token_used' (401) and records nothing when the jti was already
   * spent. Throws CaError 'unavailable' (503) when the store cannot write.
   */
  recordIssuance(cert: CertificateRecord, token?: TokenClaim, event?: AuditEventInput): Promise<void>;
  /**
   * Marks a certificate revoked and, when given, spends the token and appends the audit event —
   * in one transaction. Nothing is written (and the token stays unspent) unless the outcome is
   * 'revoked'. Throws CaError 'token_used' when the jti was already spent.
   */
  revoke(r: Revocation, token?: TokenClaim, event?: AuditEventInput | AuditEventInput[]): Promise<RevokeOutcome>;
  /** The audit trail and what reads it (events.ts). */
  readonly events: EventStore;
  /** ACME accounts, orders, authorizations, nonces and EAB keys (acme-store.ts). */
  readonly acme: AcmeStore;
  /** Counts for the metrics; a scan, so callers cache it (never per request or per scrape). */
  stats(now: Date): Promise<LedgerStats>;
  /** Called after every group commit with its size and duration (metrics); one observer at a time. */
  onCommit?(fn: CommitObserver | null): void;
  /** Revoked certificates whose notAfter is after `notAfterAfter` (older ones leave the CRL). */
  listRevoked(notAfterAfter: Date): Promise<RevokedEntry[]>;
  /** Increments and returns the CRL number. */
  nextCrlNumber(): Promise<number>;
  /**
   * Increments the CRL number and lists the revoked certificates whose notAfter is after
   * `notAfterAfter`, atomically: numbers are unique and increase across every process sharing the
   * ledger, and a CRL with a higher number includes every entry of a lower one still in date.
   */
  nextCrl(notAfterAfter: Date, scope?: IssuerScope): Promise<CrlSnapshot>;
  /** True when this jti has been spent (a cheap pre-check; recordIssuance is the real guard). */
  isTokenUsed(jti: string): Promise<boolean>;
  getCertificate(serial: string): Promise<StoredCertificate | null>;
  listCertificates(filter?: CertificateFilter): Promise<StoredCertificate[]>;
  /**
   * Every certificate of the renewal chain `serial` belongs to: the ones it replaced (back to the
   * first issuance) and the ones that replaced it, oldest first. Empty when `serial` is unknown.
   */
  lineage(serial: string): Promise<StoredCertificate[]>;
  countCertificates(): Promise<number>;
  /** One page of a search (the web console's list): keyset-paged along an index, see inventory.ts. */
  searchCertificates(q: CertificateSearch): Promise<CertificatePage>;
  /**
   * The console's overview: the counts LedgerStats has (valid, expiring in 7 days, revoked) plus
   * issued today, issuance per day over 90 days and the expiry horizon. Reads indexes only (on
   * SQLite's stats thread when file-backed), where stats() reads the table.
   */
  series(now: Date): Promise<InventorySeries>;
  /** Deletes spent-token rows whose expiry is before `before`; returns how many went. */
  pruneUsedTokens(before: Date): Promise<number>;
  /** Resolves when the store answers; throws CaError 'unavailable' when it cannot (GET /health). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface LedgerStats {
  /** Not revoked, not expired (the CA's own serving certificates excluded, as below). */
  valid: number;
  /** Valid and expiring within 7 days. */
  expiring7d: number;
  /** Revoked and not yet expired. */
  revoked: number;
  /**
   * Valid, expiring within 24 h, past 3/4 of their lifetime (a renewing client renews at 2/3),
   * and not replaced by a renewal: hosts whose renewal is not happening.
   */
  expiringUnrenewed: number;
  /** Bytes the ledger occupies. */
  sizeBytes: number;
}

export type CommitObserver = (batchSize: number, seconds: number) => void;
