-- The fingerprint column keeps its values but loses its UNIQUE constraint. Two rows with one
-- fingerprint would be one DER twice, which the serial's primary key already forbids, and no
-- query looks a certificate up by fingerprint; the constraint's index was a third b-tree keyed
-- by a random value on every issuance: at a million rows it cost /sign 13 % of its throughput
-- and made its p99 two thirds longer (bench/README.md). SQLite cannot drop a table constraint, so the table is rebuilt
-- (SQLite's documented procedure; migrate.ts turns foreign key enforcement off around it and
-- runs foreign_key_check before committing).

CREATE TABLE certificates_new (
  serial      TEXT PRIMARY KEY,                 -- decimal, as step-ca normalises it
  subject     TEXT NOT NULL,
  sans        TEXT NOT NULL,                    -- JSON array of strings
  not_before  INTEGER NOT NULL,
  not_after   INTEGER NOT NULL,
  fingerprint TEXT NOT NULL,                    -- lower-case hex SHA-256 of the DER
  provisioner TEXT,                             -- NULL when no provisioner authorised it
  pem         TEXT NOT NULL,
  issued_at   INTEGER NOT NULL,
  method      TEXT NOT NULL CHECK (method IN ('sign', 'renew', 'rekey', 'serving')),
  replaces    TEXT NULL REFERENCES certificates (serial),
  revoked_at  INTEGER NULL,
  revocation_reason_code INTEGER NULL CHECK (revocation_reason_code BETWEEN 0 AND 10),
  revocation_reason TEXT NULL
);

INSERT INTO certificates_new (serial, subject, sans, not_before, not_after, fingerprint, provisioner, pem, issued_at, method, replaces,
                              revoked_at, revocation_reason_code, revocation_reason)
  SELECT serial, subject, sans, not_before, not_after, fingerprint, provisioner, pem, issued_at, method, replaces,
         revoked_at, revocation_reason_code, revocation_reason
  FROM certificates ORDER BY rowid;

DROP TABLE certificates;
ALTER TABLE certificates_new RENAME TO certificates;

CREATE INDEX certificates_not_after ON certificates (not_after);
CREATE INDEX certificates_provisioner ON certificates (provisioner);
CREATE INDEX certificates_replaces ON certificates (replaces);
CREATE INDEX certificates_revoked_at ON certificates (revoked_at) WHERE revoked_at IS NOT NULL;
