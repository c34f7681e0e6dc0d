// The ACME routes (RFC 8555) under /acme/<provisioner>/… (and /1.0/acme/…), step-ca's paths.
// Every answer carries a fresh Replay-Nonce and the directory Link; every refusal is a problem
// document (application/problem+json), including body-too-large and unparsable JSON.
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { AcmeProblem, fromCaError, malformed } from '../../acme/problem.js';
import type { AcmeReply, AcmeService, Where } from '../../acme/service.js';
import { isCaError } from '../../errors.js';
import { contextOf } from '../context.js';
import { noteOutcome } from '../access-log.js';

const HOST = /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;

export const acmeRoutes = (service: AcmeService, fallbackHost: string): FastifyPluginAsync => async (app) => {
  const bodyLimit = service.cfg.maxJwsBytes;

  const where = (req: FastifyRequest, name: string): Where => {
    const h = req.headers.host;
    const host = h && HOST.test(h) ? h : fallbackHost;
    const prefix = req.url.startsWith('/1.0/') ? '/1.0' : '';
    return { base: `https://${host}${prefix}/acme/${encodeURIComponent(name)}`, url: `https://${host}${req.url}`, ...contextOf(req) };
  };

  const send = async (req: FastifyRequest, reply: FastifyReply, name: string, r: AcmeReply) => {
    const w = where(req, name);
    reply.header('Replay-Nonce', await service.nonce());
    reply.header('Cache-Control', 'no-store');
    reply.header('Link', [`<${w.base}/directory>;rel="index"`, ...(r.links ?? [])]);
    if (r.location) reply.header('Location', r.location);
    if (r.retryAfter !== undefined) reply.header('Retry-After', String(r.retryAfter));
    reply.code(r.status);
    if (r.pem !== undefined) return reply.type('application/pem-certificate-chain').send(r.pem);
    if (r.body === undefined) return reply.send();
    return reply.type('application/json').send(JSON.stringify(r.body));
  };

  app.setErrorHandler(async (err: FastifyError | Error, req, reply) => {
    const p = toProblem(err);
    noteOutcome(req, 'acme request refused', { acmeError: p.type, status: p.status, reason: p.detail });
    if (p.status >= 500) req.log.error({ err }, 'acme request failed');
    const name = (req.params as { p?: string } | undefined)?.p ?? '';
    // A fresh nonce on every error, so a client told badNonce retries at once (RFC 8555 §6.5).
    try {
      reply.header('Replay-Nonce', await service.nonce());
    } catch { /* the ledger is down: the problem says so */ }
    reply.header('Cache-Control', 'no-store');
    if (name) reply.header('Link', `<${where(req, name).base}/directory>;rel="index"`);
    if (p.extra.retryAfter !== undefined) reply.header('Retry-After', String(p.extra.retryAfter));
    if (p.extra.location) reply.header('Location', p.extra.location);
    return reply.code(p.status).type('application/problem+json').send(JSON.stringify(p.doc));
  });

  const requireJose = async (req: FastifyRequest) => {
    const ct = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (ct !== 'application/jose+json') throw malformed('Content-Type must be application/jose+json', 415);
  };

  type P = { p: string };
  app.get<{ Params: P }>('/acme/:p/directory', async (req, reply) => {
    const pv = service.provisioner(req.params.p);
    const r = service.directory(pv, where(req, req.params.p));
    return reply.header('Cache-Control', 'no-store').type('application/json').send(JSON.stringify(r.body));
  });

  const nonce = (status: number) => async (req: FastifyRequest<{ Params: P }>, reply: FastifyReply) => {
    service.provisioner(req.params.p);
    return send(req, reply, req.params.p, { status });
  };
  app.head<{ Params: P }>('/acme/:p/new-nonce', nonce(200));
  app.get<{ Params: P }>('/acme/:p/new-nonce', { exposeHeadRoute: false }, nonce(204));

  const post = <Q extends Record<string, string>>(path: string, fn: (req: FastifyRequest<{ Params: P & Q; Querystring: { cursor?: string } }>, w: Where) => Promise<AcmeReply>) => {
    app.post<{ Params: P & Q; Querystring: { cursor?: string } }>(path, { bodyLimit, preHandler: requireJose }, async (req, reply) => {
      const name = (req.params as P).p;
      return send(req, reply, name, await fn(req, where(req, name)));
    });
  };
  const prov = (req: FastifyRequest<{ Params: P }>) => service.provisioner(req.params.p);

  post('/acme/:p/new-account', (req, w) => service.newAccount(prov(req), w, req.body));
  post<{ id: string }>('/acme/:p/account/:id', (req, w) => service.updateAccount(prov(req), w, req.body, req.params.id));
  post<{ id: string }>('/acme/:p/account/:id/orders', (req, w) => service.listOrders(prov(req), w, req.body, req.params.id, req.query.cursor));
  post('/acme/:p/key-change', (req, w) => service.keyChange(prov(req), w, req.body));
  post('/acme/:p/new-order', (req, w) => service.newOrder(prov(req), w, req.body));
  post<{ id: string }>('/acme/:p/order/:id', (req, w) => service.getOrder(prov(req), w, req.body, req.params.id));
  post<{ id: string }>('/acme/:p/order/:id/finalize', (req, w) => service.finalize(prov(req), w, req.body, req.params.id, contextOf(req)));
  post<{ id: string }>('/acme/:p/authz/:id', (req, w) => service.authz(prov(req), w, req.body, req.params.id));
  post<{ az: string; ch: string }>('/acme/:p/challenge/:az/:ch', (req, w) => service.challenge(prov(req), w, req.body, req.params.az, req.params.ch, contextOf(req)));
  post<{ serial: string }>('/acme/:p/certificate/:serial', (req, w) => service.certificate(prov(req), w, req.body, req.params.serial));
  post('/acme/:p/revoke-cert', (req, w) => service.revokeCert(prov(req), w, req.body, contextOf(req)));
};

function toProblem(err: FastifyError | Error): AcmeProblem {
  if (err instanceof AcmeProblem) return err;
  if (isCaError(err)) return fromCaError(err);
  const fe = err as FastifyError;
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return malformed('the request body is too large', 413);
  if (fe.code === 'FST_ERR_RATE_LIMIT_EXCEEDED' || fe.statusCode === 429) return new AcmeProblem('rateLimited', 'too many requests from this address', 429, { retryAfter: 60 });
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) return malformed(`the request cannot be read: ${fe.message}`);
  return new AcmeProblem('serverInternal', 'the server could not complete the request', 500);
}
