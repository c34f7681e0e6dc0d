// The CA's Prometheus metrics: one prom-client Registry per running CA (never the library's
// global default, so two CAs in one process, or a test, never share counters). Every label is
// bounded: routes, provisioners and webhooks come from the config, reasons from reasons.ts,
// statuses from fixed sets. No serial, subject or address is ever a label.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Attempt, CrlFacts, OcspOutcome } from '../authority/observer.js';
import type { IssuanceMethod, LedgerStats } from '../ledger/ledger.js';
import { VERSION } from '../version.js';
import { refusalReason } from './reasons.js';

const seconds = (d: Date) => d.getTime() / 1000;

export class Metrics {
  readonly registry = new Registry();
  private readonly httpDuration: Histogram<'route' | 'method' | 'status_class'>;
  private readonly issuances: Counter<'provisioner' | 'method' | 'outcome'>;
  private readonly refusals: Counter<'operation' | 'reason'>;
  private readonly revocations: Counter<'credential'>;
  private readonly commitDuration: Histogram;
  private readonly commitBatch: Histogram;
  private readonly ledgerSize: Gauge;
  private readonly certificates: Gauge<'state'>;
  private readonly statsTime: Gauge;
  private readonly caNotAfter: Gauge<'role'>;
  private readonly crlNumber: Gauge;
  private readonly crlThisUpdate: Gauge;
  private readonly crlNextUpdate: Gauge;
  private readonly crlEntries: Gauge;
  private readonly ocsp: Counter<'status'>;
  private readonly webhookDeliveries: Counter<'webhook' | 'outcome'>;
  private readonly webhookBacklog: Gauge<'webhook'>;
  private readonly auditEvents: Counter<'type'>;
  private readonly auditAggregated: Counter;
  private crlLastUpdate: number | null = null;

  constructor(o: { crlRenewPeriodSeconds?: number; now?: () => number } = {}) {
    const registers = [this.registry];
    const now = o.now ?? Date.now;
    collectDefaultMetrics({ register: this.registry });
    // prom-client also exports these three sums as gauges named *_total, which Prometheus's
    // conventions (and `promtool check metrics`) reserve for counters; the per-type gauges stay.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) this.registry.removeSingleMetric(name);
    new Gauge({ name: 'stepstone_build_info', help: 'The running Stepstone version (always 1).', labelNames: ['version'], registers }).set({ version: VERSION }, 1);
    this.httpDuration = new Histogram({
      name: 'stepstone_http_request_duration_seconds', help: 'HTTP requests by route pattern, method and status class, receipt to response.',
      labelNames: ['route', 'method', 'status_class'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers,
    });
    this.issuances = new Counter({
      name: 'stepstone_issuances_total', help: 'Certificate requests by provisioner, method (sign, renew, rekey, serving) and outcome (issued, refused, failed).',
      labelNames: ['provisioner', 'method', 'outcome'], registers,
    });
    this.refusals = new Counter({ name: 'stepstone_refusals_total', help: 'Refused requests by operation and reason.', labelNames: ['operation', 'reason'], registers });
    this.revocations = new Counter({ name: 'stepstone_revocations_total', help: 'Certificates revoked, by how the request was authorised.', labelNames: ['credential'], registers });
    this.commitDuration = new Histogram({
      name: 'stepstone_ledger_commit_duration_seconds', help: 'Ledger group commits, queue to durable.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1], registers,
    });
    this.commitBatch = new Histogram({ name: 'stepstone_ledger_commit_batch_size', help: 'Writes per ledger group commit.', buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256], registers });
    this.ledgerSize = new Gauge({ name: 'stepstone_ledger_size_bytes', help: 'Bytes the ledger occupies (as of the last count).', registers });
    this.certificates = new Gauge({
      name: 'stepstone_certificates', help: 'Certificates in the ledger by state: valid, expiring_7d, revoked (unexpired), expiring_unrenewed (within 24 h, past 3/4 of their lifetime, not renewed). Counted every metrics.statsInterval.',
      labelNames: ['state'], registers,
    });
    this.statsTime = new Gauge({ name: 'stepstone_ledger_stats_timestamp_seconds', help: 'When the certificate counts were last taken.', registers });
    this.caNotAfter = new Gauge({
      name: 'stepstone_ca_certificate_not_after_seconds', help: 'notAfter of the CA\'s own certificates: root (the earliest of them), intermediate, serving.',
      labelNames: ['role'], registers,
    });
    this.crlNumber = new Gauge({ name: 'stepstone_crl_number', help: 'Number of the CRL being served.', registers });
    this.crlThisUpdate = new Gauge({ name: 'stepstone_crl_this_update_seconds', help: 'thisUpdate of the CRL being served.', registers });
    this.crlNextUpdate = new Gauge({ name: 'stepstone_crl_next_update_seconds', help: 'nextUpdate of the CRL being served.', registers });
    this.crlEntries = new Gauge({ name: 'stepstone_crl_entries', help: 'Revoked certificates listed in the CRL being served.', registers });
    const lastUpdate = () => this.crlLastUpdate;
    new Gauge({
      name: 'stepstone_crl_age_seconds', help: 'Seconds since the CRL being served was generated.', registers,
      collect() { const t = lastUpdate(); if (t !== null) this.set((now() - t) / 1000); },
    });
    if (o.crlRenewPeriodSeconds !== undefined) {
      new Gauge({ name: 'stepstone_crl_renew_period_seconds', help: 'How often the CRL is regenerated (crl.renewPeriod).', registers }).set(o.crlRenewPeriodSeconds);
    }
    this.ocsp = new Counter({ name: 'stepstone_ocsp_responses_total', help: 'OCSP answers by status (one per certificate asked about, or the error status).', labelNames: ['status'], registers });
    this.webhookDeliveries = new Counter({ name: 'stepstone_webhook_deliveries_total', help: 'Webhook delivery attempts by webhook and outcome (delivered, failed).', labelNames: ['webhook', 'outcome'], registers });
    this.webhookBacklog = new Gauge({ name: 'stepstone_webhook_backlog_events', help: 'Events waiting for delivery per webhook (as of its last look).', labelNames: ['webhook'], registers });
    this.auditEvents = new Counter({ name: 'stepstone_audit_refusal_records_total', help: 'Refusal records this replica wrote to the audit trail, by type (single, aggregate).', labelNames: ['type'], registers });
    this.auditAggregated = new Counter({ name: 'stepstone_audit_refusals_aggregated_total', help: 'Refusals folded into an aggregate audit record rather than written one by one.', registers });
  }

