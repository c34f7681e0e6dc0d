// The CA: sign, renew (over mTLS or with a renew token), rekey and revoke, each an orchestration
// of named steps, plus the CRLs, OCSP answers and its own serving certificate. Its issuers
// (issuers.ts) sign: a provisioner's for sign, the old certificate's for renew and rekey. It
// knows nothing of HTTP or SQL: requests come in as plain values, decisions go to the ledger and
// the observer, errors leave as CaError.
import { signedBy } from '../pki/signed-by.js';
import { viewCertificate, type CertificateView } from '../pki/certificate-view.js';
import { generateKeyPairSync } from 'node:crypto';
import type { CaConfig } from '../config/schema.js';
import { badRequest, CaError, forbidden, notFound, tokenUsed, unauthorized } from '../errors.js';
import type { AuditEventInput, CertificateRecord, Ledger, Revocation, StoredCertificate, TokenClaim } from '../ledger/ledger.js';
import { parseCsr, CsrError, type ParsedCsr } from '../pki/csr.js';
import { sha256Hex } from '../pki/fingerprint.js';
import { unencryptedPem } from '../pki/keys.js';
import { toPem } from '../pki/pem.js';
import { x509 } from '../pki/x509.js';
import { verifyToken, signSans, type VerifiedToken } from '../provisioners/jwk.js';
import type { AcmeProvisioner, ProvisionerPage, ProvisionerRegistry } from '../provisioners/registry.js';
import { parseDuration } from '../util/duration.js';
import { backdateMs, resolveClaims, type Claims } from './claims.js';
import { checkCommonName, checkCsrAgainstToken, sansFromNames } from './policy.js';
import { PolicySet } from './name-policy.js';
import type { LiveConfig } from './reload.js';
import { GoCertificateRequest, GoSubject, sanOf, type CertTemplate } from './cert-template.js';
import { createTemplatedLeaf, isDefaultShape } from './templated-leaf.js';
import { GO_TYPE } from './go-template.js';
import { createPublicKey } from 'node:crypto';
import { authorizeExistingCertificate, type AuthorizedCertificate } from './existing-certificate.js';
import { createRenewedCertificate, randomSerialHex, type Issuer } from './profiles.js';
import { normalizeSerial, serialToDecimal } from '../pki/serial.js';
import { LeafTemplate } from './fast-leaf.js';
import { certificateTimes, factsOf, type IssuedFacts } from './issued-facts.js';
import { verifyRenewToken } from '../provisioners/x5c-renew.js';
import { readProvisionerExtension } from './provisioner-extension.js';
import { PROVISIONER_TYPE, type ProvisionerInfo } from './provisioner-extension.js';
import { classifySan, type San } from '../pki/names.js';
import { computeValidity, notBeforeIssuer } from './validity.js';
import { TrustStore } from './trust.js';
import { IssuerSet, entryPem, issuerCdp, nativeCertificate, type IssuerEntry, type LoadedIssuer } from './issuers.js';
import type { IssuerScope } from '../ledger/ledger.js';
import { DEFAULT_ISSUER_NAME } from '../config/defaults.js';
import { buildCrl } from './crl.js';
import { CrlPublisher, type CrlBuilder, type PublishedCrl } from './crl-publisher.js';
import { checkReasonCode, parseSerial } from './revocation.js';
import { ProvisionerQuota } from './quota.js';
import { AuditRecorder, observed } from './audit-events.js';
import { NO_OBSERVER, type Attempt, type Observer, type RequestContext } from './observer.js';

import type { AuthorityDeps, IssuedCertificate, OcspResponder, PeerCertificate, RevokeRequest, ServingCertificate, SignRequest } from './types.js';
export type { AuthorityDeps, IssuedCertificate, OcspResponder, PeerCertificate, RevokeRequest, ServingCertificate, SignRequest } from './types.js';

const DATE_ERRORS = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);
/** The handshake found no trusted issuer for the client certificate. */
const NO_ISSUER_ERRORS = new Set(['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE']);

/**
 * A client certificate reaches the authority only when the handshake verified its chain,
 * signatures and dates included, against our roots and intermediates only (runtime/serve.ts gives
 * TLS nothing else to trust): checking the leaf's signature again would cost a second ECDSA
 * verification per renewal.
 */
const HANDSHAKE_VERIFIED = true;

export class Authority {
  readonly config: CaConfig;
  /** Roots, federated roots and the intermediates, as clients fetch them (a reload may replace it). */
  trust: TrustStore;
  /** The issuers (built by init(), replaced by a reload). */
  private issuers!: IssuerSet;
  private readonly loadedIssuers: LoadedIssuer[];
  private readonly crlBuilder: CrlBuilder;
  /** True once startCrls() ran: issuers a reload adds start publishing at once. */
  private crlsRunning = false;
  private provisioners: ProvisionerRegistry;
  private readonly ledger: Ledger;
  private readonly now: () => Date;
  private readonly backdate: number;
  private readonly maxTokenLifetime: number;
  private globalClaims: Claims;
  private readonly ocspResponder?: OcspResponder;
  /** null when rate limiting is off. */
  private readonly quota: ProvisionerQuota | null;
  private readonly observer: Observer;
  private readonly audit: AuditRecorder;
  /** step-ca's name policies: the authority's and each provisioner's (config errors stop the start). */
  private policies: PolicySet;
  private templates: Map<string, CertTemplate>;

