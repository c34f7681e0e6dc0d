// Connections, not requests, are what an idle flood exhausts (file descriptors): each one is
// counted from the moment TCP accepts it, capped in total and per client address, and closed
// when it has not sent a request within the request timeout. Node's own timeouts only start
// once a request has begun, so a connection that completes its handshake and then says nothing
// would otherwise stay open for good.
//
// /health must keep answering when the cap is reached (a load balancer that cannot reach it drops
// the replica, which is what the attacker wants). So past `max`, up to `healthReserve` more
// connections are admitted on a reserve: they get a short deadline to send their request, and
// any request on them other than GET /health is answered 503 and the connection closed. The
// per-address cap applies to reserve connections too, so a single flooding address cannot take
// the reserve as well.
import type { Server, Socket } from 'node:net';
import type { FastifyBaseLogger } from 'fastify';

export interface ConnectionLimits {
  /** Open connections in total, before the health reserve. */
  max: number;
  /** Open connections from one client address (health reserve included). */
  perAddress: number;
  /** Extra connections past `max` that may only ask GET /health; 0: none. */
  healthReserve: number;
  /** A connection that has not sent a request's headers within this is closed. */
  firstRequestMs: number;
}

/** A reserve connection must ask for /health quickly; it holds a slot meant for health checks. */
const RESERVE_FIRST_REQUEST_MS = 2000;
/** At most one log line per kind of refusal this often; the lines in between are counted. */
const LOG_EVERY_MS = 10_000;

export interface ConnectionGuard {
  /** True when `socket` was admitted on the health reserve (it may only ask for /health). */
  onReserve(socket: Socket): boolean;
}

type Refusal = 'perAddress' | 'total';

export function guardConnections(server: Server, limits: ConnectionLimits, log: FastifyBaseLogger): ConnectionGuard {
  let total = 0;
  const perAddress = new Map<string, number>();
  // Keyed by address and port: the same for the raw TCP socket and the TLS socket over it.
  const waiting = new Map<string, NodeJS.Timeout>();
  const reserve = new Set<string>();
  const report = rateLimitedLog(log);

  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? 'unknown';
    const key = keyOf(socket);
    const fromAddress = perAddress.get(address) ?? 0;
    const refusal: Refusal | null = fromAddress >= limits.perAddress ? 'perAddress' : total >= limits.max + limits.healthReserve ? 'total' : null;
    if (refusal) {
      report(refusal, refusal === 'perAddress'
        ? { address, open: fromAddress, limit: 'stepstone.connections.perAddress', max: limits.perAddress }
        : { address, open: total, limit: 'stepstone.connections.max', max: limits.max, healthReserve: limits.healthReserve });
      socket.destroy();
      return;
    }
    const onReserve = total >= limits.max;
    if (onReserve) reserve.add(key);
    total++;
    perAddress.set(address, fromAddress + 1);
    const deadline = onReserve ? Math.min(RESERVE_FIRST_REQUEST_MS, limits.firstRequestMs) : limits.firstRequestMs;
    waiting.set(key, setTimeout(() => socket.destroy(), deadline).unref());
    socket.once('close', () => {
      total--;
      const left = (perAddress.get(address) ?? 1) - 1;
      if (left > 0) perAddress.set(address, left);
      else perAddress.delete(address);
      clearTimeout(waiting.get(key));
      waiting.delete(key);
      reserve.delete(key);
    });
  });

  // The first request's headers have arrived: from here Node's requestTimeout, headersTimeout
  // and keepAliveTimeout govern the connection.
  server.on('request', (req: { socket: Socket }) => {
    const key = keyOf(req.socket);
    const timer = waiting.get(key);
    if (timer) {
      clearTimeout(timer);
      waiting.delete(key);
    }
  });

  return { onReserve: (socket) => reserve.has(keyOf(socket)) };
}

function keyOf(socket: Socket): string {
  return `${socket.remoteAddress}|${socket.remotePort}`;
}

/** Logs the first refusal of each kind, then at most one line per LOG_EVERY_MS with the count in between. */
function rateLimitedLog(log: FastifyBaseLogger): (kind: Refusal, fields: Record<string, unknown>) => void {
  const last = new Map<Refusal, { at: number; suppressed: number }>();
  return (kind, fields) => {
    const now = Date.now();
    const l = last.get(kind);
    if (l && now - l.at < LOG_EVERY_MS) {
      l.suppressed++;
      return;
    }
    last.set(kind, { at: now, suppressed: 0 });
    const msg = kind === 'perAddress'
      ? 'connection refused: too many open connections from one client address'
      : 'connection refused: too many open connections in total';
    log.warn({ ...fields, refusedSinceLastLine: l?.suppressed ?? 0 }, msg);
  };
}