  readonly httpResponse = (route: string, method: string, status: number, secs: number): void => {
    this.httpDuration.observe({ route, method, status_class: `${Math.floor(status / 100)}xx` }, secs);
  };

  issued(a: Attempt, method: IssuanceMethod): void {
    this.issuances.inc({ provisioner: a.provisioner ?? 'none', method, outcome: 'issued' });
  }

  revoked(a: Attempt): void {
    this.revocations.inc({ credential: a.credential });
  }

  /** A refusal (CaError below 500) or a failure; `operation` 'request' for refusals at the door. */
  refused(a: Attempt | { op: 'request' }, err: unknown): void {
    const reason = refusalReason(err, 'credential' in a ? a : undefined);
    if (reason !== null) this.refusals.inc({ operation: a.op, reason });
    if (a.op === 'revoke' || a.op === 'request') return;
    this.issuances.inc({ provisioner: ('provisioner' in a && a.provisioner) || 'none', method: a.op, outcome: reason === null ? 'failed' : 'refused' });
  }

  crlPublished(crl: CrlFacts): void {
    this.crlLastUpdate = crl.thisUpdate.getTime();
    this.crlNumber.set(crl.number);
    this.crlThisUpdate.set(seconds(crl.thisUpdate));
    this.crlNextUpdate.set(seconds(crl.nextUpdate));
    this.crlEntries.set(crl.entries);
  }

  ocspAnswered(outcome: OcspOutcome): void {
    this.ocsp.inc({ status: outcome });
  }

  readonly commit = (batchSize: number, secs: number): void => {
    this.commitBatch.observe(batchSize);
    this.commitDuration.observe(secs);
  };

  ledgerStats(s: LedgerStats, at: Date): void {
    this.certificates.set({ state: 'valid' }, s.valid);
    this.certificates.set({ state: 'expiring_7d' }, s.expiring7d);
    this.certificates.set({ state: 'revoked' }, s.revoked);
    this.certificates.set({ state: 'expiring_unrenewed' }, s.expiringUnrenewed);
    this.ledgerSize.set(s.sizeBytes);
    this.statsTime.set(seconds(at));
  }

  caCertificate(role: 'root' | 'intermediate' | 'serving', notAfter: Date): void {
    this.caNotAfter.set({ role }, seconds(notAfter));
  }

  webhookAttempt(webhook: string, delivered: boolean): void {
    this.webhookDeliveries.inc({ webhook, outcome: delivered ? 'delivered' : 'failed' });
  }

  webhookWaiting(webhook: string, events: number): void {
    this.webhookBacklog.set({ webhook }, events);
  }

  refusalRecorded(type: 'single' | 'aggregate', folded = 0): void {
    this.auditEvents.inc({ type });
    if (folded) this.auditAggregated.inc(folded);
  }

  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
