// Everything that watches a running CA, composed: metrics (when metricsAddress is set), the audit
// trail's refusal records, webhook delivery and expiry notices. The authority sees only
// `observer`; serve.ts sees this class.
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import type { ServerOptions } from 'node:https';
import { hostname } from 'node:os';
import type { SecureContextOptions } from 'node:tls';
import type { Logger } from 'pino';
import type { Attempt, CrlFacts, Observer, OcspOutcome, RequestContext } from '../authority/observer.js';
import type { CaConfig } from '../config/schema.js';
import type { WebhookConfig } from '../config/observe-schema.js';
import type { IssuanceMethod, Ledger } from '../ledger/ledger.js';
import { parseDuration } from '../util/duration.js';
import { readTextExplained } from '../util/read-file.js';
import { AuditTrail } from './audit.js';
import type { Metrics } from './metrics.js';
import { startMetricsServer, type MetricsServer } from './metrics-server.js';
import { makeAgent, type WebhookTarget } from './webhook-delivery.js';
import { WebhookDispatcher } from './webhooks.js';
import { splitAddress } from '../util/address.js';

const NOTICE_KINDS = ['expiring-soon', 'renewal-overdue'] as const;

export interface StartOptions {
  /** The CA certificates' expiry for the gauges. */
  rootNotAfter: Date;
  intermediateNotAfter: Date;
  servingNotAfter: Date;
  /** The API's TLS options with the serving key and certificate (for an mTLS metrics listener). */
  tls: ServerOptions;
  /** Overrides config.metricsAddress. */
  metricsAddress?: string;
}

export class Observability {
  readonly replica: string;
  readonly metrics: Metrics | null;
  readonly audit: AuditTrail | null;
  readonly observer: Observer;
  private dispatcher: WebhookDispatcher | null = null;
  /** Read at construction, so a missing secret file stops the start before any port opens. */
  private readonly webhookTargets: WebhookTarget[];
  private server: MetricsServer | null = null;
  private readonly timers: NodeJS.Timeout[] = [];

  /**
   * prom-client (~10 MiB of RSS once loaded) is imported only when metrics are on: a CA without
   * a metricsAddress never needs it.
   */
  static async open(config: CaConfig, ledger: Ledger, log: Logger, resolvePath: (p: string) => string, replica?: string): Promise<Observability> {
    const metrics = config.metricsAddress ? (await import('./metrics.js')).Metrics : null;
    return new Observability(config, ledger, log, resolvePath, replica, metrics);
  }

  private constructor(
    private readonly config: CaConfig, private readonly ledger: Ledger, private readonly log: Logger, private readonly resolvePath: (p: string) => string,
    replica: string | undefined, MetricsClass: typeof Metrics | null,
  ) {
    this.replica = replica ?? config.stepstone.replica ?? hostname();
    this.webhookTargets = config.stepstone.webhooks.map((h) => this.webhookTarget(h));
    const crlRenew = config.crl.enabled ? (parseDuration(config.crl.renewPeriod ?? '') ?? (parseDuration(config.crl.cacheDuration)! * 2) / 3) / 1000 : undefined;
    this.metrics = MetricsClass ? new MetricsClass({ crlRenewPeriodSeconds: crlRenew }) : null;
    const a = config.stepstone.audit;
    this.audit = a.enabled
      ? new AuditTrail(ledger.events, {
        replica: this.replica,
        windowMs: parseDuration(a.refusalWindow)!,
        maxClients: a.refusalClients,
        onError: (err) => log.warn({ err }, 'a refusal could not be written to the audit trail'),
        onRecord: (type, folded) => {
          this.metrics?.refusalRecorded(type, folded);
          this.dispatcher?.wake();
        },
      })
      : null;
    if (this.metrics) ledger.onCommit?.(this.metrics.commit);
    this.observer = this.fanOut();
  }

  private webhookTarget(h: WebhookConfig): WebhookTarget {
    const secretFile = this.resolvePath(h.secretFile);
    const secret = readTextExplained(secretFile, `the secret of webhook ${h.name}`).replace(/\r?\n$/, '');
    if (!secret) throw new Error(`config: stepstone.webhooks: the secret file of webhook ${h.name} is empty`);
    if ((statSync(secretFile).mode & 0o077) !== 0) this.log.warn({ webhook: h.name }, `${secretFile} is open to other users: chmod 600 it`);
    const url = new URL(h.url);
    const ca = h.caFile ? readTextExplained(this.resolvePath(h.caFile), `the CA file of webhook ${h.name}`) : undefined;
    return { name: h.name, url, events: new Set(h.events), secret: Buffer.from(secret), timeoutMs: parseDuration(h.timeout)!, concurrency: h.concurrency, agent: makeAgent(url, h.concurrency, ca) };
  }

