// POST /sign (api.md §1.9): schema-checked body in, step-ca's response shape out.
import type { FastifyPluginAsync } from 'fastify';
import type { Authority } from '../../authority/authority.js';
import { sendIssued } from './certificate-response.js';
import { contextOf } from '../context.js';

const signBody = {
  type: 'object',
  properties: {
    csr: { type: 'string', maxLength: 32 * 1024 },
    ott: { type: 'string', maxLength: 16 * 1024 },
    notBefore: { type: 'string', maxLength: 64 },
    notAfter: { type: 'string', maxLength: 64 },
    templateData: { type: ['object', 'null'] },
  },
} as const;

interface SignBody { csr?: string; ott?: string; notBefore?: string; notAfter?: string; templateData?: Record<string, unknown> | null }

export const signRoutes = (authority: Authority): FastifyPluginAsync => async (app) => {
  app.post<{ Body: SignBody }>('/sign', { schema: { body: signBody } }, async (req, reply) => {
    const body = req.body ?? {};
    const issued = await authority.sign({ csr: body.csr ?? '', ott: body.ott ?? '', notBefore: body.notBefore, notAfter: body.notAfter, templateData: body.templateData }, contextOf(req));
    return sendIssued(req, reply, authority, issued, 'certificate issued');
  });
};
