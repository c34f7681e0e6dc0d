-- PostgreSQL twin of ../*.do.acme.sql (the same number and name). ACME (RFC 8555): accounts, orders, authorizations (their challenges inside), nonces and EAB
-- keys. Each object's full state is one JSON document (`doc`); the columns beside it are what
-- lookups, compare-and-set updates and pruning need. Times are unix milliseconds (BIGINT).
CREATE TABLE acme_accounts (
  id          TEXT PRIMARY KEY,
  provisioner TEXT NOT NULL,
  thumbprint  TEXT NOT NULL UNIQUE,   -- RFC 7638 SHA-256 of the account key: one account per key
  status      TEXT NOT NULL,
  created_at  BIGINT NOT NULL,
  doc         TEXT NOT NULL
);
CREATE TABLE acme_orders (
  id                 TEXT PRIMARY KEY,
  account_id         TEXT NOT NULL REFERENCES acme_accounts (id),
  status             TEXT NOT NULL,
  expires_at         BIGINT NOT NULL,
  created_at         BIGINT NOT NULL,
  certificate_serial TEXT NULL,
  doc                TEXT NOT NULL
);
CREATE INDEX acme_orders_account ON acme_orders (account_id, created_at);
CREATE INDEX acme_orders_expires ON acme_orders (expires_at);
CREATE INDEX acme_orders_certificate ON acme_orders (certificate_serial);
CREATE TABLE acme_authorizations (
  id         TEXT PRIMARY KEY,
  order_id   TEXT NOT NULL REFERENCES acme_orders (id) ON DELETE CASCADE,
  status     TEXT NOT NULL,
  expires_at BIGINT NOT NULL,
  doc        TEXT NOT NULL
);
CREATE INDEX acme_authorizations_order ON acme_authorizations (order_id);
-- One row per nonce handed out; using one deletes it, so it works once on every replica.
CREATE TABLE acme_nonces (
  nonce      TEXT PRIMARY KEY,
  expires_at BIGINT NOT NULL
);
CREATE INDEX acme_nonces_expires ON acme_nonces (expires_at);
-- External account binding keys (`stepstone acme eab add`); bound to one account at most.
CREATE TABLE acme_eab_keys (
  key_id      TEXT PRIMARY KEY,
  provisioner TEXT NOT NULL,
  hmac_key    TEXT NOT NULL,          -- base64url
  reference   TEXT NULL,
  created_at  BIGINT NOT NULL,
  account_id  TEXT NULL,
  bound_at    BIGINT NULL
);
