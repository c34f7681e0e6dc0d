// The pragmas every connection to the ledger runs with, the server's and its writer thread's.
import type Database from 'better-sqlite3';

export function configureConnection(db: Database.Database): void {
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  // FULL also syncs the WAL on every commit: a certificate may leave the CA only once its row
  // would survive power loss.
  db.pragma('synchronous = FULL');
  // Serials and fingerprints are random, so every insert lands on a random index page; the
  // default 2 MB cache makes a million-row ledger read pages from the OS on every /sign.
  db.pragma('cache_size = -65536');
}
