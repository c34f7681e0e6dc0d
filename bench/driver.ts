// The load driver. It knows only a base URL, a root to trust and ready-made request bodies, so
// the same code can drive Stepstone, step-ca or anything else that speaks the API.
import https from 'node:https';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

export interface Target {
  /** Label in the report, e.g. "stepstone" or "step-ca". */
  name: string;
  /** https://host:port, no trailing slash. */
  url: string;
  rootPem: string;
}

export interface Client {
  target: Target;
  agent: https.Agent;
  /** A new connection per request (see createClient). */
  fresh?: boolean;
  close(): void;
}

export interface DriveResult {
  /** One entry per completed request, in completion order. */
  latenciesMs: number[];
  /** Count by HTTP status, or by "ERR:<code>" when no response came. */
  statuses: Record<string, number>;
  wallMs: number;
  /** Distinct TLS sockets used: 1 proves keep-alive held in the sequential phase. */
  connections: number;
  /** Status and start of the body of the first failure, to say why without a debugger. */
  firstError?: string;
}

/**
 * A keep-alive client with at most `sockets` connections; reuse it across warm-up and measurement.
 * With `identity` every connection presents that client certificate (mTLS renewal).
 */
export function createClient(target: Target, sockets: number, identity?: { cert: string; key: string }, o: { fresh?: boolean } = {}): Client {
  // fresh: a new TCP and TLS connection per request with a full handshake each time, as curl or a
  // host's timer running `ca renew` makes (no keep-alive, and no cached session to resume).
  // Without a socket limit, so no request ever waits for (and is handed) a finished one's socket,
  // which Node's agent does even with keepAlive off; `Connection: close` closes each after its answer.
  const agent = o.fresh
    ? new https.Agent({ keepAlive: false, maxCachedSessions: 0, ca: target.rootPem, ...identity })
    : new https.Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets, ca: target.rootPem, ...identity });
  return { target, agent, fresh: o.fresh, close: () => agent.destroy() };
}

interface Reply { status: string; body?: string }

function post(client: Client, url: URL, body: Buffer, sockets: Set<Socket>): Promise<Reply> {
  return new Promise((resolve) => {
    const req = https.request({
      host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent: client.agent,
      headers: { 'content-type': 'application/json', 'content-length': body.length, ...(client.fresh ? { connection: 'close' } : {}) },
    }, (res) => {
      const status = res.statusCode ?? 0;
      const chunks: Buffer[] = [];
      // Successful bodies are drained, not kept or parsed: that would bill the client for JSON work.
      res.on('data', (c: Buffer) => { if (status >= 300) chunks.push(c); });
      res.on('end', () => resolve({ status: String(status), body: chunks.length ? Buffer.concat(chunks).toString('utf8') : undefined }));
      res.on('error', (e: NodeJS.ErrnoException) => resolve({ status: `ERR:${e.code ?? e.message}` }));
    });
    req.on('socket', (s) => sockets.add(s));
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ status: `ERR:${e.code ?? e.message}` }));
    req.end(body);
  });
}

/**
 * Sends every body to POST `path`, `concurrency` at a time (a closed loop: each worker sends its
 * next request as soon as the previous answer has arrived).
 */
export async function drive(client: Client | Client[], path: string, bodies: Buffer[], concurrency: number): Promise<DriveResult> {
  // An array gives each worker a client of its own (one client certificate per renewing host).
  const clients = Array.isArray(client) ? client : [client];
  const url = new URL(path, clients[0]!.target.url);
  const latenciesMs: number[] = [];
  const statuses: Record<string, number> = {};
  const sockets = new Set<Socket>();
  let firstError: string | undefined;
  let next = 0;
  const worker = async (w: number) => {
    const mine = clients[w % clients.length]!;
    while (next < bodies.length) {
      const body = bodies[next++]!;
      const t0 = performance.now();
      const r = await post(mine, url, body, sockets);
      latenciesMs.push(performance.now() - t0);
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      if (!r.status.startsWith('2') && firstError === undefined) firstError = `${r.status} ${(r.body ?? '').slice(0, 300)}`;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, bodies.length) }, (_, w) => worker(w)));
  return { latenciesMs, statuses, wallMs: performance.now() - t0, connections: sockets.size, firstError };
}
