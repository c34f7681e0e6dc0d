// ca.json in step-ca's format (extra keys allowed), validated once at start-up. Everything
// downstream receives the typed, defaulted `CaConfig`; defaults live here and in defaults.ts (the
// values modules of the long-lived server need without loading zod).
import { z } from 'zod';
import { parseDuration } from '../util/duration.js';
import { sanProblem } from '../authority/name-rules.js';
import { classifySan } from '../pki/names.js';
import { dataSourceProblem, isPostgresType } from '../ledger/pg-source.js';
import { policySchema } from './policy-schema.js';
import { acmeProvisionerSchema, acmeSchema } from './acme-schema.js';
import { ADDRESS, auditSchema, metricsSchema, noticesSchema, webhooksSchema } from './observe-schema.js';
import { consoleSchema } from './console-schema.js';
import { DEFAULT_ISSUER_NAME } from './defaults.js';

const goDuration = z.string().refine((s) => parseDuration(s) !== null, { message: 'not a duration such as "5m" or "24h"' });

export const claimsSchema = z.object({
  minTLSCertDuration: goDuration.optional(),
  maxTLSCertDuration: goDuration.optional(),
  defaultTLSCertDuration: goDuration.optional(),
  disableRenewal: z.boolean().optional(),
  allowRenewalAfterExpiry: z.boolean().optional(),
  disableSmallstepExtensions: z.boolean().optional(),
}).passthrough();
export type ClaimsConfig = z.infer<typeof claimsSchema>;

const jwkSchema = z.object({
  kty: z.enum(['EC', 'RSA', 'OKP']),
  kid: z.string().min(1),
  alg: z.string().optional(),
  use: z.string().optional(),
  crv: z.string().optional(),
  x: z.string().optional(),
  y: z.string().optional(),
  n: z.string().optional(),
  e: z.string().optional(),
}).passthrough();

export const provisionerSchema = z.object({
  type: z.string().min(1),
  name: z.string().min(1),
  key: jwkSchema.optional(),
  encryptedKey: z.string().optional(),
  claims: claimsSchema.optional(),
  options: z.record(z.string(), z.unknown()).optional(),
  /** The provisioner's own name policy (step-ca keeps these in its admin database). */
  policy: policySchema.optional(),
  /** The stepstone.issuers entry that signs for it (default: the first, or the only one). */
  issuer: z.string().min(1).optional(),
}).passthrough().superRefine((p, ctx) => {
  if (p.type.toUpperCase() === 'JWK' && !p.key) ctx.addIssue({ code: 'custom', path: ['key'], message: 'a JWK provisioner needs its public key' });
  if (p.type.toUpperCase() === 'ACME') {
    const r = acmeProvisionerSchema.safeParse(p);
    if (!r.success) for (const i of r.error.issues) ctx.addIssue({ code: 'custom', path: i.path as (string | number)[], message: i.message });
  }
});
export type ProvisionerConfig = z.infer<typeof provisionerSchema>;

export const tlsSchema = z.object({
  cipherSuites: z.array(z.string()).optional(),
  minVersion: z.number().optional(),
  maxVersion: z.number().optional(),
  renegotiation: z.boolean().optional(),
}).passthrough();

/** step-ca's `crl` block. Stepstone publishes a CRL by default (users' most asked-for feature). */
export const crlSchema = z.object({
  enabled: z.boolean().default(true),
  /** Regenerate on every revocation, not only on the timer. */
  generateOnRevoke: z.boolean().default(true),
  /** nextUpdate − thisUpdate. */
  cacheDuration: goDuration.default('24h'),
  /** How often to regenerate; default 2/3 of cacheDuration. */
  renewPeriod: goDuration.optional(),
  /** Issuing distribution point URL; leave unset unless leaves carry the same CDP. */
  idpURL: z.string().url().optional(),
}).passthrough();
export type CrlConfig = z.infer<typeof crlSchema>;

/**
 * One intermediate of several (stepstone.issuers). Its key is decrypted with `password`, the
 * contents of `passwordFile`, or else the password `serve` was given.
 */
