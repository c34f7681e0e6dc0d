// The one place errors become step-ca's {"status","message"}. A CaError carries its status and
// public message; fastify's own errors (bad JSON, body too large, schema, a URL it cannot route)
// are input errors; anything else is a 500 whose cause is logged, never shown. Errors Node's HTTP
// parser raises before fastify sees a request (headers too large, malformed request line, request
// timeout) get the same shape from clientErrorHandler.
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { CaError, isCaError } from '../errors.js';
import { sendJson } from './reply.js';
import { noteOutcome } from './access-log.js';

interface InputError { code: string; status: number; detail: string; publicMessage: string }

export function errorHandler(err: FastifyError | Error, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const e = toCaError(err);
  const fields = { code: e.code, status: e.status, reason: e.detail };
  if (e.status >= 500) req.log.error({ ...fields, err: err.cause ?? err }, 'request failed');
  else noteOutcome(req, 'request refused', fields);
  return sendJson(reply, e.status, { status: e.status, message: e.publicMessage });
}

const inputError = (code: string, status: number, detail: string): InputError =>
  ({ code, status, detail, publicMessage: `The request could not be completed: ${detail}.` });

function toCaError(err: FastifyError | Error): CaError | InputError {
  if (isCaError(err)) return err;
  const fe = err as FastifyError;
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE': return inputError('too_large', 413, 'request body too large');
    // A path parameter longer than the router's maxParamLength (100): no serial or id is that long.
    case 'FST_ERR_MAX_PARAM_LENGTH': return inputError('uri_too_long', 414, 'request URI too long');
    case 'FST_ERR_BAD_URL': return inputError('bad_url', 400, 'malformed URL encoding');
  }
  if (fe.validation) {
    return new CaError('bad_request', { detail: `invalid request: ${fe.message}`, public: true });
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new CaError('bad_request', { detail: `error reading request body: ${fe.message}`, public: 'The request could not be completed: error reading request body.' });
  }
  return new CaError('internal', { detail: err.message, cause: err });
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' };

/**
 * Node's 'clientError': the request never became one fastify could answer. Answered in the JSON
 * shape when the socket can still be written, then closed.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, message] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'The request could not be completed: the request did not arrive in time.']
      : err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'The request could not be completed: request headers too large.']
        : [400, 'The request could not be completed: malformed HTTP request.'];
  if (socket.writable) {
    const body = `${JSON.stringify({ status, message })}\n`;
    // end() flushes the answer first; a peer that never reads it is cut off a moment later.
    socket.end(`HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    setTimeout(() => socket.destroy(), 2000).unref();
    return;
  }
  socket.destroy();
}
