// How one replica tells the others "a revocation happened": PostgreSQL LISTEN/NOTIFY. The
// revoking transaction runs pg_notify (postgres.ts), which PostgreSQL delivers to every listening
// session when, and only if, it commits, within milliseconds. Nothing polls the table.
//
// One dedicated connection per replica listens (a pooled one would be handed to queries). When it
// drops, it reconnects with a growing pause (capped at 2 s), and then tells its listeners "you may
// have missed something" (serial null): the CRL publisher regenerates from the table either way.
import pg from 'pg';
import type { RevocationFeed } from './ledger.js';
import type { PgSource } from './pg-source.js';

export const REVOCATION_CHANNEL = 'stepstone_revocations';

export class PgRevocationFeed implements RevocationFeed {
  private readonly listeners = new Set<(serial: string | null) => void>();
  private client: pg.Client | null = null;
  private closed = false;
  private retryMs = 100;
  private timer: NodeJS.Timeout | undefined;

  /** `instance` marks this replica's own notices, which it does not need to hear back. */
  constructor(private readonly source: PgSource, private readonly instance: string, private readonly warn: (msg: string, err?: unknown) => void) {}

  onRevocation(listener: (serial: string | null) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Connects and listens; rejects if the first connection fails. */
  async start(): Promise<void> {
    await this.connect();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    const c = this.client;
    this.client = null;
    await c?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.source.connectionString, keepAlive: true, application_name: 'stepstone-listen', connectionTimeoutMillis: 3000 });
    let lost = false;
    const onLost = (err?: unknown) => {
      if (lost) return;
      lost = true;
      if (this.client === client) this.client = null;
      client.end().catch(() => undefined);
      if (this.closed) return;
      this.warn(`ledger: revocation feed lost (${this.source.describe}); reconnecting`, err);
      this.scheduleReconnect();
    };
    client.on('error', onLost);
    client.on('end', () => onLost());
    client.on('notification', (m) => {
      if (m.channel !== REVOCATION_CHANNEL || !m.payload) return;
      const [from, serial] = m.payload.split(' ');
      if (from !== this.instance && serial) this.emit(serial);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${REVOCATION_CHANNEL}`);
    } catch (err) {
      client.removeAllListeners('end');
      client.on('error', () => undefined);
      await client.end().catch(() => undefined);
      throw err;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.retryMs = 100;
  }

  private scheduleReconnect(): void {
    this.timer = setTimeout(() => {
      this.connect().then(
        // Whatever was revoked while we were not listening: the listeners reread the table.
        () => { if (!this.closed) this.emit(null); },
        () => {
          this.retryMs = Math.min(this.retryMs * 2, 2000);
          if (!this.closed) this.scheduleReconnect();
        },
      );
    }, this.retryMs);
    this.timer.unref();
  }

  private emit(serial: string | null): void {
    for (const l of this.listeners) {
      try {
        l(serial);
      } catch (err) {
        this.warn('ledger: a revocation listener failed', err);
      }
    }
  }
}