export const issuerSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, . _ - (at most 64): it is a URL path segment (/crl/NAME)'),
  crt: z.string().min(1),
  key: z.string().min(1),
  password: z.string().optional(),
  passwordFile: z.string().min(1).optional(),
  /**
   * CRL distribution points for its leaves. Default: stepstone.crlDistributionPoints, with a URL
   * path ending in /crl pointed at this issuer's own CRL (/crl/NAME) when there are several.
   */
  crlDistributionPoints: z.array(z.string().url()).optional(),
}).strict().refine((i) => i.password === undefined || i.passwordFile === undefined, { message: 'give password or passwordFile, not both' });
export type IssuerConfig = z.infer<typeof issuerSchema>;

/** Stepstone's own settings, under a key step-ca ignores. */
export const stepstoneSchema = z.object({
  /**
   * Several intermediates in one CA: the first is the default; a provisioner picks another with
   * its `issuer`. Absent: the top-level crt/key is the one issuer, named "default".
   */
  issuers: z.array(issuerSchema).min(1).optional(),
  /** Longest accepted token validity window (exp − nbf); the step CLI never mints more than 1h. */
  maxTokenLifetime: goDuration.default('1h'),
  /** Lifetime of the CA's own HTTPS certificate (step-ca hard-codes 24h). */
  servingCertDuration: goDuration.default('24h'),
  /** Largest request body accepted, in bytes. */
  bodyLimit: z.number().int().positive().default(64 * 1024),
  /** Log level for pino. */
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** CRL distribution point URLs written into every issued leaf (e.g. on insecureAddress). */
  crlDistributionPoints: z.array(z.string().url()).default([]),
  /** OCSP responder URLs written into every issued leaf's Authority Information Access. */
  ocspServers: z.array(z.string().url()).default([]),
  /**
   * A private key file that group or others can read: 'refuse' to start (the default: a CA key
   * readable by others is a compromised CA) or 'warn' and start anyway.
   */
  keyPermissions: z.enum(['refuse', 'warn']).default('refuse'),
  /**
   * A whole request (headers and body) must arrive within this, or the connection is dropped
   * (slowloris); a new connection must send its first request within it too.
   */
  requestTimeout: goDuration.default('30s'),
  /**
   * Open connections: at most `max` in total and `perAddress` from one client address (behind a
   * TCP proxy every client has the proxy's address: raise it to `max` there). Past `max`,
   * `healthReserve` more may only ask GET /health, so a flood does not take the replica out of
   * its load balancer. Idle keep-alive connections close after `keepAliveTimeout`.
   */
  connections: z.object({
    max: z.number().int().positive().default(4096),
    perAddress: z.number().int().positive().default(256),
    healthReserve: z.number().int().nonnegative().default(16),
    keepAliveTimeout: goDuration.default('5s'),
  }).default({ max: 4096, perAddress: 256, healthReserve: 16, keepAliveTimeout: '5s' }),
  /**
   * Requests per window: per client IP over the whole API (before any work), and per provisioner
   * for authorized issuance and revocation (after the token verified, so forged tokens cannot
   * spend a provisioner's budget). Generous defaults: a fleet renews a few times a day per host.
   */
  rateLimit: z.object({
    enabled: z.boolean().default(true),
    perIp: z.object({ max: z.number().int().positive().default(6000), window: goDuration.default('1m') }).default({ max: 6000, window: '1m' }),
    perProvisioner: z.object({ max: z.number().int().positive().default(60000), window: goDuration.default('1m') }).default({ max: 60000, window: '1m' }),
  }).default({ enabled: true, perIp: { max: 6000, window: '1m' }, perProvisioner: { max: 60000, window: '1m' } }),
  ocsp: z.object({
    enabled: z.boolean().default(true),
    /** Served under / and /1.0, and on insecureAddress. */
    path: z.string().regex(/^\/[A-Za-z0-9._~/-]*[A-Za-z0-9._~-]$/, 'a path such as /ocsp').default('/ocsp'),
  }).default({ enabled: true, path: '/ocsp' }),
  /**
   * Processes serving the API on one port (`serve --workers N` overrides): 1 is a single process;
   * more forks that many node:cluster workers sharing the ledger (see README "Workers").
   */
  workers: z.number().int().min(1).max(64).default(1),
  /**
   * TLS session tickets on the API port, so clients that keep sessions resume without a full
   * handshake. `false` saves their cost where clients never resume (api/tls-options.ts).
   */
  sessionTickets: z.boolean().default(true),
  /**
   * Where a request's signature checks and the new certificate's signature run: "loop" (the event
   * loop), "pool" (libuv's threads) or "auto": the pool where each serving process has three cores
   * or more, and for RSA signing and P-384/P-521 keys everywhere (pki/signature-work.ts).
   */
  signatures: z.enum(['auto', 'loop', 'pool']).default('auto'),
  /** This replica's name in audit records and webhook leases (default: the host name). */
  replica: z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/, 'letters, digits, . _ : - (at most 64)').optional(),
  metrics: metricsSchema.default(metricsSchema.parse({})),
  audit: auditSchema.default(auditSchema.parse({})),
  webhooks: webhooksSchema,
  notices: noticesSchema.default(noticesSchema.parse({})),
  /** The web console (src/console/): off by default. */
  console: consoleSchema.default(consoleSchema.parse({})),
  acme: acmeSchema.default(acmeSchema.parse({})),
}).passthrough();

