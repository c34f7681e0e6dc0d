// The ACME server (RFC 8555) between the HTTP routes and the Authority: it authenticates each
// request's JWS, keeps accounts, orders, authorizations and nonces in the ledger's AcmeStore and
// asks the Authority for certificates. It knows nothing of fastify (routes/acme.ts) or SQL.
import { randomBytes } from 'node:crypto';
import * as jose from 'jose';
import type { Authority } from '../authority/authority.js';
import type { RequestContext } from '../authority/observer.js';
import type { AcmeConfig } from '../config/acme-schema.js';
import { CaError } from '../errors.js';
import type { AcmeAccount, AcmeAuthz, AcmeChallenge, AcmeOrder, AcmeStore, ChallengeType } from '../ledger/acme-store.js';
import { parseCsr, CsrError, type ParsedCsr } from '../pki/csr.js';
import { toPem } from '../pki/pem.js';
import { serialToDecimal } from '../pki/serial.js';
import { sha256Hex } from '../pki/fingerprint.js';
import { x509 } from '../pki/x509.js';
import type { AcmeProvisioner } from '../provisioners/registry.js';
import { sansFromNames } from '../authority/policy.js';
import { parseDuration } from '../util/duration.js';
import { normaliseIdentifiers } from './identifiers.js';
import { accountView, authzView, challengeView, orderView } from './views.js';
import { checkContacts, checkCsrMatchesOrder, optionalTime } from './checks.js';
import { parseJws, payloadJson, publicJwk, thumbprint, verifyEab, verifyJws, type JwsHeader } from './jws.js';
import { AcmeProblem, fromCaError, malformed, notFoundP, unauthorizedP } from './problem.js';
import { Windows } from './rate.js';
import { Bounded, keyAuthorization, Validator } from './validator.js';

/** What the routes send back: status, JSON (or PEM) body, and the headers ACME defines. */
export interface AcmeReply {
  status: number;
  body?: unknown;
  pem?: string;
  location?: string;
  links?: string[];
  retryAfter?: number;
}

/** Where a request arrived: the provisioner's base URL and the exact URL its JWS must name. */
export interface Where extends RequestContext {
  base: string;
  url: string;
}

interface Authenticated {
  header: JwsHeader;
  jwk: jose.JWK;
  account: AcmeAccount | null;
  /** null: POST-as-GET. */
  payload: Record<string, unknown> | null;
}

const id = () => randomBytes(16).toString('base64url');
const PAGE = 100;
const RETRY_SECONDS = 1;

export class AcmeService {
  private readonly store: AcmeStore;
  private readonly validator: Validator;
  private readonly queue: Bounded;
  private readonly perAccount: Windows | null;
  private readonly perAddress: Windows | null;
  private readonly nonceMs: number;
  private readonly orderMs: number;
  private readonly inflight = new Set<Promise<void>>();
  private pruneTimer: NodeJS.Timeout | null = null;
  private started = false;

  constructor(private readonly authority: Authority, readonly cfg: AcmeConfig, private readonly warn: (msg: string, err?: unknown) => void = () => undefined) {
    this.store = authority.acmeStore;
    const v = cfg.validation;
    this.validator = new Validator({
      timeoutMs: parseDuration(v.timeout)!, maxResponseBytes: v.maxResponseBytes, maxRedirects: v.maxRedirects,
      httpPort: v.httpPort, tlsPort: v.tlsPort, resolver: v.resolver,
    });
    this.queue = new Bounded(v.concurrency);
    const rl = cfg.rateLimit;
    this.perAccount = rl.enabled ? new Windows(rl.ordersPerAccount.max, parseDuration(rl.ordersPerAccount.window)!, 'new orders for this account') : null;
    this.perAddress = rl.enabled ? new Windows(rl.requestsPerAddress.max, parseDuration(rl.requestsPerAddress.window)!, 'ACME requests from this address') : null;
    this.nonceMs = parseDuration(cfg.nonceLifetime)!;
    this.orderMs = parseDuration(cfg.orderLifetime)!;
  }

