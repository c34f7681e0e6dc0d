-- Schema version 10 (PostgreSQL twin): which of the CA's issuers (stepstone.issuers, by name) signed each
-- certificate, so each issuer's CRL lists its own revocations. NULL: a row written before this
-- column existed, which belongs to the issuer named "default" (else the first configured).
-- The partial index keeps a CRL's read to the revoked rows, as before, now per issuer.
ALTER TABLE certificates ADD COLUMN issuer TEXT;
CREATE INDEX certificates_revoked_issuer ON certificates (issuer, not_after) WHERE revoked_at IS NOT NULL;
