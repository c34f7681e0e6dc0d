-- Schema version 2 (PostgreSQL twin): revocation state on each certificate. NULL revoked_at = not revoked.
ALTER TABLE certificates ADD COLUMN revoked_at BIGINT NULL;
ALTER TABLE certificates ADD COLUMN revocation_reason_code INTEGER NULL CHECK (revocation_reason_code BETWEEN 0 AND 10);
ALTER TABLE certificates ADD COLUMN revocation_reason TEXT NULL;

CREATE INDEX certificates_revoked_at ON certificates (revoked_at) WHERE revoked_at IS NOT NULL;
