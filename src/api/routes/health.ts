import type { FastifyPluginAsync } from 'fastify';
import { isCaError, unavailable } from '../../errors.js';
import { sendJson } from '../reply.js';
import { VERSION } from '../../version.js';

/** `ready`: resolves when this CA can serve (its ledger answers); a rejection is a 503. */
export const healthRoutes = (ready?: () => Promise<void>): FastifyPluginAsync => async (app) => {
  app.get('/health', async (_req, reply) => {
    if (ready) {
      try {
        await ready();
      } catch (e) {
        throw isCaError(e) ? e : unavailable('health check failed', e);
      }
    }
    return sendJson(reply, 200, { status: 'ok' });
  });
  app.get('/version', async (_req, reply) => sendJson(reply, 200, { version: VERSION }));
};
