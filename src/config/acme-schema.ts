// ca.json settings for ACME: the provisioner as step-ca spells it (`{"type": "ACME", "name",
// "challenges", "claims", "forceCN", "requireEAB"}`) and Stepstone's own `stepstone.acme` block
// (validation limits, the resolver, lifetimes, rate limits), which step-ca ignores.
import { z } from 'zod';
import { parseDuration } from '../util/duration.js';
import { ADDRESS } from './observe-schema.js';
import { CHALLENGE_TYPES } from './defaults.js';

const duration = z.string().refine((s) => (parseDuration(s) ?? 0) > 0, { message: 'a duration longer than 0s, such as "10s" or "24h"' });

export { CHALLENGE_TYPES };

/** The ACME-only fields of a provisioner entry (the common ones are in schema.ts). */
export const acmeProvisionerSchema = z.object({
  challenges: z.array(z.enum(CHALLENGE_TYPES)).min(1).default([...CHALLENGE_TYPES]),
  /** step-ca: put the first identifier in the subject CN when the CSR has none. */
  forceCN: z.boolean().default(false),
  /** step-ca: new accounts must carry an External Account Binding (`stepstone acme eab add`). */
  requireEAB: z.boolean().default(false),
  termsOfService: z.string().url().optional(),
}).passthrough();

const window = (max: number, w: string) => z.object({ max: z.number().int().positive().default(max), window: duration.default(w) }).default({ max, window: w });

export const acmeSchema = z.object({
  validation: z.object({
    /** Validations running at once on this replica; more wait in line. */
    concurrency: z.number().int().min(1).max(256).default(8),
    /** One validation attempt, connection and all. */
    timeout: duration.default('10s'),
    /** Largest http-01 response body read. */
    maxResponseBytes: z.number().int().min(128).max(1 << 20).default(8192),
    /** http-01 redirects followed, only to the identifier's own host on the validation ports. */
    maxRedirects: z.number().int().min(0).max(10).default(3),
    /** Where http-01 connects (RFC 8555: 80) and tls-alpn-01 (RFC 8737: 443); other values for tests and labs. */
    httpPort: z.number().int().min(1).max(65535).default(80),
    tlsPort: z.number().int().min(1).max(65535).default(443),
    /** DNS server (HOST:PORT) for identifiers' A/AAAA and dns-01's TXT; absent: the system resolver. */
    resolver: z.string().regex(ADDRESS, 'must be HOST:PORT').optional(),
  }).passthrough().default({ concurrency: 8, timeout: '10s', maxResponseBytes: 8192, maxRedirects: 3, httpPort: 80, tlsPort: 443 }),
  nonceLifetime: duration.default('1h'),
  orderLifetime: duration.default('24h'),
  /** How often expired nonces and unfinished expired orders are deleted. */
  pruneInterval: duration.default('10m'),
  /** Largest JWS body accepted on ACME routes, in bytes. */
  maxJwsBytes: z.number().int().min(1024).max(1 << 20).default(32 * 1024),
  rateLimit: z.object({
    enabled: z.boolean().default(true),
    /** newOrder per account. */
    ordersPerAccount: window(300, '1h'),
    /** Signed ACME requests per client address (newAccount included). */
    requestsPerAddress: window(3000, '1m'),
  }).passthrough().default({ enabled: true, ordersPerAccount: { max: 300, window: '1h' }, requestsPerAddress: { max: 3000, window: '1m' } }),
}).passthrough();
export type AcmeConfig = z.infer<typeof acmeSchema>;
