// Challenge validation (RFC 8555 §8.3 http-01, §8.4 dns-01, RFC 8737 tls-alpn-01), run off the
// request path by a bounded queue. A client chooses only the identifier (already checked) and the
// token: the CA connects only to that identifier's own addresses on the configured ports, reads
// a bounded body, follows few redirects and only to the same host, and gives up after a deadline.
import { createHash } from 'node:crypto';
import { promises as dns, type LookupAddress } from 'node:dns';
import http from 'node:http';
import { isIP } from 'node:net';
import tls from 'node:tls';
import { x509 } from '../pki/x509.js';
import type { AcmeIdentifier, ChallengeType } from '../ledger/acme-store.js';
import { AcmeProblem } from './problem.js';

export interface ValidationSettings {
  timeoutMs: number;
  maxResponseBytes: number;
  maxRedirects: number;
  httpPort: number;
  tlsPort: number;
  /** HOST:PORT of the DNS server used for A/AAAA and TXT; absent: the system's. */
  resolver?: string;
}

export const ACME_IDENTIFIER_OID = '1.3.6.1.5.5.7.1.31';

export function keyAuthorization(token: string, thumbprint: string): string {
  return `${token}.${thumbprint}`;
}

export function dnsDigest(keyAuth: string): string {
  return createHash('sha256').update(keyAuth).digest('base64url');
}

export class Validator {
  private readonly resolver: dns.Resolver | null;

  constructor(private readonly s: ValidationSettings) {
    if (s.resolver) {
      this.resolver = new dns.Resolver({ timeout: Math.min(s.timeoutMs, 5000), tries: 2 });
      this.resolver.setServers([s.resolver]);
    } else {
      this.resolver = null;
    }
  }

