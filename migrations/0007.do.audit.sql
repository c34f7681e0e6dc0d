-- The audit trail: one row per decision (issued, renewed, rekeyed, revoked, refused, admin
-- actions, expiry notices), written in the same transaction as what it records. Rows form a
-- SHA-256 hash chain (src/ledger/audit-chain.ts): `hash` covers the row's content and the previous
-- row's hash; seq counts 1, 2, 3, ... with no gaps, so a deleted row leaves a hole. audit_head
-- holds the last seq and hash, updated in the same transaction: deleting the newest rows is caught
-- too, unless whoever deletes them also rewrites the head (anchor the head elsewhere for that).
-- Times are unix milliseconds.
CREATE TABLE audit_events (
  seq            INTEGER PRIMARY KEY,
  id             TEXT NOT NULL,      -- UUID: what webhook receivers deduplicate on
  time           INTEGER NOT NULL,
  type           TEXT NOT NULL,      -- issued, renewed, rekeyed, revoked, refused, admin, expiring-soon, renewal-overdue
  actor          TEXT NULL,          -- who, for admin actions
  request_id     TEXT NULL,
  replica        TEXT NULL,
  client_address TEXT NULL,
  provisioner    TEXT NULL,
  subject        TEXT NULL,
  sans           TEXT NULL,          -- JSON array of strings
  serial         TEXT NULL,
  outcome        TEXT NULL,
  reason         TEXT NULL,
  count          INTEGER NOT NULL DEFAULT 1,  -- > 1: refusals aggregated into one row
  prev_hash      TEXT NOT NULL,
  hash           TEXT NOT NULL
);
-- Both only ever grow at their right edge, so they cost an insert almost nothing.
CREATE INDEX audit_events_time ON audit_events (time);
CREATE INDEX audit_events_type ON audit_events (type, seq);

CREATE TABLE audit_head (
  id   INTEGER PRIMARY KEY CHECK (id = 1),
  seq  INTEGER NOT NULL,
  hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Webhook delivery: the audit trail is the outbox, each webhook a durable cursor into it. A
-- replica delivers a webhook only while it holds its lease, so replicas do not deliver twice.
CREATE TABLE webhook_cursors (
  webhook         TEXT PRIMARY KEY,  -- the webhook's configured name
  seq             INTEGER NOT NULL,  -- every event up to here has been delivered
  attempts        INTEGER NOT NULL DEFAULT 0,  -- failed tries of the event after seq
  next_attempt_at INTEGER NOT NULL DEFAULT 0,
  last_error      TEXT NULL,
  lease_owner     TEXT NULL,
  lease_until     INTEGER NOT NULL DEFAULT 0
);

-- Which expiry notice each certificate has had, so each is sent once.
CREATE TABLE notices (
  serial TEXT NOT NULL,
  kind   TEXT NOT NULL,
  PRIMARY KEY (serial, kind)
);