  constructor(d: AuthorityDeps) {
    this.config = d.config;
    this.loadedIssuers = d.issuers;
    this.crlBuilder = d.crlBuilder ?? buildCrl;
    this.provisioners = d.provisioners;
    this.ledger = d.ledger;
    this.now = d.clock ?? (() => new Date());
    this.backdate = backdateMs(d.config.authority.backdate);
    this.maxTokenLifetime = parseDuration(d.config.stepstone.maxTokenLifetime)!;
    this.globalClaims = resolveClaims(d.config.authority.claims);
    this.policies = PolicySet.fromConfig(d.config);
    this.templates = d.templates ?? new Map();
    this.ocspResponder = d.ocspResponder;
    this.observer = d.observer ?? NO_OBSERVER;
    this.audit = new AuditRecorder(d.replica ?? null, d.config.stepstone.audit.enabled);
    this.trust = new TrustStore(d.roots, d.federatedRoots, d.issuers.map((i) => i.issuer.cert));
    const limit = d.config.stepstone.rateLimit;
    this.quota = limit.enabled ? new ProvisionerQuota(limit.perProvisioner.max, parseDuration(limit.perProvisioner.window)!, () => this.now().getTime()) : null;
  }

  /**
   * Installs a reloaded configuration (reload.ts built and checked all of it; buildIssuers made
   * the issuer set, when the issuers were read again). One synchronous step: a request sees either the old set or the new one at each of its await points, and
   * requests in flight finish with the provisioner they were verified against.
   */
  applyReload(live: LiveConfig, issuers?: IssuerSet): void {
    if (issuers && live.issuers) {
      const before = this.issuers;
      this.issuers = issuers;
      this.trust = new TrustStore(live.issuers.roots, live.issuers.federatedRoots, issuers.all.map((e) => e.issuer.cert));
      this.config.stepstone.issuers = live.issuers.config ?? undefined;
      // Publishers of issuers that left stop; new ones start (a kept one carries on as it was).
      for (const e of before.all) if (!issuers.all.includes(e)) e.crl.stop();
      if (this.crlsRunning) for (const e of issuers.all) if (!before.all.includes(e)) e.crl.start().catch(() => undefined);
    } else {
      // Provisioners may have moved between issuers.
      this.issuers = new IssuerSet(this.issuers.all, live.authorityConfig.provisioners);
    }
    this.provisioners = live.provisioners;
    this.policies = live.policies;
    this.templates = live.templates;
    this.globalClaims = live.globalClaims;
    this.config.authority = live.authorityConfig;
  }

  /** POST /sign: a CSR plus a one-time token buys exactly one certificate. */
  sign(req: SignRequest, ctx: RequestContext = {}): Promise<IssuedCertificate> {
    const a: Attempt = { ...ctx, op: 'sign', credential: 'token' };
    return observed(this.observer, a, () => this.signAs(a, req));
  }

  private async signAs(a: Attempt, req: SignRequest): Promise<IssuedCertificate> {
    const csr = await this.parseRequestCsr(req.csr);
    if (!req.ott) throw badRequest('missing ott');
    const now = this.now();
    const token = await this.authorizeToken(a, req.ott, 'sign', now);
    a.subject = token.claims.sub;
    this.quota?.take(token.provisioner.name);
    const sans = signSans(token.claims);
    checkCommonName(token.claims.sub);
    const certSans = sansFromNames(sans);
    checkCsrAgainstToken(csr, token.claims.sub, sans, certSans);
    a.sans = certSans.map((s) => s.value);
    const issuer = this.issuers.forProvisioner(token.provisioner.name);
    const validity = computeValidity(req, now, token.provisioner.claims, this.backdate, issuer.issuer.cert.notBefore);
    const provisionerInfo = token.provisioner.claims.disableSmallstepExtensions
      ? null
      : { type: PROVISIONER_TYPE.JWK, name: token.provisioner.name, credentialId: token.provisioner.kid };
    const spent: TokenClaim = { jti: token.replayKey, provisioner: token.provisioner.name, expiresAt: token.expiresAt };
    const tpl = this.templates.get(token.provisioner.name);
    if (tpl) return this.signTemplated(a, issuer, tpl, req, csr, token, certSans, validity, provisionerInfo, spent);
    // Before anything is recorded: a refusal spends no token.
    this.policies.enforce(token.provisioner.name, token.claims.sub, certSans);
    const leaf = await issuer.leaf.buildAsync({
      serialHex: randomSerialHex(),
      commonName: token.claims.sub,
      sans: certSans,
      spki: csr.spki,
      notBefore: validity.notBefore,
      notAfter: validity.notAfter,
      rsa: csr.keyType === 'rsa',
      provisioner: provisionerInfo,
      crlDistributionPoints: issuer.cdp,
      ocspServers: this.config.stepstone.ocspServers,
    });
    const facts = { der: leaf.der, serialHex: leaf.serialHex, subject: token.claims.sub, sans: certSans.map((s) => s.value), ...certificateTimes(validity) };
    return this.record(a, issuer, facts, { provisioner: token.provisioner.name, method: 'sign', replaces: null }, spent);
  }

