// The web console's listener (stepstone.console): server-rendered HTML over TLS, for
// administrators only. The handshake requires a client certificate chaining to this CA; each
// request then needs that certificate to be in the ledger, unrevoked, and to name an admin listed
// in ca.json. Pages run no script; the one action (revoke) is a form with a confirmation step,
// a synchronizer token and an Origin check (csrf.ts), and becomes audit events in the same
// transaction as the revocation. The console reads the ledger through its interface only.
import { createHash } from 'node:crypto';
import type { ServerOptions } from 'node:https';
import type { TLSSocket } from 'node:tls';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Claims } from '../authority/claims.js';
import { AUDIT_EVENT_TYPES } from '../ledger/events.js';
import { CERTIFICATE_SORTS, CERTIFICATE_STATES } from '../ledger/inventory.js';
import type { CertificateSearch, CertificateSort, CertificateState, InventorySeries, Ledger } from '../ledger/ledger.js';
import { normalizeSerial } from '../pki/serial.js';
import { matchAdmin, type AdminIdentity } from './admins.js';
import { CsrfTokens, sameOrigin } from './csrf.js';
import { decodeCertificate } from './decode.js';
import { html, type Html } from './html.js';
import {
  auditPage, certificatePage, certificatesPage, layout, messagePage, overviewPage, provisionersPage, REASONS, revokeConfirmPage,
  type CaFact, type CrlFact, type ProvisionerView,
} from './pages.js';
import { CONSOLE_CSS } from './style.js';

export interface ConsoleDeps {
  ledger: Ledger;
  /** Revokes as an administrator (the authority: ledger, audit events, CRL); rejects with a CaError. */
  revoke(r: { serial: string; reasonCode: number; reason: string }, actor: string, ctx: { requestId?: string; clientAddress?: string }): Promise<void>;
  caFacts(): CaFact[];
  crl(): Promise<CrlFact | 'disabled'>;
  provisioners(): { provisioners: ProvisionerView[]; global: Claims };
  log: Logger;
}

export interface ConsoleOptions {
  host: string;
  port: number;
  /** The API's TLS settings with the serving key and chain, and `ca`: the roots and intermediate client certificates must chain to. */
  tls: ServerOptions;
  /** Common names or SAN values of the certificates allowed in. */
  admins: readonly string[];
  deps: ConsoleDeps;
}

export interface ConsoleServer {
  port: number;
  setSecureContext(o: import('node:tls').SecureContextOptions): void;
  close(): Promise<void>;
}

declare module 'fastify' {
  interface FastifyRequest { admin: AdminIdentity | null }
}

const PAGE_SIZE = 50;
/** The overview reads whole index ranges: several loads within this share one reading. */
const OVERVIEW_MAX_AGE_MS = 2000;

const SECURITY_HEADERS: Record<string, string> = {
  // No script of any kind; styles only from our own file; forms post only to us.
  'content-security-policy': "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // Not no-referrer: that would make a browser send "Origin: null" on our own form posts.
  'referrer-policy': 'same-origin',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'strict-transport-security': 'max-age=31536000',
};

const text = (max: number) => ({ type: 'string', maxLength: max });
const listQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    q: text(256), match: { type: 'string', enum: ['prefix', 'contains'] }, serial: text(100), provisioner: text(256),
    state: { type: 'string', enum: ['', ...CERTIFICATE_STATES] }, sort: { type: 'string', enum: [...CERTIFICATE_SORTS] }, dir: { type: 'string', enum: ['asc', 'desc'] },
    after: { type: 'string', maxLength: 1024, pattern: '^[A-Za-z0-9_-]*$' },
  },
} as const;
const serialParams = { type: 'object', required: ['serial'], properties: { serial: { type: 'string', pattern: '^[0-9]{1,100}$' } } } as const;
const revokeBody = {
  type: 'object',
  required: ['csrf', 'reasonCode'],
  additionalProperties: false,
  properties: {
    csrf: text(128), reasonCode: { type: 'string', enum: REASONS.map(([n]) => String(n)) }, reason: text(200), confirm: { type: 'string', enum: ['yes'] },
  },
} as const;
const auditQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { type: { type: 'string', enum: ['', ...AUDIT_EVENT_TYPES] }, before: { type: 'string', pattern: '^[0-9]{1,15}$' } },
} as const;

