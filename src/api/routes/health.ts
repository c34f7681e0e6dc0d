import type { FastifyPluginAsync } from 'fastify';
import { sendJson } from '../reply.js';
import { VERSION } from '../../version.js';

export const healthRoutes: FastifyPluginAsync = async (app) => {
  app.get('/health', async (_req, reply) => sendJson(reply, 200, { status: 'ok' }));
  app.get('/version', async (_req, reply) => sendJson(reply, 200, { version: VERSION }));
};