  /**
   * A provisioner with a certificate template: the template decides subject, names and usages;
   * the name policies judge the names it produced (a template may add some), before anything is
   * recorded.
   */
  private async signTemplated(
    a: Attempt, issuer: IssuerEntry, tpl: CertTemplate, req: SignRequest, csr: ParsedCsr, token: VerifiedToken, certSans: San[],
    validity: { notBefore: Date; notAfter: Date }, provisioner: ProvisionerInfo | null, spent: TokenClaim,
  ): Promise<IssuedCertificate> {
    const leaf = tpl.render({
      subject: GoSubject.ofCommonName(token.claims.sub),
      sans: certSans.map(sanOf),
      token: token.claims,
      cr: this.templateCsr(csr),
      user: req.templateData ?? {},
    });
    a.subject = leaf.commonName;
    a.sans = leaf.sans.map((s) => s.value);
    this.policies.enforce(token.provisioner.name, leaf.commonName, leaf.sans);
    const serialHex = randomSerialHex();
    const common = {
      serialHex, spki: csr.spki, notBefore: validity.notBefore, notAfter: validity.notAfter, provisioner,
      crlDistributionPoints: issuer.cdp, ocspServers: this.config.stepstone.ocspServers,
    };
    // A template whose result is the default leaf's shape (a CN-only subject, the default usages,
    // nothing extra) is signed on the fast path: the same subject and extensions (tested), at a
    // fraction of the cost.
    const der = isDefaultShape(leaf, csr.keyType === 'rsa')
      ? (await issuer.leaf.buildAsync({ ...common, commonName: leaf.commonName, sans: leaf.sans, rsa: csr.keyType === 'rsa' })).der
      : new Uint8Array((await createTemplatedLeaf(leaf, common, issuer.issuer)).rawData);
    const facts = { der, serialHex, subject: leaf.commonName, sans: leaf.sans.map((s) => s.value), ...certificateTimes(validity) };
    return this.record(a, issuer, facts, { provisioner: token.provisioner.name, method: 'sign', replaces: null }, spent);
  }

  /** The CSR as templates see it (.Insecure.CR): its whole subject, names and key type. */
  private templateCsr(csr: ParsedCsr): GoCertificateRequest {
    const parsed = new x509.Pkcs10CertificateRequest(csr.der);
    const key = csr.keyType === 'rsa'
      ? { [GO_TYPE]: '*rsa.PublicKey', Size: (createPublicKey({ key: Buffer.from(csr.spki), format: 'der', type: 'spki' }).asymmetricKeyDetails?.modulusLength ?? 0) / 8 }
      : csr.keyType === 'ec' ? { [GO_TYPE]: '*ecdsa.PublicKey' } : { [GO_TYPE]: 'ed25519.PublicKey' };
    return new GoCertificateRequest(GoSubject.ofJsonName(parsed.subjectName.toJSON() as Record<string, string[]>[]), csr.sans.dns, csr.sans.email, csr.sans.ip, csr.sans.url, key);
  }

  private async parseRequestCsr(pem: string): Promise<ParsedCsr> {
    if (!pem) throw badRequest('missing csr');
    try {
      return await parseCsr(pem);
    } catch (e) {
      if (e instanceof CsrError) throw badRequest(e.message);
      throw e;
    }
  }

  private async authorizeToken(a: Attempt, ott: string, op: 'sign' | 'revoke', now: Date): Promise<VerifiedToken> {
    const token = await verifyToken(ott, {
      op,
      now,
      dnsNames: this.config.dnsNames,
      maxLifetimeMs: this.maxTokenLifetime,
      find: (iss, kid) => this.provisioners.find(iss, kid),
    });
    a.provisioner = token.provisioner.name;
    // Cheap early refusal; the ledger transaction is what really guarantees one use.
    if (await this.ledger.isTokenUsed(token.replayKey)) throw tokenUsed();
    return token;
  }

  /**
   * Builds each issuer's fast-path leaf template (and runs its self-check against the library)
   * and CRL publisher. Called once at start-up by loadAuthority, before any request.
   */
  async init(): Promise<void> {
    this.issuers = await this.buildIssuers(this.loadedIssuers, this.config.authority.provisioners);
  }

