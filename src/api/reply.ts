import type { FastifyReply } from 'fastify';

/** JSON the way step-ca's Go json.Encoder writes it: one object and a trailing newline. */
export function sendJson(reply: FastifyReply, status: number, body: unknown): FastifyReply {
  return reply.code(status).type('application/json').send(`${JSON.stringify(body)}\n`);
}
