// POST /renew (and step's legacy /re-sign) and POST /rekey (api.md §1.10–1.12). The TLS peer
// certificate, when there is one, is the credential; otherwise a bearer renew token.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { Authority } from '../../authority/authority.js';
import { badRequest } from '../../errors.js';
import { sendIssued } from './certificate-response.js';
import { peerOf } from './peer.js';
import { contextOf } from '../context.js';

const MAX_BEARER = 16 * 1024;

function bearerOf(req: FastifyRequest): string | null {
  const h = req.headers.authorization;
  if (!h || !h.startsWith('Bearer ')) return null;
  const token = h.slice('Bearer '.length).trim();
  if (token.length > MAX_BEARER) throw badRequest('authorization token too large');
  return token || null;
}

const rekeyBody = {
  type: 'object',
  properties: { csr: { type: 'string', maxLength: 32 * 1024 } },
} as const;

export const renewRoutes = (authority: Authority): FastifyPluginAsync => async (app) => {
  const renew = async (req: FastifyRequest, reply: import('fastify').FastifyReply) => {
    const peer = peerOf(req);
    if (peer) return sendIssued(req, reply, authority, await authority.renew(peer, contextOf(req)), 'certificate renewed');
    const token = bearerOf(req);
    if (token) return sendIssued(req, reply, authority, await authority.renewWithToken(token, contextOf(req)), 'certificate renewed with a renew token');
    throw badRequest('missing client certificate');
  };
  app.post('/renew', renew);
  app.post('/re-sign', renew);

  app.post<{ Body: { csr?: string } }>('/rekey', {
    schema: { body: rekeyBody },
    // As step-ca: no client certificate is the first thing a caller hears about, before the body.
    preValidation: async (req) => {
      if (!peerOf(req)) throw badRequest('missing client certificate');
    },
  }, async (req, reply) => {
    return sendIssued(req, reply, authority, await authority.rekey(peerOf(req)!, req.body?.csr ?? '', contextOf(req)), 'certificate rekeyed');
  });
};
