// Builds the fastify app: every route under both / and /1.0 (the step CLI calls the bare paths,
// its token audiences name /1.0), request ids, JSON errors for everything including 404s.
import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import type { Authority } from '../authority/authority.js';
import rateLimit from '@fastify/rate-limit';
import { CaError, rateLimited, unavailable } from '../errors.js';
import { clientErrorHandler, errorHandler } from './errors.js';
import { formatDuration } from '../util/duration.js';
import { guardConnections, type ConnectionLimits } from './connection-guard.js';
import { accessLog, noteOutcome } from './access-log.js';
import { sendJson } from './reply.js';
import type { RequestContext } from '../authority/observer.js';
import { contextOf } from './context.js';
import { healthRoutes } from './routes/health.js';
import { provisionerRoutes } from './routes/provisioners.js';
import { rootRoutes } from './routes/roots.js';
import { crlRoutes } from './routes/crl.js';
import { ocspRoutes } from './routes/ocsp.js';
import { renewRoutes } from './routes/renew.js';
import { revokeRoutes } from './routes/revoke.js';
import { signRoutes } from './routes/sign.js';
import { acmeRoutes } from './routes/acme.js';
import { AcmeService } from '../acme/service.js';

export interface AppOptions {
  logger: FastifyServerOptions['loggerInstance'] | false;
  bodyLimit: number;
  /** TLS settings; omitted only by callers that wrap the app themselves. */
  https?: import('node:https').ServerOptions;
  /** How long a request may take to arrive in full before the connection is dropped. */
  requestTimeoutMs?: number;
  /** How long a keep-alive connection may sit idle between requests. */
  keepAliveTimeoutMs?: number;
  /** Caps on open connections (total, per address, health reserve); absent: none. */
  connections?: Omit<ConnectionLimits, 'firstRequestMs'>;
  /** Requests per client IP per window over the whole API; absent: no limit. */
  rateLimit?: { max: number; windowMs: number };
  /**
   * 'full': the whole API (HTTPS). 'revocation': only what relying parties fetch over plain HTTP
   * (CRL, OCSP), for the insecureAddress listener.
   */
  surface?: 'full' | 'revocation';
  /** GET /health answers 503 when this rejects (the ledger cannot be reached). */
  health?: () => Promise<void>;
  /** Told of every response (metrics): the route's pattern, never the URL a client sent. */
  onResponse?: (route: string, method: string, status: number, seconds: number) => void;
  /** Told of requests refused before they reach the authority (the per-IP rate limit). */
  onRefused?: (ctx: RequestContext, err: CaError) => void;
}

const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const METHODS = new Set(['GET', 'POST', 'HEAD']);

/** Every route is served under / and /1.0: one label for both; no route (404) is 'unmatched'. */
function routeLabel(url: string | undefined): string {
  if (!url) return 'unmatched';
  return url.startsWith('/1.0/') ? url.slice(4) : url;
}

