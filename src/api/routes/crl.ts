// GET /crl (api.md §1.14): DER by default, PEM with ?pem; Expires is the CRL's nextUpdate.
import type { FastifyPluginAsync } from 'fastify';
import type { Authority } from '../../authority/authority.js';

export const crlRoutes = (authority: Authority): FastifyPluginAsync => async (app) => {
  app.get<{ Querystring: Record<string, string> }>('/crl', async (req, reply) => {
    const crl = await authority.currentCrl();
    reply.header('Expires', crl.nextUpdate.toUTCString());
    if ('pem' in (req.query ?? {})) {
      return reply.code(200).type('application/x-pem-file').header('Content-Disposition', 'attachment; filename="crl.pem"').send(crl.pem);
    }
    return reply.code(200).type('application/pkix-crl').header('Content-Disposition', 'attachment; filename="crl.crl"').send(crl.der);
  });
};
