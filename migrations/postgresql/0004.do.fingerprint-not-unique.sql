-- Schema version 4 (PostgreSQL twin): the fingerprint loses its UNIQUE constraint (see
-- ../0004.do.fingerprint-not-unique.sql for why). PostgreSQL drops a constraint in place.
ALTER TABLE certificates DROP CONSTRAINT certificates_fingerprint_key;