  /**
   * The running issuer set for `loaded` (a reload's, or the start's), not yet installed. An issuer
   * whose name, certificate and key are unchanged keeps its entry, so its CRL carries on; a new
   * one gets its template and publisher here, before anything switches.
   */
  async buildIssuers(loaded: LoadedIssuer[], provisioners: CaConfig['authority']['provisioners']): Promise<IssuerSet> {
    const names = loaded.map((l) => l.name);
    const unnamed = names.includes(DEFAULT_ISSUER_NAME) ? DEFAULT_ISSUER_NAME : names[0];
    const entries: IssuerEntry[] = [];
    for (const l of loaded) {
      // One issuer lists every revoked row (as before there were several); several split them by name.
      const scope: IssuerScope | undefined = loaded.length > 1 ? { name: l.name, orUnnamed: l.name === unnamed } : undefined;
      const kept = this.issuers?.all.find((e) => e.name === l.name && e.identity === l.identity);
      if (kept && sameScope(kept.scope, scope) && sameList(kept.cdp, issuerCdp(l.crlDistributionPoints, this.config.stepstone.crlDistributionPoints, l.name, loaded.length > 1))) {
        entries.push(kept);
        continue;
      }
      const leaf = kept?.leaf ?? this.issuers?.all.find((e) => e.identity === l.identity)?.leaf ?? await LeafTemplate.create(l.issuer);
      const cdp = issuerCdp(l.crlDistributionPoints, this.config.stepstone.crlDistributionPoints, l.name, loaded.length > 1);
      const entry: IssuerEntry = { ...l, pem: entryPem(l.issuer), leaf, native: nativeCertificate(l.issuer), scope, cdp, crl: undefined as unknown as CrlPublisher };
      entry.crl = new CrlPublisher({
        issuer: l.issuer,
        ledger: this.ledger,
        settings: this.config.crl,
        scope,
        // An IDP scopes the CRL to certificates whose CDP names it; openssl then refuses the CRL for
        // a leaf without that CDP, so it is only set where leaves carry one. With several issuers,
        // an issuer's older leaves may carry another CDP (/crl, from before a rotation): only an
        // explicit crl.idpURL, and only on the default issuer's CRL.
        idpUrl: loaded.length === 1 ? this.config.crl.idpURL ?? cdp[0] : l === loaded[0] ? this.config.crl.idpURL : undefined,
        now: this.now,
        build: this.crlBuilder,
        // The metrics follow the default issuer's CRL (/crl's).
        onPublished: (crl) => { if (this.issuers?.default === entry) this.observer.crlPublished(crl); },
      });
      entries.push(entry);
    }
    return new IssuerSet(entries, provisioners);
  }

  /** Starts every issuer's CRL publisher (the first CRLs build in the background). */
  startCrls(onError: (err: unknown, issuer: string) => void): void {
    this.crlsRunning = true;
    for (const e of this.issuers.all) e.crl.start().catch((err) => onError(err, e.name));
  }

  stopCrls(): void {
    this.crlsRunning = false;
    for (const e of this.issuers.all) e.crl.stop();
  }

  /** The default issuer: /crl's, the serving certificate's, and that of provisioners naming none. */
  get intermediate(): Issuer {
    return this.issuers.default.issuer;
  }

  /** The default issuer's CRL publisher (GET /crl). */
  get crl(): CrlPublisher {
    return this.issuers.default.crl;
  }

  /** Every issuer's name and certificate, default first (the console, metrics). */
  issuerCertificates(): { name: string; cert: x509.X509Certificate }[] {
    return this.issuers.all.map((e) => ({ name: e.name, cert: e.issuer.cert }));
  }

  /** Commits the ledger row (and its audit event); only then may the certificate leave the CA. */
  private async record(
    a: Attempt | null,
    issuer: IssuerEntry,
    c: IssuedFacts,
    how: Pick<CertificateRecord, 'provisioner' | 'method' | 'replaces'>,
    token?: TokenClaim,
  ): Promise<IssuedCertificate> {
    const pem = toPem(c.der, 'CERTIFICATE');
    const serial = serialToDecimal(c.serialHex);
    const issuedAt = this.now();
    const event = this.audit.issued(a ?? { op: 'sign', credential: 'none' }, how.method, issuedAt, { serial, subject: c.subject, sans: c.sans, provisioner: how.provisioner });
    await this.ledger.recordIssuance({
      serial,
      subject: c.subject,
      sans: c.sans,
      notBefore: c.notBefore,
      notAfter: c.notAfter,
      fingerprint: sha256Hex(c.der),
      provisioner: how.provisioner,
      pem,
      issuedAt,
      method: how.method,
      replaces: how.replaces,
      issuer: issuer.name,
    }, token, event);
    if (a) this.observer.issued(a, how.method);
    return { serial, subject: c.subject, chainPem: [pem, issuer.pem] };
  }

