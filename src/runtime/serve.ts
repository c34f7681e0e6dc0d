// Composes a running CA: config → ledger → authority → HTTPS app. The only module that knows
// both the ledger and the HTTP layer, so neither has to know the other. Read `startCa` and
// `listen` top to bottom; each step below them (listeners, TLS, timers) is one named piece.
import type { Server as HttpsServer } from 'node:https';
import { hostname } from 'node:os';
import pino, { type Logger } from 'pino';
import { buildApp } from '../api/server.js';
import { nodeTlsOptions } from '../api/tls-options.js';
import type { Authority, ServingCertificate } from '../authority/authority.js';
import { loadAuthority } from '../authority/load.js';
import { CrlWorker } from '../authority/crl-publisher.js';
import type { LoadedConfig } from '../config/loaded.js';
import { loadConfigOffThread } from '../config/load-off-thread.js';
import type { Ledger, SharedRevocationFeed } from '../ledger/ledger.js';
import { ledgerTarget, openLedger } from '../ledger/open.js';
import { LEEWAY_SEC } from '../provisioners/jwk.js';
import { parseDuration } from '../util/duration.js';
import { splitAddress } from '../util/address.js';
import { Observability } from '../observe/observability.js';
import type { ConsoleServer } from '../console/server.js';
import { consoleAddress } from '../config/defaults.js';
import { resolveClaims } from '../authority/claims.js';
import { prepareReload } from '../authority/reload.js';
import { stdoutLogDestination } from './log-destination.js';
import { placeSignatures, signaturesThread } from '../pki/signature-work.js';

export interface ServeOptions {
  configPath: string;
  password: string;
  /** Overrides the config's address (HOST:PORT, port 0 for any free one). */
  address?: string;
  /** Overrides the config's insecureAddress (plain-HTTP CRL/OCSP listener). */
  insecureAddress?: string;
  /** Overrides the config's metricsAddress. */
  metricsAddress?: string;
  /** Overrides stepstone.replica: this process's name in audit records. */
  replica?: string;
  logger?: Logger;
  /** Set in a `serve --workers N` worker process (runtime/cluster.ts). */
  worker?: WorkerRole;
  /** configPath as the caller already read it (`serve` does, to count its workers): not read again. */
  loaded?: LoadedConfig;
}

/**
 * One of N worker processes sharing the port and the ledger. Each serves the whole API and keeps
 * its own CRL (regenerated when another worker revokes, through `feed`); the jobs that must run
 * once (metrics listener, web console, webhook delivery and expiry notices, token pruning) run in
 * the leader, worker 1, only.
 */
export interface WorkerRole {
  index: number;
  /** How many workers serve the port (the cores each has decide where signatures run). */
  workers: number;
  leader: boolean;
  /** SQLite: the other workers' revocations, through the primary. PostgreSQL has its own feed. */
  feed: SharedRevocationFeed;
  /** TLS session ticket keys shared by every worker, so a ticket resumes on whichever one accepts. */
  ticketKeys: Buffer;
}

export interface RunningCa {
  url: string;
  port: number;
  /** Port of the plain-HTTP CRL/OCSP listener, when there is one. */
  plainPort?: number;
  /** Port of the metrics listener, when there is one. */
  metricsPort?: number;
  /** Port of the web console, when it is on. */
  consolePort?: number;
  authority: Authority;
  /** Replaces the TLS session ticket keys (workers: the primary rotates them for all). */
  setTicketKeys(keys: Buffer): void;
  /**
   * Re-reads ca.json (SIGHUP, `stepstone reload`): provisioners, claims, policies and templates
   * change without dropping a connection; a broken file is refused with its reason logged and the
   * running configuration kept. Reloads run one at a time.
   */
  reload(): Promise<ReloadOutcome>;
  close(): Promise<void>;
}

export type ReloadOutcome = { ok: true; provisioners: number; restartNeeded: string[] } | { ok: false; reason: string };

