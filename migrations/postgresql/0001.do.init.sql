-- Stepstone ledger, schema version 1 (PostgreSQL twin of ../0001.do.init.sql).
-- Applied by postgrator inside one transaction under an advisory lock (src/ledger/migrate-postgres.ts).
-- Times are unix milliseconds, as in SQLite: BIGINT, since INTEGER is 32-bit here.

CREATE TABLE certificates (
  serial      TEXT PRIMARY KEY,                 -- decimal, as step-ca normalises it
  subject     TEXT NOT NULL,
  sans        TEXT NOT NULL,                    -- JSON array of strings
  not_before  BIGINT NOT NULL,
  not_after   BIGINT NOT NULL,
  fingerprint TEXT NOT NULL UNIQUE,             -- lower-case hex SHA-256 of the DER
  provisioner TEXT,                             -- NULL when no provisioner authorised it
  pem         TEXT NOT NULL,
  issued_at   BIGINT NOT NULL,
  method      TEXT NOT NULL CHECK (method IN ('sign', 'renew', 'rekey', 'serving')),
  -- DEFERRABLE so `ledger copy` can load rows in any order inside one transaction; every other
  -- writer checks it per statement (INITIALLY IMMEDIATE).
  replaces    TEXT NULL REFERENCES certificates (serial) DEFERRABLE INITIALLY IMMEDIATE
);

CREATE INDEX certificates_not_after ON certificates (not_after);
CREATE INDEX certificates_provisioner ON certificates (provisioner);
CREATE INDEX certificates_replaces ON certificates (replaces);

CREATE TABLE used_tokens (
  jti         TEXT PRIMARY KEY,
  provisioner TEXT NOT NULL,
  expires_at  BIGINT NOT NULL,
  used_at     BIGINT NOT NULL
);

CREATE INDEX used_tokens_expires_at ON used_tokens (expires_at);
