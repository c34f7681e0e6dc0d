// POST /revoke (api.md §1.13): by one-time token, or over mTLS by the certificate itself.
import type { FastifyPluginAsync } from 'fastify';
import type { Authority } from '../../authority/authority.js';
import { sendJson } from '../reply.js';
import { noteOutcome } from '../access-log.js';
import { peerOf } from './peer.js';
import { contextOf } from '../context.js';

const revokeBody = {
  type: 'object',
  properties: {
    serial: { type: 'string', maxLength: 200 },
    ott: { type: 'string', maxLength: 16 * 1024 },
    reasonCode: { type: 'integer' },
    reason: { type: 'string', maxLength: 1024 },
    passive: { type: 'boolean' },
  },
} as const;

interface RevokeBody { serial?: string; ott?: string; reasonCode?: number; reason?: string; passive?: boolean }

export const revokeRoutes = (authority: Authority): FastifyPluginAsync => async (app) => {
  app.post<{ Body: RevokeBody }>('/revoke', { schema: { body: revokeBody } }, async (req, reply) => {
    const b = req.body ?? {};
    await authority.revoke({ serial: b.serial ?? '', ott: b.ott, reasonCode: b.reasonCode, reason: b.reason, passive: b.passive }, b.ott ? null : peerOf(req), contextOf(req));
    noteOutcome(req, 'certificate revoked', { serial: b.serial, reasonCode: b.reasonCode ?? 0 });
    return sendJson(reply, 200, { status: 'ok' });
  });
};