  /** POST /renew over mTLS: the presented certificate, again, with a new serial and validity. */
  renew(peer: PeerCertificate, ctx: RequestContext = {}): Promise<IssuedCertificate> {
    const a: Attempt = { ...ctx, op: 'renew', credential: 'certificate' };
    return observed(this.observer, a, async () => {
      const cert = this.peerCertificate(peer);
      const issuer = this.issuerOf(cert);
      const now = this.now();
      return this.reissue(a, issuer, cert, await this.authorizeExisting(issuer, cert, now, HANDSHAKE_VERIFIED), now, 'renew');
    });
  }

  /** POST /renew with a bearer x5cInsecure token: renewal without a handshake (expired, L7 proxies). */
  renewWithToken(token: string, ctx: RequestContext = {}): Promise<IssuedCertificate> {
    const a: Attempt = { ...ctx, op: 'renew', credential: 'certificate' };
    return observed(this.observer, a, () => this.renewWithTokenAs(a, token));
  }

  private async renewWithTokenAs(a: Attempt, token: string): Promise<IssuedCertificate> {
    const now = this.now();
    const verified = await verifyRenewToken(token, {
      dnsNames: this.config.dnsNames,
      now,
      maxLifetimeMs: this.maxTokenLifetime,
      // No handshake vouched for this leaf: its issuer is looked for even when there is one.
      issuerOf: (leaf) => this.issuerOf(leaf, true).issuer.cert,
      provisionerOf: (leaf) => readProvisionerExtension(leaf)?.name ?? null,
    });
    if (await this.ledger.isTokenUsed(verified.replayKey)) throw tokenUsed();
    const issuer = this.issuerOf(verified.leaf);
    const auth = await this.authorizeExisting(issuer, verified.leaf, now);
    const spent: TokenClaim = { jti: verified.replayKey, provisioner: auth.provisioner ?? '', expiresAt: verified.expiresAt };
    return this.reissue(a, issuer, verified.leaf, auth, now, 'renew', undefined, spent);
  }

  /** POST /rekey over mTLS: like renew, with the CSR's public key (its names are ignored). */
  rekey(peer: PeerCertificate, csrPem: string, ctx: RequestContext = {}): Promise<IssuedCertificate> {
    const a: Attempt = { ...ctx, op: 'rekey', credential: 'certificate' };
    return observed(this.observer, a, async () => {
      const csr = await this.parseRequestCsr(csrPem);
      const cert = this.peerCertificate(peer);
      const issuer = this.issuerOf(cert);
      const now = this.now();
      return this.reissue(a, issuer, cert, await this.authorizeExisting(issuer, cert, now, HANDSHAKE_VERIFIED), now, 'rekey', csr.spki);
    });
  }

  /**
   * step-ca refuses an expired (or not yet valid) client certificate at the handshake, whatever
   * the provisioner's allowRenewalAfterExpiry says: such a certificate proves nothing over mTLS.
   * It renews only with a renew token, where that claim decides (renewWithToken).
   */
  private peerCertificate(peer: PeerCertificate): CertificateView {
    let cert: CertificateView;
    try {
      cert = viewCertificate(peer.der);
    } catch (e) {
      throw unauthorized('client certificate cannot be parsed', e);
    }
    if (peer.tlsError && DATE_ERRORS.has(peer.tlsError)) {
      const detail = peer.tlsError === 'CERT_HAS_EXPIRED'
        ? `client certificate expired on ${cert.notAfter.toISOString()}; an expired certificate renews only with a renew token`
        : `client certificate is not valid until ${cert.notBefore.toISOString()}`;
      throw new CaError('unauthorized', { detail, public: `The request lacked necessary authorization to be completed: ${detail}.` });
    }
    if (peer.tlsError && NO_ISSUER_ERRORS.has(peer.tlsError)) {
      // Most often a certificate of an issuer since removed from ca.json (rotation): say so.
      const detail = `client certificate not trusted: ${peer.tlsError}: it was not issued by any issuer this CA has configured; its issuer may have been retired`;
      throw new CaError('unauthorized', { detail, public: `The request lacked necessary authorization to be completed: certificate ${serialToDecimal(cert.serialNumber)} was not issued by any issuer this CA has configured; its issuer may have been retired.` });
    }
    if (peer.tlsError) throw unauthorized(`client certificate not trusted: ${peer.tlsError}`);
    return cert;
  }

  /**
   * The configured issuer that signed a presented certificate: a renewal stays with it. One that
   * no configured issuer signed (its intermediate was removed from ca.json) cannot renew.
   */
  private issuerOf(cert: Pick<CertificateView, 'rawData' | 'subject' | 'serialNumber'>, strict = false): IssuerEntry {
    const issuer = this.issuers.forCertificate(cert.rawData, strict);
    if (!issuer) {
      const detail = `certificate ${serialToDecimal(cert.serialNumber)} (${cert.subject}) was not issued by any issuer this CA has configured; its issuer may have been retired`;
      throw new CaError('unauthorized', { detail, public: `The request lacked necessary authorization to be completed: ${detail}.` });
    }
    return issuer;
  }