type App = Awaited<ReturnType<typeof buildApp>>;

const PRUNE_EVERY_MS = 10 * 60_000;

export async function startCa(o: ServeOptions): Promise<RunningCa> {
  const loaded = o.loaded ?? await loadConfigOffThread(o.configPath);
  const { config } = loaded;
  const base = o.logger ?? pino({ level: config.stepstone.logLevel }, stdoutLogDestination());
  const w = o.worker;
  // Every line a worker logs names it (pino adds the pid), so an operator can tell them apart.
  const log = w ? base.child({ worker: w.index }) : base;
  placeSignatures(config.stepstone.signatures, w?.workers ?? 1);
  const ledger = await openServerLedger(loaded, log, w?.feed);
  const crlWorker = new CrlWorker();
  let watch: Observability | undefined;
  try {
    // A worker is a replica on this host: its audit records and webhook leases say which one.
    const replica = w ? `${(o.replica ?? config.stepstone.replica ?? hostname()).slice(0, 60)}-w${w.index}` : o.replica;
    // Metrics and webhooks run in the leader only: N listeners on one metrics port would each
    // count a share, and one delivery loop is enough (leases would keep N correct, not cheaper).
    const watched = w && !w.leader ? { ...config, metricsAddress: undefined, stepstone: { ...config.stepstone, webhooks: [] } } : config;
    watch = await Observability.open(watched, ledger, log, loaded.resolvePath, replica);
    const authority = await loadAuthority(loaded, o.password, ledger, {
      crlBuilder: crlWorker.build, warn: (msg) => log.warn(msg), observer: watch.observer, replica: watch.replica,
    });
    const running = await listen(authority, ledger, crlWorker, watch, log, {
      address: o.address ?? config.address, insecureAddress: o.insecureAddress ?? config.insecureAddress,
      metricsAddress: w && !w.leader ? undefined : o.metricsAddress,
    }, w);
    return { ...running, reload: reloader(o.configPath, o.password, authority, log, running.trustChanged) };
  } catch (e) {
    await watch?.close();
    await crlWorker.close();
    await ledger.close();
    throw e;
  }
}

async function openServerLedger(loaded: LoadedConfig, log: Logger, feed?: SharedRevocationFeed): Promise<Ledger> {
  let target;
  try {
    target = ledgerTarget(loaded.config.db, loaded.resolvePath);
  } catch (e) {
    throw new Error(`config ${loaded.path}: ${(e as Error).message}`);
  }
  return openLedger(target, { role: 'server', warn: (msg, err) => log.warn({ err }, msg), feed });
}

interface Addresses { address: string; insecureAddress?: string; metricsAddress?: string }

/** What runs once the CA listens, stopped in one call. */
interface Serving {
  app: App;
  plain: { app: App; port: number } | null;
  /** The web console, when stepstone.console is on. */
  console: ConsoleServer | null;
  /** The serving certificate's expiry now (the console shows it). */
  servingNotAfter: Date;
  timers: Timer[];
}

