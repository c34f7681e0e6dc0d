// ca.json settings for watching the CA: the metrics listener, the audit trail, event webhooks.
// Part of the `stepstone` block (schema.ts); `metricsAddress` sits at the top level, as step-ca's.
import { z } from 'zod';
import { parseDuration } from '../util/duration.js';

const goDuration = z.string().refine((s) => parseDuration(s) !== null, { message: 'not a duration such as "5m" or "24h"' });
const positiveDuration = goDuration.refine((s) => parseDuration(s)! > 0, { message: 'must be longer than 0s' });

export const ADDRESS = /^(\[[0-9a-fA-F:]+\]|[^:\s]*):\d{1,5}$/;

export const metricsSchema = z.object({
  /** Require a client certificate from this CA (and not revoked) to scrape, over TLS. */
  mtls: z.boolean().default(false),
  /** How often the ledger-derived gauges (valid, expiring, revoked counts, size) are recounted. */
  statsInterval: positiveDuration.default('60s'),
}).passthrough();

export const auditSchema = z.object({
  /** Write the audit trail (on by default; off only to measure what it costs). */
  enabled: z.boolean().default(true),
  /**
   * Refusals are recorded per client address and reason: the first of each window as its own
   * row, the rest of the window as one row with a count, so a storm cannot flood the ledger.
   */
  refusalWindow: positiveDuration.default('1m'),
  /** Distinct client addresses tracked per window; refusals from any beyond share one row per reason. */
  refusalClients: z.number().int().positive().max(100_000).default(1000),
}).passthrough();

export const WEBHOOK_EVENTS = ['issued', 'renewed', 'rekeyed', 'revoked', 'refused', 'admin', 'expiring-soon', 'renewal-overdue'] as const;

const webhookUrl = z.string().refine((u) => {
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    return false;
  }
  return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '' && url.username === '' && url.password === '';
}, { message: 'must be an http:// or https:// URL without credentials in it' });

export const webhookSchema = z.object({
  /** Names the webhook in metrics and its delivery cursor: renaming it starts delivery afresh. */
  name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, . _ - (at most 64)'),
  url: webhookUrl,
  events: z.array(z.enum(WEBHOOK_EVENTS)).min(1),
  /** The HMAC-SHA256 key, read from this file (trailing newline ignored). */
  secretFile: z.string().min(1),
  /** For an https URL: PEM roots to trust instead of the system's. */
  caFile: z.string().min(1).optional(),
  /** One delivery attempt may take this long, connect to last byte. */
  timeout: positiveDuration.default('10s'),
  /** Deliveries in flight at once (in order; a failure retries from the first undelivered). */
  concurrency: z.number().int().min(1).max(64).default(4),
}).passthrough();
export type WebhookConfig = z.infer<typeof webhookSchema>;

export const webhooksSchema = z.array(webhookSchema).default([]).superRefine((hooks, ctx) => {
  const seen = new Set<string>();
  hooks.forEach((h, i) => {
    if (seen.has(h.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `webhook name "${h.name}" is used twice` });
    seen.add(h.name);
  });
});

/** Expiry notices (expiring-soon, renewal-overdue) for webhooks that ask for them. */
export const noticesSchema = z.object({
  /** How often certificates are scanned for notices due. */
  interval: positiveDuration.default('5m'),
  /** How far ahead of now the scan looks (certificates expiring later wait for a later scan). */
  horizon: positiveDuration.default('720h'),
}).passthrough();
