-- Schema version 3: the CRL number, which must only ever increase (RFC 5280 §5.2.3), across
-- restarts and replicas sharing this ledger.
CREATE TABLE crl_state (
  id     INTEGER PRIMARY KEY CHECK (id = 1),
  number INTEGER NOT NULL
);
INSERT INTO crl_state (id, number) VALUES (1, 0);