async function listen(
  authority: Authority, ledger: Ledger, crlWorker: CrlWorker, watch: Observability, log: Logger, a: Addresses, w?: WorkerRole,
): Promise<Omit<RunningCa, 'reload'> & { trustChanged: () => void }> {
  // Not awaited: the first CRLs build in their worker while the port opens; GET /crl waits for them.
  authority.startCrls((err, issuer) => log.error({ err, issuer }, 'first CRL generation failed'));
  const first = await authority.issueServingCertificate();
  // Rotated by the primary (setTicketKeys); a renewed serving certificate keeps the current ones.
  let ticketKeys = w?.ticketKeys;
  const tls = servingTls(authority, () => ticketKeys);
  const leader = !w || w.leader;
  const s: Serving = { app: await buildHttpsApp(authority, ledger, watch, log, tls(first)), plain: null, console: null, servingNotAfter: first.notAfter, timers: [] };
  let serving = first;
  // The client-certificate trust (every root and intermediate) is read from the authority each
  // time: after a reload changed the issuers, the same serving certificate goes out with the new list.
  const install = (next: ServingCertificate) => {
    serving = next;
    (s.app.server as HttpsServer).setSecureContext(tls(next));
    watch.servingRenewed(next.notAfter, tls(next));
    s.console?.setSecureContext({ ...consoleTls(authority), key: next.keyPem, cert: next.chainPem });
    s.servingNotAfter = next.notAfter;
  };
  s.timers.push(
    renewServingCertificate(authority, log, first, install),
    ...(leader ? [pruneSpentTokens(ledger, log)] : []),
  );
  try {
    await openListeners(s, authority, watch, log, a, first, tls(first));
    const consoleAt = leader ? consoleAddress(authority.config.stepstone.console) : undefined;
    if (consoleAt) {
      s.console = await listenConsole(authority, ledger, log, consoleAt, { ...consoleTls(authority), key: first.keyPem, cert: first.chainPem }, () => s.servingNotAfter);
    }
  } catch (e) {
    await stopServing(s, authority);
    throw e;
  }
  const { host } = splitAddress(a.address);
  const bound = (s.app.server.address() as { port: number }).port;
  const url = publicUrl(authority, bound);
  // A worker does not announce the address: the primary does, once every worker listens.
  if (w) log.info({ port: bound, leader: w.leader, signatures: signaturesThread() }, 'worker serving');
  else log.info({ address: `${host}:${bound}`, url, signatures: signaturesThread() }, 'Stepstone CA serving');
  let closed = false;
  return {
    url,
    port: bound,
    plainPort: s.plain?.port,
    metricsPort: watch.metricsPort,
    consolePort: s.console?.port,
    authority,
    trustChanged: () => install(serving),
    setTicketKeys(keys) {
      ticketKeys = keys;
      (s.app.server as HttpsServer).setTicketKeys(keys);
    },
    async close() {
      if (closed) return;
      closed = true;
      await stopServing(s, authority);
      await watch.close();
      await crlWorker.close();
      await ledger.close();
    },
  };
}

/** The HTTPS port, then the plain-HTTP one if configured, then metrics and the observers. */
async function openListeners(s: Serving, authority: Authority, watch: Observability, log: Logger, a: Addresses, serving: ServingCertificate, tls: TlsOptions): Promise<void> {
  const { host, port } = splitAddress(a.address);
  await s.app.listen({ host, port });
  if (a.insecureAddress) s.plain = await listenPlain(authority, watch, log, a.insecureAddress);
  await watch.start({
    rootNotAfter: new Date(Math.min(...authority.trust.roots.map((r) => r.notAfter.getTime()))),
    intermediateNotAfter: authority.intermediate.cert.notAfter,
    servingNotAfter: serving.notAfter,
    tls,
    metricsAddress: a.metricsAddress,
  });
}

async function stopServing(s: Serving, authority: Authority): Promise<void> {
  s.timers.forEach((t) => t.stop());
  authority.stopCrls();
  await Promise.all([s.app.close(), s.plain?.app.close(), s.console?.close()]);
}

function publicUrl(authority: Authority, port: number): string {
  const urlHost = authority.config.dnsNames[0] ?? '127.0.0.1';
  return `https://${urlHost.includes(':') ? `[${urlHost}]` : urlHost}:${port}`;
}

type TlsOptions = ReturnType<typeof clientCertificateTls> & { key: string; cert: string };

/** The HTTPS server's TLS options for a serving certificate (the same for the first one and each renewal). */
function servingTls(authority: Authority, ticketKeys: () => Buffer | undefined): (serving: ServingCertificate) => TlsOptions {
  return (serving) => {
    const keys = ticketKeys();
    return { ...clientCertificateTls(authority), ...(keys ? { ticketKeys: keys } : {}), key: serving.keyPem, cert: serving.chainPem };
  };
}

