// Trust material: roots, federation, intermediates (api.md §1.3–1.6). Note step-ca's 201s.
import type { FastifyPluginAsync } from 'fastify';
import type { Authority } from '../../authority/authority.js';
import { sendJson } from '../reply.js';

export const rootRoutes = (authority: Authority): FastifyPluginAsync => async (app) => {
  app.get<{ Params: { sha: string } }>('/root/:sha', {
    schema: { params: { type: 'object', properties: { sha: { type: 'string', maxLength: 200 } } } },
  }, async (req, reply) => sendJson(reply, 200, { ca: authority.trust.rootByFingerprint(req.params.sha) }));

  app.get('/roots', async (_req, reply) => sendJson(reply, 201, { crts: authority.trust.rootPems() }));
  app.get('/roots.pem', async (_req, reply) => reply.code(200).type('application/x-pem-file').send(authority.trust.rootPems().join('')));
  app.get('/federation', async (_req, reply) => sendJson(reply, 201, { crts: authority.trust.federationPems() }));
  app.get('/intermediates', async (_req, reply) => sendJson(reply, 201, { crts: authority.trust.intermediatePems() }));
  app.get('/intermediates.pem', async (_req, reply) => reply.code(200).type('application/x-pem-file').send(authority.trust.intermediatePems().join('')));
};