  private authorizeExisting(issuer: IssuerEntry, cert: CertificateView, now: Date, signatureVerified = false): Promise<AuthorizedCertificate> {
    return authorizeExistingCertificate(cert, now, signatureVerified, {
      issuer: issuer.issuer.cert,
      ledger: this.ledger,
      // ACME certificates name their provisioner with an empty credential id, as step-ca's do.
      claimsFor: (name, kid) => this.provisioners.find(name, kid)?.claims ?? this.provisioners.acme(name)?.claims,
      globalClaims: this.globalClaims,
    });
  }

  /**
   * Same total lifetime as the old certificate, starting now (backdated) — step-ca's formula.
   * A lifetime shorter than twice the backdate gets no backdate: step's formula would make such a
   * certificate expire before it is issued. A start clamped to the intermediate's moves the end
   * with it, so the lifetime stays the old one.
   */
  private async reissue(
    a: Attempt, issuer: IssuerEntry, old: CertificateView, auth: AuthorizedCertificate, now: Date, method: 'renew' | 'rekey', newSpki?: ArrayBuffer, token?: TokenClaim,
  ): Promise<IssuedCertificate> {
    a.provisioner = auth.provisioner;
    a.subject = auth.stored.subject;
    this.quota?.take(auth.provisioner ?? '(no provisioner)');
    // A policy tightened since issuance stops the renewal of names it now forbids.
    a.sans = auth.stored.sans;
    this.policies.enforce(auth.provisioner, auth.stored.subject, auth.stored.sans.map(classifySan));
    const lifetime = old.notAfter.getTime() - old.notBefore.getTime();
    const backdate = lifetime >= 2 * this.backdate ? this.backdate : 0;
    const notBefore = notBeforeIssuer(new Date(now.getTime() - backdate), issuer.issuer.cert.notBefore);
    const o = { serialHex: randomSerialHex(), notBefore, notAfter: new Date(notBefore.getTime() + lifetime), newSpki };
    // A renewal keeps the names, so the ledger row takes them from the row it replaces.
    const fast = await issuer.leaf.renewAsync(new Uint8Array(old.rawData), o);
    const facts = fast
      ? { der: fast.der, serialHex: fast.serialHex, subject: auth.stored.subject, sans: auth.stored.sans, ...certificateTimes(o) }
      : factsOf(await createRenewedCertificate(new x509.X509Certificate(old.rawData), o, issuer.issuer));
    return this.record(a, issuer, facts, { provisioner: auth.provisioner, method, replaces: auth.stored.serial }, token);
  }

  /**
   * POST /revoke: by a one-time token whose subject is the serial, or over mTLS by the
   * certificate itself. The token is spent in the same transaction that records the revocation.
   */
  revoke(req: RevokeRequest, peer: PeerCertificate | null, ctx: RequestContext = {}): Promise<void> {
    const a: Attempt = { ...ctx, op: 'revoke', credential: req.ott ? 'token' : peer ? 'certificate' : 'none' };
    return observed(this.observer, a, () => this.revokeAs(a, req, peer));
  }

  private async revokeAs(a: Attempt, req: RevokeRequest, peer: PeerCertificate | null): Promise<void> {
    const serial = parseSerial(req.serial ?? '');
    const reasonCode = checkReasonCode(req.reasonCode);
    const now = this.now();
    let spent: TokenClaim | undefined;
    if (req.ott) {
      const token = await this.authorizeToken(a, req.ott, 'revoke', now);
      this.quota?.take(token.provisioner.name);
      // One serial, many spellings (0x7a41, 31297, 0031297): compared as numbers.
      if (normalizeSerial(String(token.claims.sub ?? '')) !== serial) throw forbidden(`request serial number "${serial}" and token subject "${token.claims.sub}" do not match`);
      spent = { jti: token.replayKey, provisioner: token.provisioner.name, expiresAt: token.expiresAt };
    } else if (peer) {
      const cert = this.peerCertificate(peer);
      const issuer = this.issuers.forCertificate(cert.rawData);
      const ours = issuer !== undefined && await signedBy(cert, issuer.issuer.cert);
      if (!ours) throw unauthorized(`client certificate ${cert.subject} was not issued by this CA`);
      const presented = serialToDecimal(cert.serialNumber);
      if (presented !== serial) throw forbidden(`serial number in client certificate different than body: ${presented} != ${serial}`);
    } else {
      throw badRequest('missing ott or client certificate');
    }
    a.serial = serial;
    const event = this.audit.revoked(a, now, `${reasonCode}${req.reason ? `: ${req.reason}` : ''}`);
    await this.commitRevocation(a, { serial, reasonCode, reason: req.reason ?? '', revokedAt: now }, spent, event);
  }