/**
 * step-ca's `db` block. "sqlite" (Stepstone's default: dataSource is a file) or "postgresql"
 * (dataSource a postgresql:// URL; several replicas may share it).
 */
export const dbSchema = z.object({
  type: z.string().refine((t) => t.toLowerCase() === 'sqlite' || isPostgresType(t), { message: 'must be "sqlite" or "postgresql"' }),
  dataSource: z.string().min(1),
  /** step-ca's spelling: the PostgreSQL database, when the URL does not name it. */
  database: z.string().min(1).optional(),
  /** A file holding the PostgreSQL password (else the URL's, else PGPASSWORD). */
  passwordFile: z.string().min(1).optional(),
}).passthrough().superRefine((db, ctx) => {
  if (!isPostgresType(db.type)) return;
  const problem = dataSourceProblem(db.dataSource, db.passwordFile);
  if (problem) ctx.addIssue({ code: 'custom', path: ['dataSource'], message: problem });
});
export type DbConfig = z.infer<typeof dbSchema>;

export const caConfigSchema = z.object({
  root: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  federatedRoots: z.array(z.string()).nullish(),
  crt: z.string().min(1),
  key: z.string().min(1),
  address: z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]*):\d{1,5}$/, 'must be HOST:PORT or :PORT'),
  // The serving certificate carries every one: a name the issuance rules refuse stops the start here, said plainly.
  dnsNames: z.array(z.string().min(1).superRefine((n, ctx) => {
    const problem = sanProblem(classifySan(n));
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })).min(1),
  /** Plain-HTTP listener for /crl and OCSP only (relying parties fetch those over HTTP); '' = none. */
  insecureAddress: z.union([z.literal(''), z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]*):\d{1,5}$/, 'must be HOST:PORT or :PORT')]).optional(),
  crl: crlSchema.default(crlSchema.parse({})),
  /** Prometheus /metrics on a listener of its own (step-ca's key); '' or absent: none. */
  metricsAddress: z.union([z.literal(''), z.string().regex(ADDRESS, 'must be HOST:PORT or :PORT')]).optional(),
  db: dbSchema,
  authority: z.object({
    provisioners: z.array(provisionerSchema).default([]),
    claims: claimsSchema.optional(),
    backdate: goDuration.optional(),
    policy: policySchema.optional(),
  }).passthrough(),
  tls: tlsSchema.optional(),
  commonName: z.string().optional(),
  stepstone: stepstoneSchema.default(stepstoneSchema.parse({})),
}).passthrough().superRefine((c, ctx) => {
  // Issuer names are unique, and every provisioner's issuer is one of them.
  const names = c.stepstone.issuers?.map((i) => i.name) ?? [DEFAULT_ISSUER_NAME];
  names.forEach((n, i) => {
    if (names.indexOf(n) !== i) ctx.addIssue({ code: 'custom', path: ['stepstone', 'issuers', i, 'name'], message: `another issuer is already named "${n}"` });
  });
  c.authority.provisioners.forEach((p, i) => {
    if (p.issuer !== undefined && !names.includes(p.issuer)) {
      ctx.addIssue({ code: 'custom', path: ['authority', 'provisioners', i, 'issuer'], message: `no issuer is named "${p.issuer}" (configured: ${names.join(', ')})` });
    }
  });
});

export type CaConfig = z.infer<typeof caConfigSchema>;

export { DEFAULT_BACKDATE, DEFAULT_CLAIMS, DEFAULT_ISSUER_NAME, DEFAULT_TLS } from './defaults.js';
