// One webhook POST: the event as JSON, signed with HMAC-SHA256 over "<timestamp>.<body>", sent
// with a hard deadline and no redirects followed. Any 2xx is delivered; anything else, a timeout
// or a connection error is a failure the dispatcher retries.
import { createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AuditEvent } from '../ledger/ledger.js';
import { VERSION } from '../version.js';

export interface WebhookTarget {
  name: string;
  url: URL;
  events: ReadonlySet<string>;
  secret: Buffer;
  timeoutMs: number;
  concurrency: number;
  agent: http.Agent;
}

export function makeAgent(url: URL, concurrency: number, ca?: string): http.Agent {
  const o = { keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency };
  return url.protocol === 'https:' ? new https.Agent({ ...o, ...(ca ? { ca } : {}), minVersion: 'TLSv1.2' }) : new http.Agent(o);
}

/** What a receiver gets: the event with dates in RFC 3339, and the certificate's validity when known. */
export function webhookBody(e: AuditEvent, validity: { notBefore: Date; notAfter: Date } | null): string {
  return JSON.stringify({
    id: e.id,
    type: e.type,
    time: e.time.toISOString(),
    seq: e.seq,
    replica: e.replica,
    data: {
      serial: e.serial, subject: e.subject, sans: e.sans, provisioner: e.provisioner, outcome: e.outcome, reason: e.reason, count: e.count,
      actor: e.actor, requestId: e.requestId, clientAddress: e.clientAddress,
      ...(validity ? { notBefore: validity.notBefore.toISOString(), notAfter: validity.notAfter.toISOString() } : {}),
    },
  });
}

/** The signature header's value: receivers recompute it over the raw body they got. */
export function signature(secret: Buffer, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export type DeliveryResult = { ok: true } | { ok: false; error: string };

const MAX_RESPONSE = 64 * 1024;

export function deliver(t: WebhookTarget, e: AuditEvent, body: string, attempt: number, now = Date.now()): Promise<DeliveryResult> {
  const timestamp = Math.floor(now / 1000);
  const client = t.url.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: DeliveryResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      resolve(r);
    };
    const req = client.request(t.url, {
      method: 'POST',
      agent: t.agent,
      headers: {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'user-agent': `Stepstone/${VERSION}`,
        'x-stepstone-event': e.type,
        'x-stepstone-event-id': e.id,
        'x-stepstone-delivery-attempt': String(attempt),
        'x-stepstone-timestamp': String(timestamp),
        'x-stepstone-signature': signature(t.secret, timestamp, body),
      },
    }, (res) => {
      let seen = 0;
      res.on('data', (c: Buffer) => {
        seen += c.length;
        if (seen > MAX_RESPONSE) res.destroy();
      });
      res.on('end', () => {
        const s = res.statusCode ?? 0;
        if (s >= 200 && s < 300) done({ ok: true });
        else done({ ok: false, error: s >= 300 && s < 400 ? `HTTP ${s} (redirects are not followed)` : `HTTP ${s}` });
      });
      res.on('error', (err) => done({ ok: false, error: err.message }));
      res.on('close', () => done({ ok: false, error: 'response cut short' }));
    });
    // A receiver that hangs costs this one delivery its timeout, and never an issuance anything.
    const deadline = setTimeout(() => {
      done({ ok: false, error: `no answer within ${t.timeoutMs} ms` });
      req.destroy();
    }, t.timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => done({ ok: false, error: err.code ?? err.message }));
    req.end(body);
  });
}
