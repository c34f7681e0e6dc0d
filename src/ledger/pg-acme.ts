// AcmeStore on PostgreSQL: the same statements as sqlite-acme.ts, shared by every replica, so a
// nonce is spent once cluster-wide and a status change happens once whichever replica makes it.
import type pg from 'pg';
import type { AcmeAccount, AcmeAuthz, AcmeOrder, AcmeStore, EabKey, OrderStatus } from './acme-store.js';
import { mapPgError } from './pg-errors.js';
import { eabFromRow } from './sqlite-acme.js';

export class PgAcmeStore implements AcmeStore {
  constructor(private readonly pool: pg.Pool) {}

  private async q<R extends pg.QueryResultRow = Record<string, unknown>>(op: 'read' | 'write', text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(text, values);
    } catch (err) {
      throw mapPgError(op, err);
    }
  }

  private async doc<T>(text: string, values: unknown[]): Promise<T | null> {
    const { rows } = await this.q<{ doc: string }>('read', text, values);
    return rows[0] ? JSON.parse(rows[0].doc) as T : null;
  }

  async addNonce(nonce: string, expiresAt: number): Promise<void> {
    await this.q('write', 'INSERT INTO acme_nonces (nonce, expires_at) VALUES ($1, $2)', [nonce, expiresAt]);
  }

  async useNonce(nonce: string, now: number): Promise<boolean> {
    return ((await this.q('write', 'DELETE FROM acme_nonces WHERE nonce = $1 AND expires_at > $2', [nonce, now])).rowCount ?? 0) === 1;
  }

  async createAccount(a: AcmeAccount): Promise<'created' | 'exists'> {
    const r = await this.q('write', 'INSERT INTO acme_accounts (id, provisioner, thumbprint, status, created_at, doc) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (thumbprint) DO NOTHING',
      [a.id, a.provisioner, a.thumbprint, a.status, a.createdAt, JSON.stringify(a)]);
    return r.rowCount === 1 ? 'created' : 'exists';
  }

  account(id: string): Promise<AcmeAccount | null> {
    return this.doc('SELECT doc FROM acme_accounts WHERE id = $1', [id]);
  }

  accountByThumbprint(tp: string): Promise<AcmeAccount | null> {
    return this.doc('SELECT doc FROM acme_accounts WHERE thumbprint = $1', [tp]);
  }

  async updateAccount(a: AcmeAccount): Promise<'ok' | 'conflict'> {
    try {
      await this.pool.query('UPDATE acme_accounts SET thumbprint = $1, status = $2, doc = $3 WHERE id = $4', [a.thumbprint, a.status, JSON.stringify(a), a.id]);
      return 'ok';
    } catch (e) {
      if ((e as { code?: string }).code === '23505') return 'conflict';
      throw mapPgError('write', e);
    }
  }

  async createOrder(o: AcmeOrder, authzs: AcmeAuthz[]): Promise<void> {
    let c: pg.PoolClient;
    try {
      c = await this.pool.connect();
    } catch (e) {
      throw mapPgError('write', e);
    }
    try {
      await c.query('BEGIN');
      await c.query('INSERT INTO acme_orders (id, account_id, status, expires_at, created_at, doc) VALUES ($1, $2, $3, $4, $5, $6)',
        [o.id, o.accountId, o.status, o.expiresAt, o.createdAt, JSON.stringify(o)]);
      for (const a of authzs) {
        await c.query('INSERT INTO acme_authorizations (id, order_id, status, expires_at, doc) VALUES ($1, $2, $3, $4, $5)', [a.id, a.orderId, a.status, a.expiresAt, JSON.stringify(a)]);
      }
      await c.query('COMMIT');
      c.release();
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      c.release(e as Error);
      throw mapPgError('write', e);
    }
  }

  order(id: string): Promise<AcmeOrder | null> {
    return this.doc('SELECT doc FROM acme_orders WHERE id = $1', [id]);
  }

  async orderIds(accountId: string, limit: number, after?: { createdAt: number; id: string }): Promise<{ id: string; createdAt: number }[]> {
    const { rows } = await this.q<{ id: string; created_at: number }>('read',
      'SELECT id, created_at FROM acme_orders WHERE account_id = $1 AND (created_at, id) > ($2, $3) ORDER BY created_at, id LIMIT $4',
      [accountId, after?.createdAt ?? -1, after?.id ?? '', limit]);
    return rows.map((r) => ({ id: r.id, createdAt: Number(r.created_at) }));
  }

  async updateOrder(o: AcmeOrder, from: OrderStatus): Promise<boolean> {
    return ((await this.q('write', 'UPDATE acme_orders SET status = $1, certificate_serial = $2, doc = $3 WHERE id = $4 AND status = $5',
      [o.status, o.certificateSerial ?? null, JSON.stringify(o), o.id, from])).rowCount ?? 0) === 1;
  }

  orderOfCertificate(serial: string): Promise<AcmeOrder | null> {
    return this.doc('SELECT doc FROM acme_orders WHERE certificate_serial = $1', [serial]);
  }

  authz(id: string): Promise<AcmeAuthz | null> {
    return this.doc('SELECT doc FROM acme_authorizations WHERE id = $1', [id]);
  }

  async authzsOfOrder(orderId: string): Promise<AcmeAuthz[]> {
    // Authorizations are listed in the order's own order by the caller; id order is enough here.
    const { rows } = await this.q<{ doc: string }>('read', 'SELECT doc FROM acme_authorizations WHERE order_id = $1', [orderId]);
    return rows.map((r) => JSON.parse(r.doc) as AcmeAuthz);
  }

  async updateAuthz(a: AcmeAuthz, from: AcmeAuthz): Promise<boolean> {
    return ((await this.q('write', 'UPDATE acme_authorizations SET status = $1, doc = $2 WHERE id = $3 AND doc = $4',
      [a.status, JSON.stringify(a), a.id, JSON.stringify(from)])).rowCount ?? 0) === 1;
  }

  async processingAuthzs(now: number, limit: number): Promise<AcmeAuthz[]> {
    const { rows } = await this.q<{ doc: string }>('read',
      `SELECT doc FROM acme_authorizations WHERE status = 'pending' AND expires_at > $1 AND doc LIKE '%"status":"processing"%' LIMIT $2`, [now, limit]);
    return rows.map((r) => JSON.parse(r.doc) as AcmeAuthz);
  }

  async prune(now: number): Promise<number> {
    const n = await this.q('write', 'DELETE FROM acme_nonces WHERE expires_at <= $1', [now]);
    const o = await this.q('write', "DELETE FROM acme_orders WHERE expires_at <= $1 AND status IN ('pending', 'ready', 'invalid')", [now]);
    return (n.rowCount ?? 0) + (o.rowCount ?? 0);
  }

  async addEabKey(k: EabKey): Promise<void> {
    await this.q('write', 'INSERT INTO acme_eab_keys (key_id, provisioner, hmac_key, reference, created_at) VALUES ($1, $2, $3, $4, $5)',
      [k.keyId, k.provisioner, k.hmacKey, k.reference, k.createdAt]);
  }

  async eabKey(keyId: string): Promise<EabKey | null> {
    const { rows } = await this.q<never>('read', 'SELECT * FROM acme_eab_keys WHERE key_id = $1', [keyId]);
    return rows[0] ? eabFromRow(rows[0]) : null;
  }

  async listEabKeys(provisioner?: string): Promise<EabKey[]> {
    const { rows } = provisioner === undefined
      ? await this.q<never>('read', 'SELECT * FROM acme_eab_keys ORDER BY created_at, key_id', [])
      : await this.q<never>('read', 'SELECT * FROM acme_eab_keys WHERE provisioner = $1 ORDER BY created_at, key_id', [provisioner]);
    return rows.map(eabFromRow);
  }

  async removeEabKey(keyId: string): Promise<boolean> {
    return ((await this.q('write', 'DELETE FROM acme_eab_keys WHERE key_id = $1', [keyId])).rowCount ?? 0) === 1;
  }

  async bindEabKey(keyId: string, accountId: string, now: number): Promise<boolean> {
    return ((await this.q('write', 'UPDATE acme_eab_keys SET account_id = $1, bound_at = $2 WHERE key_id = $3 AND account_id IS NULL', [accountId, now, keyId])).rowCount ?? 0) === 1;
  }
}