function reloader(configPath: string, password: string, authority: Authority, log: Logger, trustChanged: () => void): () => Promise<ReloadOutcome> {
  let queue: Promise<unknown> = Promise.resolve();
  return () => {
    const next = queue.then(async (): Promise<ReloadOutcome> => {
      try {
        const { live, restartNeeded } = await prepareReload(configPath, authority.config, password);
        // New issuers' templates and CRL publishers are built before anything switches.
        const issuers = live.issuers ? await authority.buildIssuers(live.issuers.issuers, live.authorityConfig.provisioners) : undefined;
        const trustBefore = authority.trust;
        authority.applyReload(live, issuers);
        if (authority.trust !== trustBefore) trustChanged();
        const provisioners = live.authorityConfig.provisioners.length;
        log.info({ config: configPath, provisioners, issuers: issuers?.all.map((e) => e.name), restartNeeded }, 'configuration reloaded');
        if (restartNeeded.length) log.warn({ restartNeeded }, `changed settings that only a restart applies: ${restartNeeded.join(', ')}`);
        return { ok: true, provisioners, restartNeeded };
      } catch (err) {
        const reason = (err as Error).message;
        log.error({ config: configPath, reason }, 'configuration reload refused; the running configuration is kept');
        return { ok: false, reason };
      }
    });
    queue = next;
    return next;
  };
}

/** TLS that asks for a client certificate (renew and revoke use it) but never requires one. */
function clientCertificateTls(authority: Authority) {
  const trust = [...authority.trust.rootPems(), ...authority.trust.intermediatePems()].join('');
  return { ...nodeTlsOptions(authority.config.tls, { sessionTickets: authority.config.stepstone.sessionTickets }), requestCert: true, rejectUnauthorized: false, ca: trust };
}

function buildHttpsApp(authority: Authority, ledger: Ledger, watch: Observability, log: Logger, https: import('node:https').ServerOptions): Promise<App> {
  const { bodyLimit, requestTimeout, rateLimit, connections } = authority.config.stepstone;
  return buildApp(authority, {
    logger: log,
    bodyLimit,
    requestTimeoutMs: parseDuration(requestTimeout)!,
    keepAliveTimeoutMs: parseDuration(connections.keepAliveTimeout)!,
    connections: { max: connections.max, perAddress: connections.perAddress, healthReserve: connections.healthReserve },
    rateLimit: rateLimit.enabled ? { max: rateLimit.perIp.max, windowMs: parseDuration(rateLimit.perIp.window)! } : undefined,
    https,
    // GET /health answers 503 when the ledger does not, so a load balancer drops this replica.
    health: () => ledger.ping(),
    onResponse: watch.metrics?.httpResponse,
    onRefused: watch.refusedAtDoor,
  });
}

interface Timer { stop(): void }

/** Renews the CA's own HTTPS certificate at 2/3 of its lifetime, as clients do; retries each minute on failure. */
function renewServingCertificate(authority: Authority, log: Logger, first: ServingCertificate, install: (next: ServingCertificate) => void): Timer {
  const lifetimeMs = first.notAfter.getTime() - Date.now();
  let timer: NodeJS.Timeout;
  const schedule = (notAfter: Date) => {
    const at = notAfter.getTime() - lifetimeMs / 3;
    // At most ~24 days ahead: setTimeout's limit.
    timer = setTimeout(async () => {
      try {
        const next = await authority.issueServingCertificate();
        install(next);
        log.info({ notAfter: next.notAfter.toISOString() }, 'serving certificate renewed');
        schedule(next.notAfter);
      } catch (err) {
        log.error({ err }, 'serving certificate renewal failed; retrying in a minute');
        schedule(new Date(Date.now() + 60_000 + lifetimeMs / 3));
      }
    }, Math.min(Math.max(at - Date.now(), 1000), 2 ** 31 - 1));
    timer.unref();
  };
  schedule(first.notAfter);
  return { stop: () => clearTimeout(timer) };
}

