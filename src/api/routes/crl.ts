// GET /crl (api.md §1.14): DER by default, PEM with ?pem; Expires is the CRL's nextUpdate.
// /crl is the default issuer's CRL; /crl/NAME that of the issuer named NAME (stepstone.issuers).
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { Authority } from '../../authority/authority.js';
import type { PublishedCrl } from '../../authority/crl-publisher.js';

export const crlRoutes = (authority: Authority): FastifyPluginAsync => async (app) => {
  app.get<{ Querystring: Record<string, string> }>('/crl', async (req, reply) => send(reply, await authority.currentCrl(), 'pem' in (req.query ?? {})));
  app.get<{ Params: { issuer: string }; Querystring: Record<string, string> }>('/crl/:issuer', {
    schema: { params: { type: 'object', properties: { issuer: { type: 'string', maxLength: 64 } } } },
  }, async (req, reply) => send(reply, await authority.currentCrl(req.params.issuer), 'pem' in (req.query ?? {})));
};

function send(reply: FastifyReply, crl: PublishedCrl, pem: boolean): FastifyReply {
  reply.header('Expires', crl.nextUpdate.toUTCString());
  if (pem) {
    return reply.code(200).type('application/x-pem-file').header('Content-Disposition', 'attachment; filename="crl.pem"').send(crl.pem);
  }
  return reply.code(200).type('application/pkix-crl').header('Content-Disposition', 'attachment; filename="crl.crl"').send(crl.der);
}
