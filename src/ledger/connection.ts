// The pragmas every connection to the ledger runs with, the server's and its writer thread's.
import type Database from 'better-sqlite3';

/**
 * `role`: the writer thread inserts at random index pages and gets the big cache; the server's
 * own connection only looks rows up by serial, and a smaller cache keeps a large ledger's server
 * within its memory budget (each connection's cache is resident memory).
 */
export function configureConnection(db: Database.Database, role: 'writer' | 'reader' = 'writer'): void {
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  // FULL also syncs the WAL on every commit: a certificate may leave the CA only once its row
  // would survive power loss.
  db.pragma('synchronous = FULL');
  // Serials and token ids are random, so every insert lands on a random index page; the
  // default 2 MB cache makes a million-row ledger read pages from the OS on every /sign.
  db.pragma(role === 'writer' ? 'cache_size = -65536' : 'cache_size = -16384');
}