export async function buildApp(authority: Authority, o: AppOptions): Promise<FastifyInstance> {
  const requestTimeout = o.requestTimeoutMs ?? 30_000;
  const timeouts = { requestTimeout, headersTimeout: Math.min(requestTimeout, 60_000), connectionsCheckingInterval: 1000 };
  // A client that opens TCP and never finishes the TLS handshake is dropped on the same clock.
  const https = o.https ? { ...o.https, ...timeouts, handshakeTimeout: requestTimeout } : undefined;
  const app = Fastify({
    ...(o.logger ? { loggerInstance: o.logger } : { logger: false }),
    // Node honours requestTimeout only when the server is constructed with it (fastify sets it
    // afterwards, which Node's connection checker ignores), and checks every
    // connectionsCheckingInterval (30 s by default): so both go into the server options here.
    ...(https ? { https } : { http: timeouts }),
    bodyLimit: o.bodyLimit,
    requestTimeout,
    connectionTimeout: 60_000,
    keepAliveTimeout: o.keepAliveTimeoutMs ?? 5000,
    // Ids come from the client when they are safe to log, else are made here.
    requestIdHeader: false,
    genReqId: (req) => {
      const h = req.headers['x-request-id'] ?? req.headers['x-smallstep-id'];
      const v = Array.isArray(h) ? h[0] : h;
      return v && SAFE_ID.test(v) ? v : randomUUID();
    },
    // No type coercion: a number where a string belongs is an error, not a string.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    return503OnClosing: true,
    // Errors fastify or Node's parser would answer in their own shapes, in step-ca's instead.
    frameworkErrors: errorHandler,
    clientErrorHandler,
    // access-log.ts writes one line per request instead of fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
  }) as unknown as FastifyInstance;
  if (o.connections) {
    const guard = guardConnections(app.server, { ...o.connections, firstRequestMs: requestTimeout }, app.log);
    // Before the rate limit and every route: a reserve connection is for /health only.
    app.addHook('onRequest', async (req, reply) => {
      if (!guard.onReserve(req.raw.socket)) return;
      const path = req.url.split('?')[0];
      if (req.method === 'GET' && (path === '/health' || path === '/1.0/health')) return;
      reply.header('connection', 'close');
      const e = unavailable('connection limit reached; only GET /health is answered on the reserve');
      noteOutcome(req, 'request refused', { code: e.code, status: e.status, reason: e.detail });
      return sendJson(reply, 503, { status: 503, message: e.publicMessage });
    });
  }
  accessLog(app);
  if (o.onResponse) {
    const onResponse = o.onResponse;
    app.addHook('onResponse', async (req, reply) => {
      onResponse(routeLabel(req.routeOptions.url), METHODS.has(req.method) ? req.method : 'other', reply.statusCode, reply.elapsedTime / 1000);
    });
  }

  // step-ca reads the body as JSON whatever its content type (curl -d sends form encoding), and
  // the step CLI's renew sends an empty body labelled application/json.
  const json = app.getDefaultJsonParser('error', 'error');
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (req, body, done) => {
    if (body === '') return done(null, undefined);
    return json(req, body as string, done);
  });

  if (o.rateLimit) {
    // Global, keyed by client IP, checked in onRequest: a flood is refused before any parsing.
    // The message names the window; ctx.after is the time left in it, which reads as the window.
    const window = formatDuration(o.rateLimit.windowMs);
    await app.register(rateLimit, {
      max: o.rateLimit.max,
      timeWindow: o.rateLimit.windowMs,
      errorResponseBuilder: (_req, ctx) => rateLimited(`client rate limit: more than ${ctx.max} requests per ${window}`),
      ...(o.onRefused ? { onExceeded: (req: FastifyRequest) => o.onRefused!(contextOf(req), rateLimited('client rate limit')) } : {}),
    });
  }

  app.addHook('onSend', async (req, reply) => {
    reply.header('X-Request-Id', req.id);
  });
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((req, reply) => {
    noteOutcome(req, 'no such route', {});
    const e = new CaError('not_found', { detail: 'no such route' });
    return sendJson(reply, 404, { status: 404, message: e.publicMessage });
  });

  const full = (o.surface ?? 'full') === 'full';
  // One ACME service for both prefixes. Its routes are always mounted (a name that is not an ACME
  // provisioner is a 404 problem), so the first ACME provisioner added by a reload is served at
  // once; its background work (pruning, resuming validations) starts with the first ACME
  // provisioner, at start-up or when a request first finds one.
  const hasAcme = authority.config.authority.provisioners.some((p) => p.type.toUpperCase() === 'ACME');
  const acme = full ? new AcmeService(authority, authority.config.stepstone.acme, (msg, err) => app.log.warn({ err }, msg)) : null;
  if (acme) {
    if (hasAcme) acme.start();
    app.addHook('onClose', () => acme.close());
  }
  const port = /:(\d+)$/.exec(authority.config.address)?.[1];
  const fallbackHost = `${authority.config.dnsNames[0] ?? '127.0.0.1'}${port ? `:${port}` : ''}`;
  for (const prefix of ['', '/1.0']) {
    await app.register(async (scope) => {
      if (full) {
        await scope.register(healthRoutes(o.health));
        await scope.register(rootRoutes(authority));
        await scope.register(provisionerRoutes(authority));
        await scope.register(signRoutes(authority));
        await scope.register(renewRoutes(authority));
        await scope.register(revokeRoutes(authority));
        if (acme) await scope.register(acmeRoutes(acme, fallbackHost));
      }
      await scope.register(crlRoutes(authority));
      const ocsp = authority.config.stepstone.ocsp;
      if (ocsp.enabled) await scope.register(ocspRoutes((der) => authority.ocsp(der), ocsp.path));
    }, { prefix });
  }
  return app;
}
