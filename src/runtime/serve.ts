// Composes a running CA: config → ledger → authority → HTTPS app. The only module that knows
// both the SQLite ledger and the HTTP layer, so neither has to know the other.
import type { Server as HttpsServer } from 'node:https';
import pino, { type Logger } from 'pino';
import { buildApp } from '../api/server.js';
import { nodeTlsOptions } from '../api/tls-options.js';
import type { Authority } from '../authority/authority.js';
import { loadAuthority } from '../authority/load.js';
import { CrlWorker } from '../authority/crl-publisher.js';
import { loadConfig } from '../config/load.js';
import { openSqliteLedger } from '../ledger/sqlite.js';
import type { Ledger } from '../ledger/ledger.js';
import { LEEWAY_SEC } from '../provisioners/jwk.js';
import { parseDuration } from '../util/duration.js';

export interface ServeOptions {
  configPath: string;
  password: string;
  /** Overrides the config's address (HOST:PORT, port 0 for any free one). */
  address?: string;
  /** Overrides the config's insecureAddress (plain-HTTP CRL/OCSP listener). */
  insecureAddress?: string;
  logger?: Logger;
}

export interface RunningCa {
  url: string;
  port: number;
  /** Port of the plain-HTTP CRL/OCSP listener, when there is one. */
  plainPort?: number;
  authority: Authority;
  close(): Promise<void>;
}

const PRUNE_EVERY_MS = 10 * 60_000;

export async function startCa(o: ServeOptions): Promise<RunningCa> {
  const loaded = loadConfig(o.configPath);
  const { config } = loaded;
  const log = o.logger ?? pino({ level: config.stepstone.logLevel });
  if (config.db.type.toLowerCase() !== 'sqlite') {
    throw new Error(`config ${o.configPath}: db.type: "${config.db.type}" is not supported; Stepstone keeps its ledger in SQLite (db.type "sqlite")`);
  }
  const ledger = await openSqliteLedger(loaded.resolvePath(config.db.dataSource));
  const crlWorker = new CrlWorker();
  try {
    const authority = await loadAuthority(loaded, o.password, ledger, { crlBuilder: crlWorker.build, warn: (msg) => log.warn(msg) });
    return await listen(authority, ledger, crlWorker, log, o.address ?? config.address, o.insecureAddress ?? config.insecureAddress);
  } catch (e) {
    await crlWorker.close();
    await ledger.close();
    throw e;
  }
}

async function listen(authority: Authority, ledger: Ledger, crlWorker: CrlWorker, log: Logger, address: string, insecureAddress?: string): Promise<RunningCa> {
  // Not awaited: the first CRL builds in its worker while the port opens; GET /crl waits for it.
  authority.crl.start().catch((err) => log.error({ err }, 'first CRL generation failed'));
  const serving = await authority.issueServingCertificate();
  const trust = [...authority.trust.rootPems(), ...authority.trust.intermediatePems()].join('');
  const tlsBase = {
    ...nodeTlsOptions(authority.config.tls),
    // Ask for a client certificate (renew, revoke use it) but never require one.
    requestCert: true,
    rejectUnauthorized: false,
    ca: trust,
  };
  const { bodyLimit, requestTimeout, rateLimit } = authority.config.stepstone;
  const app = await buildApp(authority, {
    logger: log,
    bodyLimit,
    requestTimeoutMs: parseDuration(requestTimeout)!,
    rateLimit: rateLimit.enabled ? { max: rateLimit.perIp.max, windowMs: parseDuration(rateLimit.perIp.window)! } : undefined,
    https: { ...tlsBase, key: serving.keyPem, cert: serving.chainPem },
  });

  const timers: NodeJS.Timeout[] = [];
  const scheduleRenewal = (notAfter: Date, lifetimeMs: number) => {
    // Renew at 2/3 of the lifetime, as clients do; at most ~24 days ahead (setTimeout's limit).
    const at = notAfter.getTime() - lifetimeMs / 3;
    const t = setTimeout(async () => {
      try {
        const next = await authority.issueServingCertificate();
        (app.server as HttpsServer).setSecureContext({ ...tlsBase, key: next.keyPem, cert: next.chainPem });
        log.info({ notAfter: next.notAfter.toISOString() }, 'serving certificate renewed');
        scheduleRenewal(next.notAfter, lifetimeMs);
      } catch (err) {
        log.error({ err }, 'serving certificate renewal failed; retrying in a minute');
        scheduleRenewal(new Date(Date.now() + 60_000 + lifetimeMs / 3), lifetimeMs);
      }
    }, Math.min(Math.max(at - Date.now(), 1000), 2 ** 31 - 1));
    t.unref();
    timers[0] = t;
  };
  const lifetime = serving.notAfter.getTime() - Date.now();
  scheduleRenewal(serving.notAfter, lifetime);

  const prune = setInterval(() => {
    ledger.pruneUsedTokens(new Date(Date.now() - LEEWAY_SEC * 1000)).catch((err) => log.warn({ err }, 'pruning used tokens failed'));
  }, PRUNE_EVERY_MS);
  prune.unref();
  timers.push(prune);

  const { host, port } = splitAddress(address);
  await app.listen({ host, port });
  const bound = (app.server.address() as { port: number }).port;
  let plain: Awaited<ReturnType<typeof buildApp>> | null = null;
  let plainPort: number | undefined;
  if (insecureAddress) {
    plain = await buildApp(authority, { logger: log, bodyLimit: 16 * 1024, surface: 'revocation' });
    const a = splitAddress(insecureAddress);
    await plain.listen({ host: a.host, port: a.port });
    plainPort = (plain.server.address() as { port: number }).port;
    log.info({ insecureAddress: `${a.host}:${plainPort}` }, 'serving CRL and OCSP over plain HTTP');
  }
  const urlHost = authority.config.dnsNames[0] ?? '127.0.0.1';
  const url = `https://${urlHost.includes(':') ? `[${urlHost}]` : urlHost}:${bound}`;
  log.info({ address: `${host}:${bound}`, url }, 'Stepstone CA serving');
  let closed = false;
  return {
    url,
    port: bound,
    plainPort,
    authority,
    async close() {
      if (closed) return;
      closed = true;
      timers.forEach((t) => clearTimeout(t));
      authority.crl.stop();
      await Promise.all([app.close(), plain?.close()]);
      await crlWorker.close();
      await ledger.close();
    },
  };
}

export function splitAddress(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  const rawHost = address.slice(0, i).replace(/^\[|\]$/g, '');
  return { host: rawHost === '' ? '0.0.0.0' : rawHost, port: Number(address.slice(i + 1)) };
}
