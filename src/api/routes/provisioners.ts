// GET /provisioners (cursor paging) and the encrypted provisioner key (api.md §1.7–1.8).
import type { FastifyPluginAsync } from 'fastify';
import type { Authority } from '../../authority/authority.js';
import { badRequest } from '../../errors.js';
import { sendJson } from '../reply.js';

export function parseLimit(raw: string | undefined): number {
  if (raw === undefined || raw === '') return 20;
  if (!/^[+-]?\d+$/.test(raw) || BigInt(raw) > 2n ** 63n - 1n || BigInt(raw) < -(2n ** 63n)) throw badRequest(`limit '${raw}' is not an integer`);
  const n = Number(raw);
  if (n <= 0) return 20;
  return Math.min(n, 100);
}

export const provisionerRoutes = (authority: Authority): FastifyPluginAsync => async (app) => {
  app.get<{ Querystring: { cursor?: string; limit?: string } }>('/provisioners', {
    schema: {
      querystring: {
        type: 'object',
        properties: { cursor: { type: 'string', maxLength: 64 }, limit: { type: 'string', maxLength: 32 } },
      },
    },
  }, async (req, reply) => {
    const limit = parseLimit(req.query.limit);
    return sendJson(reply, 200, authority.listProvisioners(req.query.cursor ?? '', limit));
  });

  app.get<{ Params: { kid: string } }>('/provisioners/:kid/encrypted-key', {
    schema: { params: { type: 'object', properties: { kid: { type: 'string', maxLength: 200 } } } },
  }, async (req, reply) => sendJson(reply, 200, { key: authority.encryptedKey(req.params.kid) }));
};
