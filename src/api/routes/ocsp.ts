// OCSP over HTTP (RFC 6960 appendix A, RFC 5019): POST with the DER request as the body, or GET
// with it base64-encoded into the path. The route only moves bytes; `respond` does the rest.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { OCSPResponseStatus } from '@peculiar/asn1-ocsp';
import { ocspErrorResponse, ocspNextUpdate } from '../../authority/ocsp.js';
import { isCaError } from '../../errors.js';

const MAX_REQUEST = 16 * 1024;
const OCSP_RESPONSE = 'application/ocsp-response';

export const ocspRoutes = (respond: (der: Uint8Array) => Promise<Uint8Array>, path = '/ocsp'): FastifyPluginAsync => async (app) => {
  // This scope's own parsers: the body is DER whatever it is labelled (curl --data-binary says
  // form-urlencoded), and must never reach the JSON parser of the root scope.
  app.removeAllContentTypeParsers();
  const raw = (_req: FastifyRequest, body: Buffer, done: (err: Error | null, body?: Buffer) => void) => done(null, body);
  app.addContentTypeParser('application/ocsp-request', { parseAs: 'buffer', bodyLimit: MAX_REQUEST }, raw);
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_REQUEST }, raw);

  app.post(path, { bodyLimit: MAX_REQUEST }, async (req, reply) => {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    return send(reply, await answer(req, respond, body), false);
  });

  // The wildcard, not a :param: base64 contains '/', and find-my-way caps params at 100 chars.
  app.get(`${path}/*`, async (req, reply) => {
    const encoded = (req.params as { '*'?: string })['*'] ?? '';
    return send(reply, await answer(req, respond, decodeGetPath(encoded)), true);
  });
};

/** The request DER from a GET path: URL-encoded standard base64 per RFC 6960, or base64url. */
export function decodeGetPath(encoded: string): Buffer {
  let s: string;
  try {
    s = decodeURIComponent(encoded);
  } catch {
    return Buffer.alloc(0);
  }
  // Some clients leave '+' unencoded and some proxies turn it into a space; neither is base64.
  // A responder URL configured with a trailing '/' yields '//'; DER base64 never starts with '/'.
  s = s.replace(/^\/+/, '').replace(/ /g, '+').replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '');
  if (s.length > MAX_REQUEST * 2 || !/^[A-Za-z0-9+/]*$/.test(s) || s.length % 4 === 1) return Buffer.alloc(0);
  return Buffer.from(s, 'base64');
}

async function answer(req: FastifyRequest, respond: (der: Uint8Array) => Promise<Uint8Array>, der: Buffer): Promise<Uint8Array> {
  try {
    return await respond(new Uint8Array(der.buffer, der.byteOffset, der.byteLength));
  } catch (e) {
    // A deliberate refusal (OCSP disabled: 404) stays an HTTP answer; anything else becomes
    // internalError, which an OCSP client understands where a JSON 500 would only confuse it.
    if (isCaError(e) && e.status < 500) throw e;
    req.log.error({ err: e }, 'OCSP responder failed');
    return ocspErrorResponse(OCSPResponseStatus.internalError);
  }
}

function send(reply: FastifyReply, der: Uint8Array, cacheable: boolean): FastifyReply {
  reply.code(200).type(OCSP_RESPONSE);
  const next = cacheable ? ocspNextUpdate(der) : null;
  if (next) {
    const maxAge = Math.max(0, Math.floor((next.getTime() - Date.now()) / 1000));
    reply.header('Cache-Control', `max-age=${maxAge}, public, no-transform, must-revalidate`);
    reply.header('Expires', next.toUTCString());
  } else {
    // Error responses and POSTs (which shared caches do not key on) are not for keeping.
    reply.header('Cache-Control', 'no-store');
  }
  return reply.send(Buffer.from(der.buffer, der.byteOffset, der.byteLength));
}
