// What the authority may know of a request's transport: its id and where it came from.
import type { FastifyRequest } from 'fastify';
import type { RequestContext } from '../authority/observer.js';

export function contextOf(req: FastifyRequest): RequestContext {
  return { requestId: req.id, clientAddress: req.ip };
}
