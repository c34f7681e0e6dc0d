import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Authority, IssuedCertificate } from '../../authority/authority.js';
import { sendJson } from '../reply.js';
import { noteOutcome } from '../access-log.js';

/** The 201 body of /sign, /renew and /rekey (api.md §1.9). */
export function sendIssued(req: FastifyRequest, reply: FastifyReply, authority: Authority, issued: IssuedCertificate, what: string): FastifyReply {
  noteOutcome(req, what, { serial: issued.serial, subject: issued.subject });
  const tls = authority.config.tls;
  return sendJson(reply, 201, {
    crt: issued.chainPem[0],
    ca: issued.chainPem[1] ?? null,
    certChain: issued.chainPem,
    ...(tls ? { tlsOptions: tls } : {}),
  });
}