export async function startConsole(o: ConsoleOptions): Promise<ConsoleServer> {
  const app = await buildConsoleApp(o);
  await app.listen({ host: o.host, port: o.port });
  const server = app.server as import('node:https').Server;
  return {
    port: (server.address() as { port: number }).port,
    setSecureContext: (tls) => server.setSecureContext(tls),
    close: () => app.close(),
  };
}

export async function buildConsoleApp(o: ConsoleOptions): Promise<FastifyInstance> {
  const { ledger, log } = o.deps;
  const csrf = new CsrfTokens();
  const app = Fastify({
    logger: false,
    // A certificate the handshake cannot chain to this CA never gets a request in.
    https: { ...o.tls, requestCert: true, rejectUnauthorized: true, requestTimeout: 30_000, headersTimeout: 30_000 },
    bodyLimit: 8 * 1024,
    connectionTimeout: 60_000,
    keepAliveTimeout: 30_000,
    return503OnClosing: true,
  }) as unknown as FastifyInstance;

  app.decorateRequest('admin', null);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  const page = (reply: FastifyReply, req: FastifyRequest, status: number, title: string, active: string, body: Html) =>
    reply.code(status).type('text/html; charset=utf-8').send(layout({ title, active, admin: req.admin?.name ?? null, body, now: new Date() }).text);

  app.addHook('onRequest', async (req, reply) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) reply.header(k, v);
    reply.header('cache-control', req.url.startsWith('/static/') ? 'private, max-age=3600' : 'no-store');
    const peer = (req.raw.socket as TLSSocket).getPeerX509Certificate?.();
    if (!peer) return page(reply, req, 401, 'Certificate required', '', messagePage('This console needs an administrator\'s client certificate.'));
    const admin = matchAdmin(peer, o.admins);
    if (!admin) {
      return page(reply, req, 403, 'Not an administrator', '', messagePage('Your certificate is from this CA but names no administrator listed in stepstone.console.admins.'));
    }
    const stored = await ledger.getCertificate(admin.serial);
    // The same certificate, not merely the same serial: what the ledger recorded is what was issued.
    if (!stored || stored.fingerprint !== createHash('sha256').update(peer.raw).digest('hex')) {
      return page(reply, req, 403, 'Unknown certificate', '', messagePage('Your certificate is not in this CA\'s ledger.'));
    }
    if (stored.revokedAt) return page(reply, req, 403, 'Certificate revoked', '', messagePage('Your certificate has been revoked.'));
    req.admin = admin;
  });

  app.setNotFoundHandler((req, reply) => page(reply, req, 404, 'Not found', '', messagePage('There is no such page.')));
  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown; status?: number; publicMessage?: string }, req, reply) => {
    if (err.validation || (err.statusCode && err.statusCode < 500)) {
      return page(reply, req, err.statusCode ?? 400, 'Bad request', '', messagePage('The request was not understood.', err.message));
    }
    if (err.status && err.status < 500 && err.publicMessage) return page(reply, req, err.status, 'Refused', '', messagePage(err.publicMessage));
    log.error({ err, reqId: req.id }, 'console request failed');
    return page(reply, req, err.status === 503 ? 503 : 500, 'Something failed', '', messagePage('The console could not answer; the CA log has the details.'));
  });

  app.get('/static/console.css', async (_req, reply) => reply.type('text/css; charset=utf-8').send(CONSOLE_CSS));

  let overview: { at: number; data: Promise<{ series: InventorySeries; countedAt: Date }> } | null = null;
  app.get('/', async (req, reply) => {
    const now = new Date();
    if (!overview || now.getTime() - overview.at > OVERVIEW_MAX_AGE_MS) {
      const data = ledger.series(now).then((series) => ({ series, countedAt: now }));
      overview = { at: now.getTime(), data };
      data.catch(() => { overview = null; });
    }
    const [counted, crl] = await Promise.all([overview.data, o.deps.crl().catch((err: unknown) => {
      log.warn({ err }, 'console: the CRL could not be read');
      return 'unavailable' as const;
    })]);
    return page(reply, req, 200, 'Overview', '/', overviewPage({ ...counted, now, ca: o.deps.caFacts(), crl }));
  });

  app.get<{ Querystring: Record<string, string | undefined> }>('/certificates', { schema: { querystring: listQuery } }, async (req, reply) => {
    const qs = req.query;
    const q = qs.q?.trim() ?? '';
    const match = (qs.match ?? 'prefix') as 'prefix' | 'contains';
    // A name prefix lists by name unless told otherwise: that reads the name index in order, however
    // many names share the prefix (in issue order, a common prefix would sort every match).
    const sort = (qs.sort ?? (q && match === 'prefix' ? 'subject' : 'issued')) as CertificateSort;
    const form = {
      q, match, serial: qs.serial?.trim() ?? '', provisioner: qs.provisioner ?? '',
      state: qs.state ?? '', sort, dir: qs.dir ?? (sort === 'issued' ? 'desc' : 'asc'), explicitSort: qs.sort !== undefined,
    };
    const now = new Date();
    const search: Omit<CertificateSearch, 'limit' | 'now' | 'after'> = {
      ...(form.q ? (form.match === 'contains' ? { nameContains: form.q } : { namePrefix: form.q }) : {}),
      ...(form.provisioner ? { provisioner: form.provisioner } : {}),
      ...(form.state ? { state: form.state as CertificateState } : {}),
      sort: form.sort, descending: form.dir === 'desc',
    };
    const provisioners = o.deps.provisioners().provisioners.map((p) => p.name);
    let notice: Html | null = null;
    if (form.serial) {
      const serial = normalizeSerial(form.serial);
      if (serial === null) notice = messagePage(`"${form.serial}" is not a serial number: use decimal digits, or hex with 0x.`);
      else search.serial = serial;
    }
    const result = notice
      ? { certificates: [], next: null }
      : await ledger.searchCertificates({ ...search, after: qs.after || undefined, limit: PAGE_SIZE, now }).catch((err: unknown) => {
        if (err instanceof RangeError) {
          notice = messagePage('That page link is out of date; showing the first page.');
          return ledger.searchCertificates({ ...search, limit: PAGE_SIZE, now });
        }
        throw err;
      });
    const body = certificatesPage({ search, form, provisioners, page: result, now, after: qs.after || undefined });
    return page(reply, req, 200, 'Certificates', '/certificates', notice ? html`${notice}${body}` : body);
  });

  const loadCert = async (serial: string) => ledger.getCertificate(serial);
  const missing = (req: FastifyRequest, reply: FastifyReply) => page(reply, req, 404, 'No such certificate', '/certificates', messagePage('This CA\'s ledger has no certificate with that serial number.'));

  app.get<{ Params: { serial: string }; Querystring: { done?: string } }>('/certificates/:serial', {
    schema: { params: serialParams, querystring: { type: 'object', properties: { done: { type: 'string', enum: ['revoked'] } } } },
  }, async (req, reply) => {
    const cert = await loadCert(req.params.serial);
    if (!cert) return missing(req, reply);
    const lineage = await ledger.lineage(cert.serial);
    return page(reply, req, 200, cert.subject || `Certificate ${cert.serial}`, '/certificates', certificatePage({
      cert, decoded: decodeCertificate(cert.pem), lineage, now: new Date(), notice: req.query.done === 'revoked' ? 'The certificate has been revoked.' : undefined,
    }));
  });

  app.get<{ Params: { serial: string } }>('/certificates/:serial/pem', { schema: { params: serialParams } }, async (req, reply) => {
    const cert = await loadCert(req.params.serial);
    if (!cert) return missing(req, reply);
    return reply.type('application/x-pem-file').header('content-disposition', `attachment; filename="${cert.serial}.crt"`).send(cert.pem);
  });

  const confirmPage = (req: FastifyRequest, reply: FastifyReply, cert: NonNullable<Awaited<ReturnType<typeof loadCert>>>, status = 200, error?: string) =>
    page(reply, req, status, 'Revoke a certificate', '/certificates', revokeConfirmPage({ cert, csrf: csrf.issue(req.admin!.fingerprint, 'revoke', cert.serial), now: new Date(), error }));

  app.get<{ Params: { serial: string } }>('/certificates/:serial/revoke', { schema: { params: serialParams } }, async (req, reply) => {
    const cert = await loadCert(req.params.serial);
    if (!cert) return missing(req, reply);
    if (cert.revokedAt) return reply.redirect(`/certificates/${cert.serial}`, 303);
    return confirmPage(req, reply, cert);
  });

  app.post<{ Params: { serial: string }; Body: { csrf: string; reasonCode: string; reason?: string; confirm?: string } }>('/certificates/:serial/revoke', {
    schema: { params: serialParams, body: revokeBody },
  }, async (req, reply) => {
    const admin = req.admin!;
    const origin = sameOrigin(req.headers);
    if (!origin || !csrf.verify(req.body.csrf, admin.fingerprint, 'revoke', req.params.serial)) {
      log.warn({ actor: admin.actor, serial: req.params.serial, origin: req.headers.origin ?? null, host: req.headers.host, fetchSite: req.headers['sec-fetch-site'] ?? null, why: origin ? 'token' : 'origin' },
        'console: a revoke form was refused (CSRF check)');
      return page(reply, req, 403, 'Refused', '/certificates', messagePage('This form did not come from this console (or it is more than 15 minutes old): nothing was revoked.', 'Open the certificate again and use its Revoke button.'));
    }
    const cert = await loadCert(req.params.serial);
    if (!cert) return missing(req, reply);
    if (req.body.confirm !== 'yes') return confirmPage(req, reply, cert, 400, 'Tick the box to confirm the revocation.');
    try {
      await o.deps.revoke({ serial: cert.serial, reasonCode: Number(req.body.reasonCode), reason: req.body.reason?.trim() ?? '' }, admin.actor, { requestId: req.id, clientAddress: req.ip });
    } catch (err) {
      const e = err as { status?: number; publicMessage?: string };
      if (e.status && e.status < 500) return confirmPage(req, reply, cert, e.status, e.publicMessage ?? 'The revocation was refused.');
      throw err;
    }
    log.info({ serial: cert.serial, actor: admin.actor }, 'certificate revoked from the console');
    return reply.redirect(`/certificates/${cert.serial}?done=revoked`, 303);
  });

  app.get('/provisioners', async (req, reply) => page(reply, req, 200, 'Provisioners', '/provisioners', provisionersPage(o.deps.provisioners())));

  app.get<{ Querystring: { type?: string; before?: string } }>('/audit', { schema: { querystring: auditQuery } }, async (req, reply) => {
    const type = req.query.type ?? '';
    const before = req.query.before ? Number(req.query.before) : undefined;
    const events = await ledger.events.list({ order: 'desc', limit: PAGE_SIZE, beforeSeq: before, ...(type ? { types: [type] } : {}) });
    const next = events.length === PAGE_SIZE ? events.at(-1)!.seq : null;
    return page(reply, req, 200, 'Audit events', '/audit', auditPage({ events, next, type, types: AUDIT_EVENT_TYPES, before }));
  });

  return app;
}
