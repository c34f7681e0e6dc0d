// AcmeStore on the SQLite ledger's own connection (synchronous statements; ACME writes are few
// next to issuances and need their answers at once, so they skip the group commit).
import type Database from 'better-sqlite3';
import type { AcmeAccount, AcmeAuthz, AcmeOrder, AcmeStore, EabKey, OrderStatus } from './acme-store.js';
import { guarded } from './sqlite-errors.js';

interface EabRow { key_id: string; provisioner: string; hmac_key: string; reference: string | null; created_at: number; account_id: string | null; bound_at: number | null }

export function eabFromRow(r: EabRow): EabKey {
  return { keyId: r.key_id, provisioner: r.provisioner, hmacKey: r.hmac_key, reference: r.reference, createdAt: Number(r.created_at), accountId: r.account_id, boundAt: r.bound_at === null ? null : Number(r.bound_at) };
}

const parse = <T>(doc: string | undefined): T | null => (doc === undefined ? null : JSON.parse(doc) as T);

function statements(db: Database.Database) {
  const p = <P extends unknown[] = unknown[]>(sql: string) => db.prepare<P>(sql);
  return {
    addNonce: p<[string, number]>('INSERT INTO acme_nonces (nonce, expires_at) VALUES (?, ?)'),
    useNonce: p<[string, number]>('DELETE FROM acme_nonces WHERE nonce = ? AND expires_at > ?'),
    insertAccount: p<[string, string, string, string, number, string]>('INSERT INTO acme_accounts (id, provisioner, thumbprint, status, created_at, doc) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (thumbprint) DO NOTHING'),
    account: p<[string]>('SELECT doc FROM acme_accounts WHERE id = ?').pluck(),
    accountByTp: p<[string]>('SELECT doc FROM acme_accounts WHERE thumbprint = ?').pluck(),
    updateAccount: p<[string, string, string, string]>('UPDATE acme_accounts SET thumbprint = ?, status = ?, doc = ? WHERE id = ?'),
    insertOrder: p<[string, string, string, number, number, string]>('INSERT INTO acme_orders (id, account_id, status, expires_at, created_at, doc) VALUES (?, ?, ?, ?, ?, ?)'),
    insertAuthz: p<[string, string, string, number, string]>('INSERT INTO acme_authorizations (id, order_id, status, expires_at, doc) VALUES (?, ?, ?, ?, ?)'),
    order: p<[string]>('SELECT doc FROM acme_orders WHERE id = ?').pluck(),
    orderIds: p<[string, number, number, string, number]>('SELECT id, created_at AS createdAt FROM acme_orders WHERE account_id = ? AND (created_at > ? OR (created_at = ? AND id > ?)) ORDER BY created_at, id LIMIT ?'),
    updateOrder: p<[string, string | null, string, string, string]>('UPDATE acme_orders SET status = ?, certificate_serial = ?, doc = ? WHERE id = ? AND status = ?'),
    orderOfCert: p<[string]>('SELECT doc FROM acme_orders WHERE certificate_serial = ?').pluck(),
    authz: p<[string]>('SELECT doc FROM acme_authorizations WHERE id = ?').pluck(),
    authzsOfOrder: p<[string]>('SELECT doc FROM acme_authorizations WHERE order_id = ? ORDER BY rowid').pluck(),
    updateAuthz: p<[string, string, string, string]>('UPDATE acme_authorizations SET status = ?, doc = ? WHERE id = ? AND doc = ?'),
    processing: p<[number, number]>(`SELECT doc FROM acme_authorizations WHERE status = 'pending' AND expires_at > ? AND doc LIKE '%"status":"processing"%' LIMIT ?`).pluck(),
    pruneNonces: p<[number]>('DELETE FROM acme_nonces WHERE expires_at <= ?'),
    pruneOrders: p<[number]>("DELETE FROM acme_orders WHERE expires_at <= ? AND status IN ('pending', 'ready', 'invalid')"),
    addEab: p<[string, string, string, string | null, number]>('INSERT INTO acme_eab_keys (key_id, provisioner, hmac_key, reference, created_at) VALUES (?, ?, ?, ?, ?)'),
    eab: p<[string]>('SELECT * FROM acme_eab_keys WHERE key_id = ?'),
    eabAll: p<[]>('SELECT * FROM acme_eab_keys ORDER BY created_at, key_id'),
    eabOf: p<[string]>('SELECT * FROM acme_eab_keys WHERE provisioner = ? ORDER BY created_at, key_id'),
    removeEab: p<[string]>('DELETE FROM acme_eab_keys WHERE key_id = ?'),
    bindEab: p<[string, number, string]>('UPDATE acme_eab_keys SET account_id = ?, bound_at = ? WHERE key_id = ? AND account_id IS NULL'),
  };
}

export class SqliteAcmeStore implements AcmeStore {
  private prepared: ReturnType<typeof statements> | null = null;

  constructor(private readonly db: Database.Database) {}