/** Spent tokens are kept until they would be refused as expired anyway, then deleted. */
function pruneSpentTokens(ledger: Ledger, log: Logger): Timer {
  const timer = setInterval(() => {
    ledger.pruneUsedTokens(new Date(Date.now() - LEEWAY_SEC * 1000)).catch((err) => log.warn({ err }, 'pruning used tokens failed'));
  }, PRUNE_EVERY_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

/** The plain-HTTP listener for CRL and OCSP (relying parties fetch those over HTTP). */
async function listenPlain(authority: Authority, watch: Observability, log: Logger, insecureAddress: string): Promise<{ app: App; port: number }> {
  const { requestTimeout, connections } = authority.config.stepstone;
  const app = await buildApp(authority, {
    logger: log, bodyLimit: 16 * 1024, surface: 'revocation', onResponse: watch.metrics?.httpResponse,
    requestTimeoutMs: parseDuration(requestTimeout)!,
    keepAliveTimeoutMs: parseDuration(connections.keepAliveTimeout)!,
    // No /health here, so no reserve for it; the same caps, counted for this listener alone.
    connections: { max: connections.max, perAddress: connections.perAddress, healthReserve: 0 },
  });
  const a = splitAddress(insecureAddress);
  await app.listen({ host: a.host, port: a.port });
  const port = (app.server.address() as { port: number }).port;
  log.info({ insecureAddress: `${a.host}:${port}` }, 'serving CRL and OCSP over plain HTTP');
  return { app, port };
}

/**
 * The console's TLS: the API's settings, and a client certificate required, chaining to this CA's
 * roots through its intermediate (federated roots are not trusted with the console).
 */
function consoleTls(authority: Authority) {
  const trust = [...authority.trust.rootPems(), ...authority.trust.intermediatePems()].join('');
  return { ...nodeTlsOptions(authority.config.tls), ca: trust };
}

/** The web console (stepstone.console), for administrators only. */
async function listenConsole(
  authority: Authority, ledger: Ledger, log: Logger, address: string, tls: import('node:https').ServerOptions, servingNotAfter: () => Date,
): Promise<ConsoleServer> {
  const { host, port } = splitAddress(address);
  const config = authority.config;
  // Loaded only when the console is on: its pages, charts and admin checks stay out of a CA without it.
  const { startConsole } = await import('../console/server.js');
  const server = await startConsole({
    host, port, tls, admins: config.stepstone.console.admins,
    deps: {
      ledger,
      log,
      revoke: (r, actor, ctx) => authority.revokeByAdmin(r, actor, ctx),
      caFacts: () => [
        ...authority.trust.roots.map((r) => ({ label: 'root', subject: r.subject, notAfter: r.notAfter })),
        ...authority.issuerCertificates().map((i, n) => ({ label: n === 0 ? 'intermediate' : `intermediate "${i.name}"`, subject: i.cert.subject, notAfter: i.cert.notAfter })),
        { label: 'serving (HTTPS)', subject: config.commonName ?? 'Stepstone Online CA', notAfter: servingNotAfter() },
      ],
      crl: async () => (authority.crl.enabled ? authority.currentCrl() : 'disabled'),
      // Read on each call: a reload (SIGHUP) replaces config.authority.
      provisioners: () => ({
        global: resolveClaims(config.authority.claims),
        provisioners: config.authority.provisioners.map((p) => ({
          name: p.name, type: p.type, kid: p.key?.kid ?? null, claims: resolveClaims(config.authority.claims, p.claims),
          own: Object.keys(p.claims ?? {}),
        })),
      }),
    },
  });
  log.info({ consoleAddress: `${host}:${server.port}` }, 'serving the web console (administrators only, over mTLS)');
  if (!/^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(host)) {
    log.warn({ consoleAddress: `${host}:${server.port}` }, 'the web console listens beyond the loopback: only admin certificates get in, but keep it behind a firewall too');
  }
  return server;
}
