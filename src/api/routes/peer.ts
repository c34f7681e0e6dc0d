import type { TLSSocket } from 'node:tls';
import type { FastifyRequest } from 'fastify';
import type { PeerCertificate } from '../../authority/authority.js';
import { toArrayBuffer } from '../../pki/pem.js';

/** The client certificate of this connection, if the client sent one. */
export function peerOf(req: FastifyRequest): PeerCertificate | null {
  const sock = req.raw.socket as TLSSocket;
  const cert = typeof sock.getPeerX509Certificate === 'function' ? sock.getPeerX509Certificate() : undefined;
  if (!cert) return null;
  const err = sock.authorized ? undefined : (sock.authorizationError as unknown);
  const tlsError = err === undefined ? undefined : typeof err === 'string' ? err : String((err as { code?: string }).code ?? (err as Error).message);
  return { der: toArrayBuffer(cert.raw), tlsError };
}

