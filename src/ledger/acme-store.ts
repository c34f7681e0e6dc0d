// What the ACME server keeps in the ledger (migration 0008): accounts, orders, authorizations
// with their challenges, nonces and EAB keys. Both backends implement AcmeStore; every state
// change that two requests (or two replicas) could race on is a compare-and-set on `status`.

export interface AcmeAccount {
  id: string;
  provisioner: string;
  /** RFC 7638 thumbprint of `jwk`. */
  thumbprint: string;
  jwk: Record<string, unknown>;
  status: 'valid' | 'deactivated' | 'revoked';
  contact: string[];
  createdAt: number;
  eabKeyId?: string;
}

export interface AcmeIdentifier { type: 'dns' | 'ip'; value: string }

export interface AcmeProblemDoc { type: string; detail: string; status?: number; subproblems?: unknown[] }

export type OrderStatus = 'pending' | 'ready' | 'processing' | 'valid' | 'invalid';

export interface AcmeOrder {
  id: string;
  accountId: string;
  provisioner: string;
  status: OrderStatus;
  expiresAt: number;
  createdAt: number;
  identifiers: AcmeIdentifier[];
  authorizations: string[];
  notBefore?: string;
  notAfter?: string;
  certificateSerial?: string;
  error?: AcmeProblemDoc;
}

export type ChallengeType = 'http-01' | 'dns-01' | 'tls-alpn-01';

export interface AcmeChallenge {
  id: string;
  type: ChallengeType;
  token: string;
  status: 'pending' | 'processing' | 'valid' | 'invalid';
  validated?: string;
  error?: AcmeProblemDoc;
}

export type AuthzStatus = 'pending' | 'valid' | 'invalid' | 'deactivated' | 'expired' | 'revoked';

export interface AcmeAuthz {
  id: string;
  orderId: string;
  accountId: string;
  status: AuthzStatus;
  expiresAt: number;
  identifier: AcmeIdentifier;
  wildcard: boolean;
  challenges: AcmeChallenge[];
}

export interface EabKey {
  keyId: string;
  provisioner: string;
  /** base64url HMAC key. */
  hmacKey: string;
  reference: string | null;
  createdAt: number;
  accountId: string | null;
  boundAt: number | null;
}

export interface AcmeStore {
  addNonce(nonce: string, expiresAt: number): Promise<void>;
  /** True once per nonce, on whichever replica asks first; false when unknown, used or expired. */
  useNonce(nonce: string, now: number): Promise<boolean>;
  /** Inserts; 'exists' (and nothing written) when the key already has an account. */
  createAccount(a: AcmeAccount): Promise<'created' | 'exists'>;
  account(id: string): Promise<AcmeAccount | null>;
  accountByThumbprint(thumbprint: string): Promise<AcmeAccount | null>;
  /** Writes the account back; 'conflict' when its (new) key belongs to another account. */
  updateAccount(a: AcmeAccount): Promise<'ok' | 'conflict'>;
  createOrder(o: AcmeOrder, authzs: AcmeAuthz[]): Promise<void>;
  order(id: string): Promise<AcmeOrder | null>;
  /** Order ids of an account, oldest first, after `afterId`'s position. */
  orderIds(accountId: string, limit: number, after?: { createdAt: number; id: string }): Promise<{ id: string; createdAt: number }[]>;
  /** Writes `o` only when the stored status is still `from`; false otherwise. */
  updateOrder(o: AcmeOrder, from: OrderStatus): Promise<boolean>;
  orderOfCertificate(serial: string): Promise<AcmeOrder | null>;
  authz(id: string): Promise<AcmeAuthz | null>;
  authzsOfOrder(orderId: string): Promise<AcmeAuthz[]>;
  /** Writes `a` only when the stored authorization is still exactly `from` (challenges included). */
  updateAuthz(a: AcmeAuthz, from: AcmeAuthz): Promise<boolean>;
  /** Pending authorizations with a challenge left 'processing' (a validation a stopped process did not finish). */
  processingAuthzs(now: number, limit: number): Promise<AcmeAuthz[]>;
  /** Deletes expired nonces, and orders (with their authorizations) that expired unfinished. */
  prune(now: number): Promise<number>;
  addEabKey(k: EabKey): Promise<void>;
  eabKey(keyId: string): Promise<EabKey | null>;
  listEabKeys(provisioner?: string): Promise<EabKey[]>;
  removeEabKey(keyId: string): Promise<boolean>;
  /** Binds an unbound key to an account; false when it is bound already. */
  bindEabKey(keyId: string, accountId: string, now: number): Promise<boolean>;
}

