// The pragmas every connection to the ledger runs with, the server's and its writer thread's.
import type Database from 'better-sqlite3';

/** The server's own connection and the writer thread's alike. */
export function configureConnection(db: Database.Database): void {
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  // FULL also syncs the WAL on every commit: a certificate may leave the CA only once its row
  // would survive power loss.
  db.pragma('synchronous = FULL');
  // The cache is resident memory and fills to its size once the ledger outgrows it: the writer's
  // 64 MiB, then 16 MiB, held the server at 208, then 130-135 MiB RSS under /sign load. Serials
  // and token ids are random, so on a large ledger most inserts miss any cache this size anyway
  // (a miss is a read from the OS's page cache, not the disk), while 4 MiB still holds every
  // index's interior pages: at a million rows 4 MiB gave the same or better /sign rate and writer
  // CPU as 16 MiB, at 114-127 MiB RSS instead of 126-130 (bench/README.md, issue 18's fifth round).
  db.pragma('cache_size = -4096');
}
