-- PostgreSQL twin of ../*.do.audit.sql (the same number and name): the audit trail, its chain head,
-- webhook cursors and expiry notices. Times are unix milliseconds (BIGINT).
--
-- One chain across every replica: a writer appends under the audit_head row lock, taken inside
-- the transaction that records what the events describe, after its other rows (src/ledger/pg-chain.ts).
-- seq is assigned from the head under that lock, so it counts 1, 2, 3, ... with no gaps, and a
-- row with a higher seq never commits before a lower one (the lock is held until COMMIT), which
-- is what lets webhook cursors read the trail in seq order without skipping anything.
CREATE TABLE audit_events (
  seq            BIGINT PRIMARY KEY,
  id             TEXT NOT NULL,
  time           BIGINT NOT NULL,
  type           TEXT NOT NULL,
  actor          TEXT NULL,
  request_id     TEXT NULL,
  replica        TEXT NULL,
  client_address TEXT NULL,
  provisioner    TEXT NULL,
  subject        TEXT NULL,
  sans           TEXT NULL,
  serial         TEXT NULL,
  outcome        TEXT NULL,
  reason         TEXT NULL,
  count          BIGINT NOT NULL DEFAULT 1,
  prev_hash      TEXT NOT NULL,
  hash           TEXT NOT NULL
);
CREATE INDEX audit_events_time ON audit_events (time);
CREATE INDEX audit_events_type ON audit_events (type, seq);

CREATE TABLE audit_head (
  id   INTEGER PRIMARY KEY CHECK (id = 1),
  seq  BIGINT NOT NULL,
  hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE webhook_cursors (
  webhook         TEXT PRIMARY KEY,
  seq             BIGINT NOT NULL,
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at BIGINT NOT NULL DEFAULT 0,
  last_error      TEXT NULL,
  lease_owner     TEXT NULL,
  lease_until     BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE notices (
  serial TEXT NOT NULL,
  kind   TEXT NOT NULL,
  PRIMARY KEY (serial, kind)
);
