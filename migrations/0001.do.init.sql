-- Stepstone ledger, schema version 1.
-- Applied by postgrator inside one transaction (see src/ledger/migrate.ts), so no BEGIN/COMMIT here.
-- Times are unix milliseconds. Revocation (revoked_at, reason) arrives in a later migration as
-- nullable columns added with ALTER TABLE ... ADD COLUMN, so nothing here may assume they are absent.

CREATE TABLE certificates (
  serial      TEXT PRIMARY KEY,                 -- decimal, as step-ca normalises it
  subject     TEXT NOT NULL,
  sans        TEXT NOT NULL,                    -- JSON array of strings
  not_before  INTEGER NOT NULL,
  not_after   INTEGER NOT NULL,
  fingerprint TEXT NOT NULL UNIQUE,             -- lower-case hex SHA-256 of the DER
  provisioner TEXT,                             -- NULL when no provisioner authorised it
  pem         TEXT NOT NULL,
  issued_at   INTEGER NOT NULL,
  method      TEXT NOT NULL CHECK (method IN ('sign', 'renew', 'rekey', 'serving')),
  replaces    TEXT NULL REFERENCES certificates (serial)
);

CREATE INDEX certificates_not_after ON certificates (not_after);
CREATE INDEX certificates_provisioner ON certificates (provisioner);
-- Also serves the foreign key: without it every parent lookup would scan the table.
CREATE INDEX certificates_replaces ON certificates (replaces);

-- Spent one-time tokens. A row only has to outlive its token's expiry; after that the token is
-- rejected as expired anyway, so pruneUsedTokens may delete it.
CREATE TABLE used_tokens (
  jti         TEXT PRIMARY KEY,
  provisioner TEXT NOT NULL,
  expires_at  INTEGER NOT NULL,
  used_at     INTEGER NOT NULL
);

CREATE INDEX used_tokens_expires_at ON used_tokens (expires_at);
