// The one place errors become step-ca's {"status","message"}. A CaError carries its status and
// public message; fastify's own errors (bad JSON, body too large, schema) are input errors;
// anything else is a 500 whose cause is logged, never shown.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { CaError, isCaError } from '../errors.js';
import { sendJson } from './reply.js';
import { noteOutcome } from './access-log.js';

export function errorHandler(err: FastifyError | Error, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const e = toCaError(err);
  const fields = { code: e.code, status: e.status, reason: e.detail };
  if (e.status >= 500) req.log.error({ ...fields, err: err.cause ?? err }, 'request failed');
  else noteOutcome(req, 'request refused', fields);
  if (e.status === 413) return sendJson(reply, 413, { status: 413, message: e.publicMessage });
  return sendJson(reply, e.status, { status: e.status, message: e.publicMessage });
}

function toCaError(err: FastifyError | Error): CaError | { code: string; status: number; detail: string; publicMessage: string } {
  if (isCaError(err)) return err;
  const fe = err as FastifyError;
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return { code: 'too_large', status: 413, detail: 'request body too large', publicMessage: 'The request could not be completed: request body too large.' };
  }
  if (fe.validation) {
    return new CaError('bad_request', { detail: `invalid request: ${fe.message}`, public: true });
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new CaError('bad_request', { detail: `error reading request body: ${fe.message}`, public: 'The request could not be completed: error reading request body.' });
  }
  return new CaError('internal', { detail: err.message, cause: err });
}
