// The HTTPS client every `ca` command talks through. Like step's API client it trusts only the
// CA's root (never the system store), verifies the hostname, resolves paths against the URL's
// origin, and turns step-ca's {"status","message"} errors into one line for the user.
import https from 'node:https';
import { randomUUID } from 'node:crypto';
import { CliError } from '../cli/common.js';
import { VERSION } from '../version.js';

export interface CaClientOptions {
  caUrl: string;
  /** PEM of the root(s) to trust; required unless `insecure`. */
  rootPem?: string;
  /** Skip TLS verification: only for fetching a root that is then checked by fingerprint. */
  insecure?: boolean;
  /** Client certificate chain and key, for mTLS calls such as renew. */
  cert?: string;
  key?: string;
  timeoutMs?: number;
}

const TIMEOUT_MS = 15_000;
/** Nothing the CA sends legitimately comes close; stops a hostile peer from filling memory. */
const MAX_BODY = 8 * 1024 * 1024;

/**
 * step's URL rule: a missing scheme becomes https://, anything but https is refused. Returns
 * the origin, since step discards any path in --ca-url.
 */
export function normalizeCaUrl(raw: string): string {
  const text = raw.trim();
  if (!text) throw new CliError('the CA URL is empty', 2);
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `https://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new CliError(`'${raw}' is not a valid CA URL`, 2);
  }
  if (url.protocol !== 'https:') throw new CliError(`the CA URL must use https, not ${url.protocol.replace(/:$/, '')}: ${raw}`, 2);
  if (!url.hostname) throw new CliError(`'${raw}' is not a valid CA URL: no host`, 2);
  return url.origin;
}

/** Marker for a POST with an empty body and Content-Type: application/json. */
export const EMPTY_BODY = Symbol('empty body');

export class CaClient {
  readonly origin: string;

  constructor(private readonly opts: CaClientOptions) {
    this.origin = normalizeCaUrl(opts.caUrl);
    if (!opts.insecure && !opts.rootPem) throw new CliError('no root certificate to trust the CA with: pass --root or run `stepstone ca bootstrap` first');
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body: unknown, headers?: Record<string, string>): Promise<T> {
    return this.request<T>('POST', path, body, headers);
  }

  /**
   * `body` undefined sends no body; EMPTY_BODY sends a zero-length one with the JSON content type
   * (what step sends to /renew). `headers` are added last, e.g. Authorization.
   */
  async request<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const data = body === undefined ? undefined : body === EMPTY_BODY ? Buffer.alloc(0) : Buffer.from(JSON.stringify(body));
    const res = await this.exchange(method, path, data, headers, 'application/json', MAX_BODY);
    let json: unknown;
    try {
      json = res.length ? JSON.parse(res.toString('utf8')) : undefined;
    } catch {
      json = undefined;
    }
    if (json === undefined) throw new CliError(`the CA answered ${method} ${path} with something that is not JSON`);
    return json as T;
  }

  /** A binary GET (the DER CRL), with the same trust, deadline and error mapping as JSON calls. */
  getBytes(path: string, accept: string, maxBytes = MAX_BODY): Promise<Buffer> {
    return this.exchange('GET', path, undefined, {}, accept, maxBytes);
  }

  /** One request; resolves with the body of a 2xx answer, rejects with one line otherwise. */
  private exchange(method: string, path: string, data: Buffer | undefined, headers: Record<string, string>, accept: string, maxBytes: number): Promise<Buffer> {
    const url = new URL(path, this.origin);
    const timeout = this.opts.timeoutMs ?? TIMEOUT_MS;
    return new Promise<Buffer>((resolve, reject) => {
      const req = https.request(url, {
        method,
        // agent:false: no keep-alive socket holds the process open after the command is done.
        agent: false,
        ca: this.opts.insecure ? undefined : this.opts.rootPem,
        rejectUnauthorized: !this.opts.insecure,
        cert: this.opts.cert,
        key: this.opts.key,
        headers: {
          accept,
          'user-agent': `stepstone/${VERSION}`,
          'x-request-id': randomUUID(),
          ...(data ? { 'content-type': 'application/json', 'content-length': String(data.length) } : {}),
          ...headers,
        },
      }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > maxBytes) {
            req.destroy(new CliError(`the CA at ${this.origin} sent an oversized response`));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          const status = res.statusCode ?? 0;
          if (status < 400) return resolve(body);
          const text = body.toString('utf8');
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          reject(apiError(status, json, text, url));
        });
        res.on('error', (e) => reject(transportError(e, this.origin)));
      });
      // A deadline for the whole exchange, as Go's http.Client.Timeout is, not just socket idleness.
      const timer = setTimeout(() => req.destroy(new CliError(`the CA at ${this.origin} did not answer within ${Math.round(timeout / 1000)}s`)), timeout);
      req.on('close', () => clearTimeout(timer));
      req.on('error', (e) => reject(transportError(e, this.origin)));
      req.end(data);
    });
  }
}

function apiError(status: number, json: unknown, text: string, url: URL): CliError {
  const message = (json as { message?: unknown } | undefined)?.message;
  if (typeof message === 'string' && message) return new CliError(message);
  const snippet = text.split('\n')[0]!.slice(0, 200);
  return new CliError(`the CA answered ${url.pathname} with HTTP ${status}${snippet ? `: ${snippet}` : ''}`);
}

const TLS_TRUST_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_SIGNATURE_FAILURE', 'CERT_UNTRUSTED',
]);

/** Network and TLS failures, phrased so the user knows which of the two went wrong. */
function transportError(e: Error, origin: string): Error {
  if (e instanceof CliError) return e;
  const code = (e as NodeJS.ErrnoException).code ?? '';
  if (TLS_TRUST_CODES.has(code)) return new CliError(`the CA at ${origin} presented a certificate that does not chain to the trusted root (${code})`);
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return new CliError(`the CA's certificate is not valid for ${new URL(origin).hostname}: ${e.message}`);
  if (code === 'CERT_HAS_EXPIRED') return new CliError(`the CA at ${origin} presented an expired certificate`);
  return new CliError(`cannot reach the CA at ${origin}: ${e.message}`);
}
