// The `metricsAddress` listener: GET /metrics and nothing else, apart from the API so a scrape
// never queues behind issuance and a firewall can treat it on its own. Plain HTTP by default;
// with stepstone.metrics.mtls it is TLS with the API's settings and serving certificate, and the
// scraper must present a certificate from this CA that the ledger has not revoked.
import http from 'node:http';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { Metrics } from './metrics.js';

export interface MetricsServerOptions {
  host: string;
  port: number;
  metrics: Metrics;
  /** TLS options (API settings, roots to verify clients against, key and certificate); absent: plain HTTP. */
  tls?: https.ServerOptions;
  /** For mTLS: whether the client certificate with this decimal serial has been revoked. */
  isRevoked?: (serialDecimal: string) => Promise<boolean>;
  onError?: (err: unknown) => void;
}

export interface MetricsServer {
  port: number;
  /** Swaps the serving certificate (it is renewed in memory, as the API's). */
  setSecureContext(o: import('node:tls').SecureContextOptions): void;
  close(): Promise<void>;
}

export async function startMetricsServer(o: MetricsServerOptions): Promise<MetricsServer> {
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    serve(req, res, o).catch((err: unknown) => {
      o.onError?.(err);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('metrics unavailable\n');
    });
  };
  const timeouts = { requestTimeout: 10_000, headersTimeout: 10_000, keepAliveTimeout: 30_000 };
  const server = o.tls
    ? https.createServer({ ...o.tls, ...timeouts, requestCert: true, rejectUnauthorized: true }, handler)
    : http.createServer(timeouts, handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as { port: number }).port,
    setSecureContext(tls) {
      if (server instanceof https.Server) server.setSecureContext(tls);
    },
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

async function serve(req: http.IncomingMessage, res: http.ServerResponse, o: MetricsServerOptions): Promise<void> {
  const path = (req.url ?? '').split('?')[0];
  if (path !== '/metrics') return plain(res, 404, 'not found: this listener serves /metrics only\n');
  if (req.method !== 'GET' && req.method !== 'HEAD') return plain(res, 405, 'method not allowed\n', { allow: 'GET, HEAD' });
  if (o.tls && o.isRevoked) {
    const peer = (req.socket as TLSSocket).getPeerX509Certificate?.();
    // The handshake required a certificate chaining to our roots; only revocation is left to check.
    if (!peer) return plain(res, 401, 'a client certificate is required\n');
    if (await o.isRevoked(BigInt(`0x${peer.serialNumber}`).toString())) return plain(res, 403, 'the client certificate has been revoked\n');
  }
  const body = await o.metrics.scrape();
  res.writeHead(200, { 'content-type': o.metrics.contentType, 'cache-control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function plain(res: http.ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
  res.end(text);
}
