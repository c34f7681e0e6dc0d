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
  // default 2 MB cache makes a million-row ledger read pages from the OS on every /sign. The
  // cache is resident memory and fills to its size on a big ledger: at a million rows 64 + 16 MiB
  // put the server at 208 MiB RSS under load, 16 + 4 MiB at 146 MiB with no measurable loss (a
  // page the cache lacks is a read from the OS's page cache, not the disk; bench/README.md).
  db.pragma(role === 'writer' ? 'cache_size = -16384' : 'cache_size = -4096');
}
