// Where a PostgreSQL ledger lives, from ca.json's `db` block in step-ca's spelling:
//   "db": {"type": "postgresql", "dataSource": "postgresql://user@host:5432/name?sslmode=verify-full"}
// step-ca's separate "database" field, when present, names the database instead of the URL's path.
// The password comes from the URL, else "passwordFile", else PGPASSWORD (node-postgres reads it,
// as libpq does). It never reaches a log line or an error: everything printable goes through
// `describe`, which names host, port, database and user only.
import { readFileSync } from 'node:fs';

export interface PostgresDbConfig {
  type: string;
  dataSource: string;
  database?: string;
  passwordFile?: string;
}

export interface PgSource {
  /** What node-postgres connects with. Secret: may carry the password. */
  connectionString: string;
  host: string;
  port: number;
  database: string;
  user: string;
  /** `database "x" on host:port as user "u"`: safe for logs and errors. */
  describe: string;
  /** `message` with the password blanked, should a library ever quote it. */
  redact(message: string): string;
}

/**
 * How every connection of ours to the ledger behaves, the pool's and the migration thread's alike
 * (node-postgres client settings, the connection string aside).
 */
export const PG_CONNECTION_SETTINGS = {
  // A request waits at most this long for a connection before it answers 503.
  connectionTimeoutMillis: 3000,
  // A server that vanished without closing the socket must not hold requests forever.
  query_timeout: 15_000,
  keepAlive: true,
  application_name: 'stepstone',
} as const;

/** The code the migration thread gives a failure to connect, as against a migration that failed. */
export const PG_UNREACHABLE = 'STEPSTONE_LEDGER_UNREACHABLE';

export const isPostgresType = (type: string): boolean => ['postgresql', 'postgres'].includes(type.toLowerCase());

/**
 * Why `dataSource` cannot be a PostgreSQL URL, or null when it can. Never quotes the value: it
 * may hold a password.
 */
export function dataSourceProblem(dataSource: string, passwordFile?: string): string | null {
  let url: URL;
  try {
    url = new URL(dataSource);
  } catch {
    return 'not a URL; a PostgreSQL ledger needs postgresql://USER@HOST:PORT/DATABASE';
  }
  if (url.protocol !== 'postgresql:' && url.protocol !== 'postgres:') {
    return `a PostgreSQL ledger needs a postgresql:// URL, not ${url.protocol}//`;
  }
  if (url.password && passwordFile) return 'has a password and db.passwordFile is set too; give the password once';
  return null;
}

/** Resolves the config into a connection. `resolvePath` makes passwordFile relative to the CA home. */
export function pgSource(db: PostgresDbConfig, resolvePath: (p: string) => string = (p) => p, env: NodeJS.ProcessEnv = process.env): PgSource {
  const problem = dataSourceProblem(db.dataSource, db.passwordFile);
  if (problem) throw new Error(`db.dataSource: ${problem}`);
  const url = new URL(db.dataSource);
  if (db.database) url.pathname = `/${encodeURIComponent(db.database)}`;
  if (db.passwordFile) {
    const file = resolvePath(db.passwordFile);
    let password: string;
    try {
      password = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (e) {
      throw new Error(`db.passwordFile: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    url.password = encodeURIComponent(password);
  }
  // The same defaults node-postgres applies, so the description names what it connects to.
  const params = url.searchParams;
  const host = params.get('host') ?? (url.hostname ? decodeURIComponent(url.hostname) : env.PGHOST ?? 'localhost');
  const port = Number(params.get('port') ?? (url.port || env.PGPORT || 5432));
  const user = decodeURIComponent(url.username) || env.PGUSER || env.USER || 'postgres';
  const database = decodeURIComponent(url.pathname.replace(/^\//, '')) || env.PGDATABASE || user;
  const secrets = [decodeURIComponent(url.password), env.PGPASSWORD ?? ''].filter((p) => p.length >= 1);
  return {
    redact: (message) => secrets.reduce((m, p) => m.split(p).join('********'), message),
    connectionString: url.toString(),
    host,
    port,
    database,
    user,
    describe: `database "${database}" on ${host.includes(':') ? `[${host}]` : host}:${port} as user "${user}"`,
  };
}
