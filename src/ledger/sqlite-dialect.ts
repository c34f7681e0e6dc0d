// SQLite's side of inventory.ts, apart from sqlite.ts so the stats thread can load it alone.
import type { Dialect } from './inventory.js';

/** SQLite's side of inventory.ts: positional parameters, rowid ties, the planner held to an index. */
export function sqliteDialect(): Dialect & { values: unknown[] } {
  const values: unknown[] = [];
  return {
    values,
    param: (v) => {
      values.push(v);
      return '?';
    },
    tie: 'rowid',
    subjectCollation: '',
    indexedBy: (index) => (index ? ` INDEXED BY ${index}` : ''),
  };
}