  /**
   * Revocation by an administrator (the web console, which has authenticated `actor`): no token
   * or certificate of the revoked one is needed. Recorded as a 'revoked' and an 'admin' audit
   * event naming the actor, in the revocation's transaction.
   */
  revokeByAdmin(req: { serial: string; reasonCode?: number; reason?: string }, actor: string, ctx: RequestContext = {}): Promise<void> {
    const a: Attempt = { ...ctx, op: 'revoke', credential: 'admin' };
    return observed(this.observer, a, async () => {
      const serial = parseSerial(req.serial);
      const reasonCode = checkReasonCode(req.reasonCode);
      const now = this.now();
      a.serial = serial;
      const events = this.audit.adminRevoked(a, now, actor, `${reasonCode}${req.reason ? `: ${req.reason}` : ''}`);
      await this.commitRevocation(a, { serial, reasonCode, reason: req.reason ?? '', revokedAt: now }, undefined, events);
    });
  }

  private async commitRevocation(a: Attempt, r: Revocation, spent: TokenClaim | undefined, events: AuditEventInput | AuditEventInput[] | undefined): Promise<void> {
    const outcome = await this.ledger.revoke(r, spent, events);
    if (outcome === 'not_found') throw notFound(`certificate with serial number '${r.serial}' was not issued by this CA`, true);
    if (outcome === 'already_revoked') throw badRequest(`certificate with serial number '${r.serial}' is already revoked`);
    this.observer.revoked(a);
    this.regenerateCrlOf(r.serial);
  }

  /** After a revocation: the CRL of the certificate's issuer (every one's, if the row cannot be read). */
  private regenerateCrlOf(serial: string): void {
    const { enabled, generateOnRevoke } = this.config.crl;
    if (!enabled || !generateOnRevoke) return;
    if (this.issuers.single) {
      this.crl.regenerate().catch(() => undefined);
      return;
    }
    this.ledger.getCertificate(serial)
      .then((row) => (row ? [this.issuers.forStored(row)].filter((e): e is IssuerEntry => !!e) : this.issuers.all))
      .catch(() => this.issuers.all)
      .then((entries) => { for (const e of entries) e.crl.regenerate().catch(() => undefined); });
  }

  /** The ACME provisioner of that name, if ca.json has one. */
  acmeProvisioner(name: string): AcmeProvisioner | undefined {
    return this.provisioners.acme(name);
  }

  /** The ledger's ACME store: the ACME server's state lives beside the certificates it leads to. */
  get acmeStore(): Ledger['acme'] {
    return this.ledger.acme;
  }

  /**
   * A certificate for a finalized ACME order: the ACME layer has checked the account, its
   * authorizations and that the CSR asks for exactly the order's names. Recorded like any other,
   * with the ACME provisioner as its provisioner (so renew, CRL, OCSP and listing apply).
   */
  issueForAcme(req: { provisioner: AcmeProvisioner; accountId: string; csr: ParsedCsr; commonName: string; sans: San[]; notBefore?: string; notAfter?: string }, ctx: RequestContext = {}): Promise<IssuedCertificate> {
    const a: Attempt = { ...ctx, op: 'sign', credential: 'acme-account', provisioner: req.provisioner.name, subject: req.commonName, sans: req.sans.map((s) => s.value) };
    return observed(this.observer, a, async () => {
      checkCommonName(req.commonName);
      // The name policy (global and the ACME provisioner's own) holds for ACME orders too.
      this.policies.enforce(req.provisioner.name, req.commonName, req.sans);
      this.quota?.take(req.provisioner.name);
      const issuer = this.issuers.forProvisioner(req.provisioner.name);
      const validity = computeValidity({ notBefore: req.notBefore, notAfter: req.notAfter }, this.now(), req.provisioner.claims, this.backdate, issuer.issuer.cert.notBefore);
      const leaf = await issuer.leaf.buildAsync({
        serialHex: randomSerialHex(),
        commonName: req.commonName,
        sans: req.sans,
        spki: req.csr.spki,
        notBefore: validity.notBefore,
        notAfter: validity.notAfter,
        rsa: req.csr.keyType === 'rsa',
        provisioner: req.provisioner.claims.disableSmallstepExtensions ? null : { type: PROVISIONER_TYPE.ACME, name: req.provisioner.name, credentialId: '' },
        crlDistributionPoints: issuer.cdp,
        ocspServers: this.config.stepstone.ocspServers,
      });
      const facts = { der: leaf.der, serialHex: leaf.serialHex, subject: req.commonName, sans: req.sans.map((s) => s.value), ...certificateTimes(validity) };
      return this.record(a, issuer, facts, { provisioner: req.provisioner.name, method: 'sign', replaces: null });
    });
  }