  /**
   * Starts pruning expired nonces and unfinished orders, and resumes validations a stopped
   * process left 'processing' (with several replicas each may resume one; the first result wins).
   */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.resume().catch((err: unknown) => this.warn('acme: resuming unfinished validations failed', err));
    const every = parseDuration(this.cfg.pruneInterval)!;
    this.pruneTimer = setInterval(() => {
      this.prune().catch((err: unknown) => this.warn('acme: pruning failed', err));
    }, every);
    this.pruneTimer.unref();
  }

  private async resume(): Promise<void> {
    for (const z of await this.store.processingAuthzs(Date.now(), 1000)) {
      const account = await this.store.account(z.accountId);
      if (!account) continue;
      for (const c of z.challenges.filter((x) => x.status === 'processing')) this.startValidation(z.id, c.id, keyAuthorization(c.token, account.thumbprint), {});
    }
  }

  prune(now = Date.now()): Promise<number> {
    return this.store.prune(now);
  }

  /** Stops pruning and waits for validations under way (their results are written). */
  async close(): Promise<void> {
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    await Promise.allSettled([...this.inflight]);
  }

  provisioner(name: string): AcmeProvisioner {
    const p = this.authority.acmeProvisioner(name);
    if (!p) throw new AcmeProblem('malformed', `no ACME provisioner named ${JSON.stringify(name)}`, 404);
    this.start(); // the first ACME provisioner may have come with a reload
    return p;
  }

  directory(p: AcmeProvisioner, w: Pick<Where, 'base'>): AcmeReply {
    const b = w.base;
    return {
      status: 200,
      body: {
        newNonce: `${b}/new-nonce`, newAccount: `${b}/new-account`, newOrder: `${b}/new-order`, revokeCert: `${b}/revoke-cert`, keyChange: `${b}/key-change`,
        meta: { externalAccountRequired: p.settings.requireEAB, ...(p.settings.termsOfService ? { termsOfService: p.settings.termsOfService } : {}) },
      },
    };
  }

  async nonce(): Promise<string> {
    const n = randomBytes(16).toString('base64url');
    await this.store.addNonce(n, Date.now() + this.nonceMs);
    return n;
  }

  // ---- request authentication -------------------------------------------------------------

  private async authenticate(p: AcmeProvisioner, w: Where, body: unknown, by: 'jwk' | 'kid' | 'either'): Promise<Authenticated> {
    if (w.clientAddress) this.perAddress?.take(w.clientAddress);
    const parsed = parseJws(body);
    const h = parsed.header;
    if (h.url !== w.url) throw unauthorizedP(`the JWS url ${JSON.stringify(h.url)} is not this request's URL`);
    if (!(await this.store.useNonce(h.nonce!, Date.now()))) throw new AcmeProblem('badNonce', 'the nonce is unknown, expired or used');
    let jwk: jose.JWK;
    let account: AcmeAccount | null = null;
    if (h.kid !== undefined) {
      if (by === 'jwk') throw malformed('this request must carry the account key as jwk, not kid');
      account = await this.accountOfKid(p, w, h.kid);
      jwk = account.jwk as jose.JWK;
    } else {
      if (by === 'kid') throw malformed('this request must name its account with kid, not jwk');
      jwk = publicJwk(h.jwk!);
    }
    const payload = payloadJson(await verifyJws(parsed, jwk)) as Record<string, unknown> | null;
    return { header: h, jwk, account, payload };
  }

  private async accountOfKid(p: AcmeProvisioner, w: Where, kid: string): Promise<AcmeAccount> {
    const prefix = `${w.base}/account/`;
    if (!kid.startsWith(prefix) || kid.slice(prefix.length).includes('/')) throw unauthorizedP('kid is not an account URL of this provisioner');
    const account = await this.store.account(kid.slice(prefix.length));
    if (!account || account.provisioner !== p.name) throw new AcmeProblem('accountDoesNotExist', 'no such account', 400);
    if (account.status !== 'valid') throw unauthorizedP(`the account is ${account.status}`);
    return account;
  }

  // ---- accounts ----------------------------------------------------------------------------

  async newAccount(p: AcmeProvisioner, w: Where, body: unknown): Promise<AcmeReply> {
    const auth = await this.authenticate(p, w, body, 'jwk');
    const payload = auth.payload ?? {};
    const tp = await thumbprint(auth.jwk);
    const existing = await this.store.accountByThumbprint(tp);
    if (existing) {
      if (existing.provisioner !== p.name) throw unauthorizedP('this key belongs to an account of another provisioner');
      if (existing.status !== 'valid') throw unauthorizedP(`the account is ${existing.status}`);
      return { status: 200, body: accountView(existing, w), location: `${w.base}/account/${existing.id}` };
    }
    if (payload.onlyReturnExisting === true) throw new AcmeProblem('accountDoesNotExist', 'no account exists for this key', 400);
    const contact = checkContacts(payload.contact);
    const accountId = id();
    let eabKeyId: string | undefined;
    if (payload.externalAccountBinding !== undefined || p.settings.requireEAB) {
      if (payload.externalAccountBinding === undefined) throw new AcmeProblem('externalAccountRequired', 'this provisioner requires an external account binding');
      eabKeyId = await verifyEab(payload.externalAccountBinding, w.url, auth.jwk, async (kid) => {
        const k = await this.store.eabKey(kid);
        return k && k.provisioner === p.name && k.accountId === null ? Buffer.from(k.hmacKey, 'base64url') : null;
      });
      if (!(await this.store.bindEabKey(eabKeyId, accountId, Date.now()))) throw unauthorizedP('the external account binding key is already bound');
    }
    const a: AcmeAccount = { id: accountId, provisioner: p.name, thumbprint: tp, jwk: publicJwk(auth.jwk) as Record<string, unknown>, status: 'valid', contact, createdAt: Date.now(), ...(eabKeyId ? { eabKeyId } : {}) };
    if ((await this.store.createAccount(a)) === 'exists') {
      // Another request with the same key won the race: that one is the account.
      const won = (await this.store.accountByThumbprint(tp))!;
      return { status: 200, body: accountView(won, w), location: `${w.base}/account/${won.id}` };
    }
    return { status: 201, body: accountView(a, w), location: `${w.base}/account/${a.id}` };
  }

  async updateAccount(p: AcmeProvisioner, w: Where, body: unknown, accountId: string): Promise<AcmeReply> {
    const auth = await this.authenticate(p, w, body, 'kid');
    const a = auth.account!;
    if (a.id !== accountId) throw unauthorizedP('the JWS kid names another account');
    if (auth.payload) {
      const next = { ...a };
      if (auth.payload.contact !== undefined) next.contact = checkContacts(auth.payload.contact);
      if (auth.payload.status !== undefined) {
        if (auth.payload.status !== 'deactivated') throw malformed('an account can only be set to "deactivated"');
        next.status = 'deactivated';
      }
      await this.store.updateAccount(next);
      return { status: 200, body: accountView(next, w), location: `${w.base}/account/${a.id}` };
    }
    return { status: 200, body: accountView(a, w), location: `${w.base}/account/${a.id}` };
  }

  async keyChange(p: AcmeProvisioner, w: Where, body: unknown): Promise<AcmeReply> {
    const auth = await this.authenticate(p, w, body, 'kid');
    const a = auth.account!;
    if (!auth.payload) throw malformed('key-change needs the inner JWS as its payload');
    const inner = parseJws(auth.payload, { nonce: false });
    if (inner.header.jwk === undefined) throw malformed('the inner JWS must carry the new key as jwk');
    if (inner.header.url !== w.url) throw malformed('the inner JWS url must equal the outer one');
    const newJwk = publicJwk(inner.header.jwk);
    const innerPayload = payloadJson(await verifyJws(inner, newJwk)) as Record<string, unknown> | null;
    if (!innerPayload || innerPayload.account !== auth.header.kid) throw malformed('the inner payload must name this account');
    if (!innerPayload.oldKey || typeof innerPayload.oldKey !== 'object' || await thumbprint(innerPayload.oldKey as jose.JWK) !== a.thumbprint) {
      throw malformed('the inner payload oldKey is not the account key');
    }
    const tp = await thumbprint(newJwk);
    const holder = await this.store.accountByThumbprint(tp);
    if (holder) throw new AcmeProblem('conflict', 'the new key already belongs to an account', 409, { location: `${w.base}/account/${holder.id}` });
    const next: AcmeAccount = { ...a, jwk: newJwk as Record<string, unknown>, thumbprint: tp };
    if ((await this.store.updateAccount(next)) === 'conflict') throw new AcmeProblem('conflict', 'the new key already belongs to an account', 409);
    return { status: 200, body: accountView(next, w), location: `${w.base}/account/${a.id}` };
  }

  async listOrders(p: AcmeProvisioner, w: Where, body: unknown, accountId: string, cursor: string | undefined): Promise<AcmeReply> {
    const auth = await this.authenticate(p, w, body, 'kid');
    if (auth.account!.id !== accountId) throw unauthorizedP('the JWS kid names another account');
    let after: { createdAt: number; id: string } | undefined;
    if (cursor) {
      const m = /^(\d+)\.([A-Za-z0-9_-]+)$/.exec(cursor);
      if (!m) throw malformed('bad cursor');
      after = { createdAt: Number(m[1]), id: m[2]! };
    }
    const rows = await this.store.orderIds(accountId, PAGE + 1, after);
    const page = rows.slice(0, PAGE);
    const last = page[page.length - 1];
    const links = rows.length > PAGE && last ? [`<${w.base}/account/${accountId}/orders?cursor=${last.createdAt}.${last.id}>;rel="next"`] : [];
    return { status: 200, body: { orders: page.map((o) => `${w.base}/order/${o.id}`) }, links };
  }

  // ---- orders and authorizations ------------------------------------------------------------

  async newOrder(p: AcmeProvisioner, w: Where, body: unknown): Promise<AcmeReply> {
    const auth = await this.authenticate(p, w, body, 'kid');
    const a = auth.account!;
    if (!auth.payload) throw malformed('newOrder needs a payload');
    this.perAccount?.take(a.id);
    const identifiers = normaliseIdentifiers(auth.payload.identifiers, p.settings.challenges.includes('dns-01'));
    try {
      this.authority.checkAcmeNames(p, identifiers.map((i) => ({ type: i.type === 'ip' ? 'ip' : 'dns', value: i.value })));
    } catch (e) {
      // RFC 8555 §7.1.3: a name the CA will not issue for is refused at newOrder, not after validation.
      throw e instanceof CaError && e.code === 'policy_denied' ? new AcmeProblem('rejectedIdentifier', e.publicMessage) : e;
    }
    const notBefore = optionalTime(auth.payload.notBefore, 'notBefore');
    const notAfter = optionalTime(auth.payload.notAfter, 'notAfter');
    if (notBefore || notAfter) {
      try {
        this.authority.checkAcmeValidity(p, notBefore, notAfter);
      } catch (e) {
        throw e instanceof CaError ? malformed(`notBefore/notAfter: ${e.detail}`) : e;
      }
    }
    const now = Date.now();
    const orderId = id();
    const expiresAt = now + this.orderMs;
    const authzs: AcmeAuthz[] = identifiers.map((ident) => {
      const wildcard = ident.value.startsWith('*.');
      const types = p.settings.challenges.filter((t) => (wildcard ? t === 'dns-01' : ident.type === 'ip' ? t !== 'dns-01' : true));
      if (!types.length) throw new AcmeProblem('rejectedIdentifier', `no challenge this provisioner offers can validate ${ident.value}`);
      return {
        id: id(), orderId, accountId: a.id, status: 'pending', expiresAt, wildcard,
        identifier: { type: ident.type, value: wildcard ? ident.value.slice(2) : ident.value },
        challenges: types.map((type): AcmeChallenge => ({ id: id(), type, token: randomBytes(32).toString('base64url'), status: 'pending' })),
      };
    });
    const order: AcmeOrder = {
      id: orderId, accountId: a.id, provisioner: p.name, status: 'pending', expiresAt, createdAt: now, identifiers,
      authorizations: authzs.map((z) => z.id), ...(notBefore ? { notBefore } : {}), ...(notAfter ? { notAfter } : {}),
    };
    await this.store.createOrder(order, authzs);
    return { status: 201, body: orderView(order, w), location: `${w.base}/order/${order.id}` };
  }

  private async ownOrder(a: AcmeAccount, orderId: string): Promise<AcmeOrder> {
    const o = await this.store.order(orderId);
    if (!o) throw notFoundP('the order');
    if (o.accountId !== a.id) throw unauthorizedP('the order belongs to another account');
    if ((o.status === 'pending' || o.status === 'ready') && o.expiresAt <= Date.now()) {
      const expired: AcmeOrder = { ...o, status: 'invalid', error: { type: 'urn:ietf:params:acme:error:malformed', detail: 'the order expired' } };
      await this.store.updateOrder(expired, o.status);
      return expired;
    }
    return o;
  }

  async getOrder(p: AcmeProvisioner, w: Where, body: unknown, orderId: string): Promise<AcmeReply> {
    const auth = await this.authenticate(p, w, body, 'kid');
    const o = await this.ownOrder(auth.account!, orderId);
    return { status: 200, body: orderView(o, w), location: `${w.base}/order/${o.id}`, ...(o.status === 'processing' || o.status === 'pending' ? { retryAfter: RETRY_SECONDS } : {}) };
  }

  private async ownAuthz(a: AcmeAccount, authzId: string): Promise<AcmeAuthz> {
    const z = await this.store.authz(authzId);
    if (!z) throw notFoundP('the authorization');
    if (z.accountId !== a.id) throw unauthorizedP('the authorization belongs to another account');
    if (z.status === 'pending' && z.expiresAt <= Date.now()) return { ...z, status: 'expired' };
    return z;
  }

  async authz(p: AcmeProvisioner, w: Where, body: unknown, authzId: string): Promise<AcmeReply> {
    const auth = await this.authenticate(p, w, body, 'kid');
    let z = await this.ownAuthz(auth.account!, authzId);
    if (auth.payload?.status !== undefined) {
      if (auth.payload.status !== 'deactivated') throw malformed('an authorization can only be set to "deactivated"');
      if (z.status !== 'pending' && z.status !== 'valid') throw malformed(`the authorization is ${z.status}`);
      const next: AcmeAuthz = { ...z, status: 'deactivated' };
      if (!(await this.store.updateAuthz(next, z))) throw malformed('the authorization changed meanwhile; retry');
      z = next;
      await this.settleOrder(z.orderId);
    }
    const processing = z.challenges.some((c) => c.status === 'processing');
    return { status: 200, body: authzView(z, w), ...(processing ? { retryAfter: RETRY_SECONDS } : {}) };
  }

  async challenge(p: AcmeProvisioner, w: Where, body: unknown, authzId: string, challengeId: string, ctx: RequestContext): Promise<AcmeReply> {
    const auth = await this.authenticate(p, w, body, 'kid');
    const a = auth.account!;
    let z = await this.ownAuthz(a, authzId);
    let c = z.challenges.find((x) => x.id === challengeId);
    if (!c) throw notFoundP('the challenge');
    // A POST with a payload ({}) asks for validation; POST-as-GET only reads.
    if (auth.payload !== null && c.status === 'pending' && z.status === 'pending') {
      const next: AcmeAuthz = { ...z, challenges: z.challenges.map((x) => (x.id === c!.id ? { ...x, status: 'processing' as const } : x)) };
      if (await this.store.updateAuthz(next, z)) {
        z = next;
        c = next.challenges.find((x) => x.id === challengeId)!;
        this.startValidation(z.id, c.id, keyAuthorization(c.token, a.thumbprint), ctx);
      }
    }
    const links = [`<${w.base}/authz/${z.id}>;rel="up"`];
    return { status: 200, body: challengeView(z, c, w), links, ...(c.status === 'processing' ? { retryAfter: RETRY_SECONDS } : {}) };
  }

  /** Off the request path: queued, bounded, its outcome written to the ledger. */
  private startValidation(authzId: string, challengeId: string, keyAuth: string, _ctx: RequestContext): void {
    const job = this.queue.run(() => this.validate(authzId, challengeId, keyAuth))
      .catch((err: unknown) => this.warn(`acme: validation of authorization ${authzId} failed to complete`, err));
    this.inflight.add(job);
    void job.finally(() => this.inflight.delete(job));
  }

  private async validate(authzId: string, challengeId: string, keyAuth: string): Promise<void> {
    const z0 = await this.store.authz(authzId);
    const c0 = z0?.challenges.find((x) => x.id === challengeId);
    if (!z0 || !c0) return;
    let problem: AcmeProblem | null = null;
    try {
      await this.validator.validate(c0.type, z0.identifier, c0.token, keyAuth);
    } catch (e) {
      problem = e instanceof AcmeProblem ? e : new AcmeProblem('serverInternal', 'validation failed', 500);
    }
    for (let attempt = 0; attempt < 5; attempt++) {
      const z = await this.store.authz(authzId);
      if (!z || z.status !== 'pending') break;
      const next: AcmeAuthz = {
        ...z,
        status: problem ? 'invalid' : 'valid',
        challenges: z.challenges.map((x) => (x.id !== challengeId ? x : problem
          ? { ...x, status: 'invalid' as const, error: problem.doc }
          : { ...x, status: 'valid' as const, validated: new Date().toISOString() })),
      };
      if (await this.store.updateAuthz(next, z)) break;
    }
    await this.settleOrder(z0.orderId);
  }

  /** pending → ready once every authorization is valid; → invalid once one cannot be. */
  private async settleOrder(orderId: string): Promise<void> {
    const o = await this.store.order(orderId);
    if (!o || o.status !== 'pending') return;
    const zs = await this.store.authzsOfOrder(orderId);
    const failed = zs.find((z) => z.status !== 'valid' && z.status !== 'pending');
    if (failed) {
      const sub = failed.challenges.find((c) => c.error)?.error;
      await this.store.updateOrder({ ...o, status: 'invalid', error: { type: 'urn:ietf:params:acme:error:unauthorized', detail: `authorization for ${failed.identifier.value} is ${failed.status}`, ...(sub ? { subproblems: [{ ...sub, identifier: failed.identifier }] } : {}) } }, 'pending');
    } else if (zs.length === o.authorizations.length && zs.every((z) => z.status === 'valid')) {
      await this.store.updateOrder({ ...o, status: 'ready' }, 'pending');
    }
  }

  // ---- finalize, certificate, revoke ----------------------------------------------------------

  async finalize(p: AcmeProvisioner, w: Where, body: unknown, orderId: string, ctx: RequestContext): Promise<AcmeReply> {
    const auth = await this.authenticate(p, w, body, 'kid');
    const o = await this.ownOrder(auth.account!, orderId);
    if (o.status !== 'ready') throw new AcmeProblem('orderNotReady', `the order is ${o.status}, not ready`, 403);
    const csrB64 = auth.payload?.csr;
    if (typeof csrB64 !== 'string' || !/^[A-Za-z0-9_-]+$/.test(csrB64)) throw malformed('finalize needs csr, base64url DER');
    let csr: ParsedCsr;
    try {
      csr = await parseCsr(toPem(Buffer.from(csrB64, 'base64url'), 'CERTIFICATE REQUEST'));
    } catch (e) {
      if (e instanceof CsrError) throw new AcmeProblem('badCSR', e.message);
      throw e;
    }
    checkCsrMatchesOrder(csr, o);
    const processing: AcmeOrder = { ...o, status: 'processing' };
    if (!(await this.store.updateOrder(processing, 'ready'))) throw new AcmeProblem('orderNotReady', 'the order is being finalized already', 403);
    const commonName = csr.commonName !== '' ? csr.commonName : p.settings.forceCN ? (o.identifiers.find((i) => i.type === 'dns') ?? o.identifiers[0])!.value : '';
    try {
      const issued = await this.authority.issueForAcme({
        provisioner: p, accountId: o.accountId, csr, commonName, sans: sansFromNames(o.identifiers.map((i) => i.value)), notBefore: o.notBefore, notAfter: o.notAfter,
      }, ctx);
      const valid: AcmeOrder = { ...processing, status: 'valid', certificateSerial: issued.serial };
      await this.store.updateOrder(valid, 'processing');
      return { status: 200, body: orderView(valid, w), location: `${w.base}/order/${o.id}` };
    } catch (e) {
      const problem = e instanceof AcmeProblem ? e : e instanceof CaError ? fromCaError(e) : new AcmeProblem('serverInternal', 'issuance failed', 500);
      // A refusal that retrying cannot fix ends the order; a full ledger or a rate limit leaves it ready.
      const retryable = problem.status === 429 || problem.status === 503;
      await this.store.updateOrder(retryable ? { ...o, status: 'ready' } : { ...processing, status: 'invalid', error: problem.doc }, 'processing');
      throw problem.type === 'malformed' && problem.status === 400 ? new AcmeProblem('badCSR', problem.detail) : problem;
    }
  }

  async certificate(p: AcmeProvisioner, w: Where, body: unknown, serial: string): Promise<AcmeReply> {
    const auth = await this.authenticate(p, w, body, 'kid');
    const o = await this.store.orderOfCertificate(serial);
    if (!o) throw notFoundP('the certificate');
    if (o.accountId !== auth.account!.id) throw unauthorizedP('the certificate belongs to another account');
    const stored = await this.authority.storedCertificate(serial);
    if (!stored) throw notFoundP('the certificate');
    return { status: 200, pem: `${stored.pem.trim()}\n${this.authority.chainPemOf(stored).trim()}\n` };
  }

  async revokeCert(p: AcmeProvisioner, w: Where, body: unknown, ctx: RequestContext): Promise<AcmeReply> {
    const auth = await this.authenticate(p, w, body, 'either');
    const certB64 = auth.payload?.certificate;
    if (typeof certB64 !== 'string' || !/^[A-Za-z0-9_-]+$/.test(certB64)) throw malformed('revokeCert needs certificate, base64url DER');
    const der = Buffer.from(certB64, 'base64url');
    let cert: x509.X509Certificate;
    try {
      cert = new x509.X509Certificate(new Uint8Array(der));
    } catch {
      throw malformed('the certificate cannot be parsed');
    }
    const serial = serialToDecimal(cert.serialNumber);
    const stored = await this.authority.storedCertificate(serial);
    if (!stored || stored.fingerprint !== sha256Hex(new Uint8Array(der))) throw notFoundP('a certificate issued by this CA with these bytes');
    const reason = auth.payload!.reason ?? 0;
    if (typeof reason !== 'number' || !Number.isInteger(reason) || reason < 0 || reason > 10 || reason === 7) {
      throw new AcmeProblem('badRevocationReason', 'reason must be an RFC 5280 reason code (0-10, not 7)');
    }
    if (auth.account) {
      const o = await this.store.orderOfCertificate(serial);
      if (!o || o.accountId !== auth.account.id) throw unauthorizedP('the account did not order this certificate');
    } else {
      const signer = await jose.importJWK(auth.jwk, auth.header.alg) as CryptoKey;
      const spki = new Uint8Array(await crypto.subtle.exportKey('spki', signer));
      if (!Buffer.from(spki).equals(Buffer.from(cert.publicKey.rawData))) throw unauthorizedP('the JWS is not signed by the certificate key');
    }
    const outcome = await this.authority.revokeForAcme(serial, reason, ctx);
    if (outcome === 'already_revoked') throw new AcmeProblem('alreadyRevoked', `certificate ${serial} is already revoked`);
    if (outcome === 'not_found') throw notFoundP('the certificate');
    return { status: 200 };
  }

  // ---- EAB keys (the CLI) ------------------------------------------------------------------------
}

export type { ChallengeType };