  /** Resolves when the challenge is met; throws an AcmeProblem saying why not. */
  async validate(type: ChallengeType, id: AcmeIdentifier, token: string, keyAuth: string): Promise<void> {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), this.s.timeoutMs);
    try {
      if (type === 'http-01') await this.http01(id, token, keyAuth, ac.signal);
      else if (type === 'dns-01') await this.dns01(id, keyAuth);
      else await this.tlsAlpn01(id, keyAuth, ac.signal);
    } catch (e) {
      if (e instanceof AcmeProblem) throw e;
      if (ac.signal.aborted) throw new AcmeProblem('connection', `${type} for ${id.value}: no answer within ${this.s.timeoutMs / 1000} s`);
      throw new AcmeProblem('connection', `${type} for ${id.value}: ${(e as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The identifier's addresses, from our resolver when configured. */
  private async addresses(id: AcmeIdentifier): Promise<LookupAddress[]> {
    if (id.type === 'ip') return [{ address: id.value, family: isIP(id.value) }];
    try {
      if (!this.resolver) return await dns.lookup(id.value, { all: true });
      const v4 = await this.resolver.resolve4(id.value).catch(() => [] as string[]);
      const v6 = v4.length ? [] : await this.resolver.resolve6(id.value).catch(() => [] as string[]);
      const all = [...v4.map((address) => ({ address, family: 4 })), ...v6.map((address) => ({ address, family: 6 }))];
      if (!all.length) throw new Error('no A or AAAA record');
      return all;
    } catch (e) {
      throw new AcmeProblem('dns', `cannot resolve ${id.value}: ${(e as Error).message}`);
    }
  }

  private async http01(id: AcmeIdentifier, token: string, keyAuth: string, signal: AbortSignal): Promise<void> {
    const [addr] = await this.addresses(id);
    const host = id.type === 'ip' && isIP(id.value) === 6 ? `[${id.value}]` : id.value;
    let path = `/.well-known/acme-challenge/${token}`;
    for (let hop = 0; ; hop++) {
      const res = await this.get(addr!, host, path, signal);
      if (res.status >= 300 && res.status < 400 && res.location) {
        if (hop >= this.s.maxRedirects) throw new AcmeProblem('connection', `http-01 for ${id.value}: more than ${this.s.maxRedirects} redirects`);
        const next = new URL(res.location, `http://${host}${this.s.httpPort === 80 ? '' : `:${this.s.httpPort}`}${path}`);
        const port = next.port === '' ? 80 : Number(next.port);
        // Only back to the identifier itself, over http on the validation port: a redirect cannot
        // point the CA at another host (an internal service) or port.
        if (next.protocol !== 'http:' || next.hostname.replace(/^\[|\]$/g, '') !== host.replace(/^\[|\]$/g, '') || port !== this.s.httpPort) {
          throw new AcmeProblem('connection', `http-01 for ${id.value}: redirect to ${next.protocol}//${next.host} refused (only the same host, port ${this.s.httpPort})`);
        }
        path = next.pathname + next.search;
        continue;
      }
      if (res.status !== 200) throw new AcmeProblem('unauthorized', `http-01 for ${id.value}: the server answered ${res.status}`, 403);
      if (res.body.trim() !== keyAuth) throw new AcmeProblem('incorrectResponse', `http-01 for ${id.value}: the response is not the key authorization`, 403);
      return;
    }
  }

  private get(addr: LookupAddress, host: string, path: string, signal: AbortSignal): Promise<{ status: number; location?: string; body: string }> {
    const limit = this.s.maxResponseBytes;
    return new Promise((resolve, reject) => {
      const req = http.request({
        host: addr.address, family: addr.family, port: this.s.httpPort, path, method: 'GET', signal, agent: false,
        headers: { host: this.s.httpPort === 80 ? host : `${host}:${this.s.httpPort}`, 'user-agent': 'stepstone-acme-validator', accept: '*/*' },
        maxHeaderSize: 16 * 1024,
      }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > limit) {
            req.destroy(new AcmeProblem('unauthorized', `http-01 for ${host}: response larger than ${limit} bytes`, 403));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
  }

  private async dns01(id: AcmeIdentifier, keyAuth: string): Promise<void> {
    if (id.type !== 'dns') throw new AcmeProblem('malformed', 'dns-01 is only for DNS identifiers');
    const name = `_acme-challenge.${id.value.replace(/^\*\./, '')}`;
    let records: string[][];
    try {
      records = this.resolver ? await this.resolver.resolveTxt(name) : await dns.resolveTxt(name);
    } catch (e) {
      throw new AcmeProblem('dns', `dns-01: no TXT record at ${name}: ${(e as Error).message}`);
    }
    const want = dnsDigest(keyAuth);
    if (!records.some((r) => r.join('') === want)) throw new AcmeProblem('incorrectResponse', `dns-01: no TXT record at ${name} holds the expected digest`, 403);
  }

  private async tlsAlpn01(id: AcmeIdentifier, keyAuth: string, signal: AbortSignal): Promise<void> {
    const [addr] = await this.addresses(id);
    // RFC 8738: an IP identifier is named in SNI by its reverse-DNS name.
    const servername = id.type === 'ip' ? reverseName(id.value) : id.value;
    const der = await new Promise<Buffer>((resolve, reject) => {
      const sock = tls.connect({ host: addr!.address, port: this.s.tlsPort, servername, ALPNProtocols: ['acme-tls/1'], rejectUnauthorized: false });
      const abort = () => sock.destroy(new Error('timed out'));
      signal.addEventListener('abort', abort, { once: true });
      sock.once('close', () => signal.removeEventListener('abort', abort));
      sock.once('secureConnect', () => {
        const alpn = sock.alpnProtocol;
        const cert = sock.getPeerX509Certificate();
        sock.destroy();
        if (alpn !== 'acme-tls/1') return reject(new AcmeProblem('tls', `tls-alpn-01 for ${id.value}: the server did not negotiate acme-tls/1`, 403));
        if (!cert) return reject(new AcmeProblem('tls', `tls-alpn-01 for ${id.value}: no certificate`, 403));
        resolve(cert.raw);
      });
      sock.once('error', reject);
    });
    const cert = new x509.X509Certificate(new Uint8Array(der));
    const ext = cert.getExtension(ACME_IDENTIFIER_OID);
    if (!ext || !ext.critical) throw new AcmeProblem('incorrectResponse', `tls-alpn-01 for ${id.value}: no critical acmeIdentifier extension`, 403);
    const digest = createHash('sha256').update(keyAuth).digest();
    const want = Buffer.concat([Buffer.from([0x04, 0x20]), digest]);
    if (!Buffer.from(ext.value).equals(want)) throw new AcmeProblem('incorrectResponse', `tls-alpn-01 for ${id.value}: acmeIdentifier does not match the key authorization`, 403);
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
    const names = san?.names.items ?? [];
    const ok = names.length === 1 && (id.type === 'dns' ? names[0]!.type === 'dns' && names[0]!.value.toLowerCase() === id.value : names[0]!.type === 'ip' && names[0]!.value === id.value);
    if (!ok) throw new AcmeProblem('incorrectResponse', `tls-alpn-01 for ${id.value}: the certificate must name exactly the identifier`, 403);
  }
}

/** RFC 8738 §6: the reverse-DNS name of an IP address (in-addr.arpa / ip6.arpa, nibbles reversed). */
export function reverseName(ip: string): string {
  if (isIP(ip) === 4) return `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
  const [head, tail] = new URL(`http://[${ip}]/`).hostname.slice(1, -1).split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return `${groups.map((g) => g.padStart(4, '0')).join('').split('').reverse().join('.')}.ip6.arpa`;
}

/** At most `limit` jobs at once; the rest wait their turn. */
export class Bounded {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  get queued(): number {
    return this.waiting.length;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    // A finishing job hands its slot straight to the next in line, so `running` never overshoots.
    if (this.running >= this.limit) await new Promise<void>((r) => this.waiting.push(r));
    else this.running++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