  /** Refuses (CaError bad_request) an ACME order's notBefore/notAfter the provisioner's claims do not allow. */
  /** newOrder's early check: what the name policy would refuse at finalize is refused up front. */
  checkAcmeNames(p: AcmeProvisioner, sans: San[]): void {
    this.policies.enforce(p.name, '', sans);
  }

  checkAcmeValidity(p: AcmeProvisioner, notBefore?: string, notAfter?: string): void {
    computeValidity({ notBefore, notAfter }, this.now(), p.claims, this.backdate, this.issuers.forProvisioner(p.name).issuer.cert.notBefore);
  }

  /** ACME revokeCert: the ACME layer has established that the requester may revoke `serial`. */
  revokeForAcme(serial: string, reasonCode: number, ctx: RequestContext = {}): Promise<'revoked' | 'already_revoked' | 'not_found'> {
    const a: Attempt = { ...ctx, op: 'revoke', credential: 'acme-account', serial };
    return observed(this.observer, a, async () => {
      const now = this.now();
      const event = this.audit.revoked(a, now, String(reasonCode));
      const outcome = await this.ledger.revoke({ serial, reasonCode, reason: 'ACME revokeCert', revokedAt: now }, undefined, event);
      if (outcome === 'revoked') {
        this.observer.revoked(a);
        this.regenerateCrlOf(serial);
      }
      return outcome;
    });
  }

  /** A certificate as the ledger holds it (ACME download and revokeCert). */
  storedCertificate(serial: string): ReturnType<Ledger['getCertificate']> {
    return this.ledger.getCertificate(serial);
  }

  /** The intermediate that issued a stored certificate, PEM (the default one's for a row whose issuer left). */
  chainPemOf(stored: Pick<StoredCertificate, 'issuer'>): string {
    return (this.issuers.forStored(stored) ?? this.issuers.default).pem;
  }

  /** The current CRL of the default issuer, or of the one named (404 when CRLs are disabled or no issuer has that name). */
  async currentCrl(issuerName?: string): Promise<PublishedCrl> {
    if (!this.config.crl.enabled) throw notFound('CRL is disabled (crl.enabled is false)');
    const issuer = issuerName === undefined ? this.issuers.default : this.issuers.byNameOf(issuerName);
    if (!issuer) throw notFound(`no issuer is named "${issuerName}"`, true);
    return issuer.crl.current();
  }

  /** An OCSP response for a DER request: each issuer answers for what it signed. */
  async ocsp(requestDer: Uint8Array): Promise<Uint8Array> {
    if (!this.ocspResponder) throw notFound('OCSP is disabled');
    const set = this.issuers;
    return this.ocspResponder(requestDer, {
      issuer: set.default.issuer,
      ...(set.single ? {} : { issuers: set.all.map((e) => ({ issuer: e.issuer, owns: (row: StoredCertificate) => set.forStored(row) === e })) }),
      lookup: (s) => this.ledger.getCertificate(s), now: this.now(), onAnswer: (o) => this.observer.ocspAnswered(o),
    });
  }

  /** The CA's own HTTPS certificate: fresh P-256 key, every dnsName, recorded like any other. */
  async issueServingCertificate(): Promise<ServingCertificate> {
    const now = this.now();
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const lifetime = parseDuration(this.config.stepstone.servingCertDuration)!;
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    const commonName = this.config.commonName ?? 'Stepstone Online CA';
    const sans = sansFromNames(this.config.dnsNames);
    const issuer = this.issuers.default;
    const times = certificateTimes({ notBefore: notBeforeIssuer(new Date(now.getTime() - this.backdate), issuer.issuer.cert.notBefore), notAfter: new Date(now.getTime() + lifetime) });
    const leaf = issuer.leaf.build({
      serialHex: randomSerialHex(), commonName, sans, spki: new Uint8Array(spki).buffer as ArrayBuffer, ...times, rsa: false, provisioner: null,
    });
    const issued = await this.record(null, issuer, { der: leaf.der, serialHex: leaf.serialHex, subject: commonName, sans: sans.map((s) => s.value), ...times },
      { provisioner: null, method: 'serving', replaces: null });
    return { certPem: issued.chainPem[0]!, chainPem: issued.chainPem.join(''), keyPem: unencryptedPem(privateKey), notAfter: times.notAfter };
  }

  listProvisioners(cursor: string, limit: number): ProvisionerPage {
    return this.provisioners.page(cursor, limit);
  }

  encryptedKey(kid: string): string {
    const p = this.provisioners.byKid(kid);
    if (!p?.encryptedKey) throw notFound(`no encrypted key for provisioner kid ${kid}`);
    return p.encryptedKey;
  }
}

function sameScope(a: IssuerScope | undefined, b: IssuerScope | undefined): boolean {
  return a?.name === b?.name && a?.orUnnamed === b?.orUnnamed;
}

function sameList(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
