-- Schema version 3 (PostgreSQL twin): the CRL number, one row for the whole cluster. Replicas
-- take it with UPDATE ... RETURNING, whose row lock orders them (src/ledger/postgres.ts).
CREATE TABLE crl_state (
  id     INTEGER PRIMARY KEY CHECK (id = 1),
  number BIGINT NOT NULL
);
INSERT INTO crl_state (id, number) VALUES (1, 0);