  /** Prepared on first use: a ledger opened at an older schema (a tool, a migration test) has no ACME tables. */
  private get s(): ReturnType<typeof statements> {
    return (this.prepared ??= statements(this.db));
  }


  async addNonce(nonce: string, expiresAt: number): Promise<void> {
    guarded('write', () => this.s.addNonce.run(nonce, expiresAt));
  }

  async useNonce(nonce: string, now: number): Promise<boolean> {
    return guarded('write', () => this.s.useNonce.run(nonce, now).changes === 1);
  }

  async createAccount(a: AcmeAccount): Promise<'created' | 'exists'> {
    const r = guarded('write', () => this.s.insertAccount.run(a.id, a.provisioner, a.thumbprint, a.status, a.createdAt, JSON.stringify(a)));
    return r.changes === 1 ? 'created' : 'exists';
  }

  async account(id: string): Promise<AcmeAccount | null> {
    return parse(guarded('read', () => this.s.account.get(id) as string | undefined));
  }

  async accountByThumbprint(tp: string): Promise<AcmeAccount | null> {
    return parse(guarded('read', () => this.s.accountByTp.get(tp) as string | undefined));
  }

  async updateAccount(a: AcmeAccount): Promise<'ok' | 'conflict'> {
    try {
      guarded('write', () => this.s.updateAccount.run(a.thumbprint, a.status, JSON.stringify(a), a.id));
      return 'ok';
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') return 'conflict';
      throw e;
    }
  }

  async createOrder(o: AcmeOrder, authzs: AcmeAuthz[]): Promise<void> {
    guarded('write', () => this.db.transaction(() => {
      this.s.insertOrder.run(o.id, o.accountId, o.status, o.expiresAt, o.createdAt, JSON.stringify(o));
      for (const a of authzs) this.s.insertAuthz.run(a.id, a.orderId, a.status, a.expiresAt, JSON.stringify(a));
    }).immediate());
  }

  async order(id: string): Promise<AcmeOrder | null> {
    return parse(guarded('read', () => this.s.order.get(id) as string | undefined));
  }

  async orderIds(accountId: string, limit: number, after?: { createdAt: number; id: string }): Promise<{ id: string; createdAt: number }[]> {
    const at = after?.createdAt ?? -1;
    return guarded('read', () => this.s.orderIds.all(accountId, at, at, after?.id ?? '', limit) as { id: string; createdAt: number }[]);
  }

  async updateOrder(o: AcmeOrder, from: OrderStatus): Promise<boolean> {
    return guarded('write', () => this.s.updateOrder.run(o.status, o.certificateSerial ?? null, JSON.stringify(o), o.id, from).changes === 1);
  }

  async orderOfCertificate(serial: string): Promise<AcmeOrder | null> {
    return parse(guarded('read', () => this.s.orderOfCert.get(serial) as string | undefined));
  }

  async authz(id: string): Promise<AcmeAuthz | null> {
    return parse(guarded('read', () => this.s.authz.get(id) as string | undefined));
  }

  async authzsOfOrder(orderId: string): Promise<AcmeAuthz[]> {
    return guarded('read', () => (this.s.authzsOfOrder.all(orderId) as string[]).map((d) => JSON.parse(d) as AcmeAuthz));
  }

  async updateAuthz(a: AcmeAuthz, from: AcmeAuthz): Promise<boolean> {
    return guarded('write', () => this.s.updateAuthz.run(a.status, JSON.stringify(a), a.id, JSON.stringify(from)).changes === 1);
  }

  async processingAuthzs(now: number, limit: number): Promise<AcmeAuthz[]> {
    return guarded('read', () => (this.s.processing.all(now, limit) as string[]).map((d) => JSON.parse(d) as AcmeAuthz));
  }

  async prune(now: number): Promise<number> {
    return guarded('write', () => this.db.transaction(() => this.s.pruneNonces.run(now).changes + this.s.pruneOrders.run(now).changes).immediate());
  }

  async addEabKey(k: EabKey): Promise<void> {
    guarded('write', () => this.s.addEab.run(k.keyId, k.provisioner, k.hmacKey, k.reference, k.createdAt));
  }

  async eabKey(keyId: string): Promise<EabKey | null> {
    const r = guarded('read', () => this.s.eab.get(keyId) as EabRow | undefined);
    return r ? eabFromRow(r) : null;
  }

  async listEabKeys(provisioner?: string): Promise<EabKey[]> {
    const rows = guarded('read', () => (provisioner === undefined ? this.s.eabAll.all() : this.s.eabOf.all(provisioner)) as EabRow[]);
    return rows.map(eabFromRow);
  }

  async removeEabKey(keyId: string): Promise<boolean> {
    return guarded('write', () => this.s.removeEab.run(keyId).changes === 1);
  }

  async bindEabKey(keyId: string, accountId: string, now: number): Promise<boolean> {
    return guarded('write', () => this.s.bindEab.run(accountId, now, keyId).changes === 1);
  }
}