  /** Refusals that never reach the authority (the per-IP rate limit at the door). */
  readonly refusedAtDoor = (ctx: RequestContext, err: unknown): void => {
    this.metrics?.refused({ op: 'request' }, err);
    this.audit?.refused({ op: 'request', ...ctx }, err);
  };

  async start(o: StartOptions): Promise<void> {
    const m = this.metrics;
    if (m) {
      m.caCertificate('root', o.rootNotAfter);
      m.caCertificate('intermediate', o.intermediateNotAfter);
      m.caCertificate('serving', o.servingNotAfter);
      // Not awaited: the first count (a thread of its own on SQLite) must not delay serving.
      void this.countLedger();
      this.every(parseDuration(this.config.stepstone.metrics.statsInterval)!, () => this.countLedger());
      const { host, port } = splitAddress(o.metricsAddress ?? this.config.metricsAddress!);
      const mtls = this.config.stepstone.metrics.mtls;
      this.server = await startMetricsServer({
        host, port, metrics: m,
        tls: mtls ? o.tls : undefined,
        isRevoked: async (serial) => (await this.ledger.getCertificate(serial))?.revokedAt != null,
        onError: (err) => this.log.error({ err }, 'metrics scrape failed'),
      });
      this.log.info({ metricsAddress: `${host}:${this.server.port}`, mtls }, 'serving Prometheus metrics');
    }
    this.startWebhooks();
  }

  get metricsPort(): number | undefined {
    return this.server?.port;
  }

  /** The serving certificate was renewed in memory. */
  servingRenewed(notAfter: Date, tls: SecureContextOptions): void {
    this.metrics?.caCertificate('serving', notAfter);
    this.server?.setSecureContext(tls);
  }

  async close(): Promise<void> {
    this.timers.forEach((t) => clearInterval(t));
    await this.dispatcher?.close();
    await this.audit?.close();
    await this.server?.close();
    this.ledger.onCommit?.(null);
  }

  private fanOut(): Observer {
    const m = this.metrics;
    const audit = this.audit;
    const wake = () => this.dispatcher?.wake();
    return {
      issued(a: Attempt, method: IssuanceMethod) { m?.issued(a, method); wake(); },
      revoked(a: Attempt) { m?.revoked(a); wake(); },
      refused(a: Attempt, err: unknown) { m?.refused(a, err); audit?.refused(a, err); },
      crlPublished(crl: CrlFacts) { m?.crlPublished(crl); },
      ocspAnswered(o: OcspOutcome) { m?.ocspAnswered(o); },
    };
  }

  private async countLedger(): Promise<void> {
    try {
      const now = new Date();
      this.metrics?.ledgerStats(await this.ledger.stats(now), now);
    } catch (err) {
      this.log.warn({ err }, 'counting the ledger for metrics failed');
    }
  }

  private startWebhooks(): void {
    const hooks = this.config.stepstone.webhooks;
    const targets = this.webhookTargets;
    if (!targets.length) return;
    const m = this.metrics;
    this.dispatcher = new WebhookDispatcher(this.ledger, targets, {
      owner: `${this.replica}/${process.pid}/${randomBytes(4).toString('hex')}`,
      // A replica that dies holding a lease delays its webhooks by at most this much.
      leaseMs: Math.max(10_000, 3 * Math.max(...targets.map((t) => t.timeoutMs))),
      onAttempt: (name, ok, e, error) => {
        m?.webhookAttempt(name, ok);
        if (!ok) this.log.warn({ webhook: name, eventId: e.id, event: e.type, error }, 'webhook delivery failed; will retry');
      },
      onBacklog: (name, n) => m?.webhookWaiting(name, n),
      onError: (name, err) => this.log.warn({ webhook: name, err }, 'webhook delivery paused: the ledger cannot be reached'),
    });
    this.dispatcher.start();
    const kinds = NOTICE_KINDS.filter((k) => hooks.some((h) => h.events.includes(k)));
    if (kinds.length) {
      const n = this.config.stepstone.notices;
      const scan = async () => {
        try {
          if (await this.ledger.events.appendNotices(new Date(), { replica: this.replica, horizonMs: parseDuration(n.horizon)!, limit: 1000, kinds })) this.dispatcher?.wake();
        } catch (err) {
          this.log.warn({ err }, 'scanning for expiry notices failed');
        }
      };
      void scan();
      this.every(parseDuration(n.interval)!, scan);
    }
  }

  private every(ms: number, fn: () => Promise<void>): void {
    const t = setInterval(() => void fn(), ms);
    t.unref();
    this.timers.push(t);
  }
}
