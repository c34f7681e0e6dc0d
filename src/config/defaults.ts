// ca.json's defaults and the small pure helpers over a validated config, apart from the zod
// schemas that check it: the server validates ca.json on a short-lived thread
// (load-off-thread.ts), so the long-lived process never loads zod, and every module it runs imports
// from here instead of from schema.ts. The schemas use these same values.

/** The name the one issuer of a CA without stepstone.issuers goes by (the ledger's NULL issuer too). */
export const DEFAULT_ISSUER_NAME = 'default';

/** step-ca's defaults for the TLS block `step ca init` writes. */
export const DEFAULT_TLS = {
  cipherSuites: ['TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256', 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'],
  minVersion: 1.2,
  maxVersion: 1.3,
  renegotiation: false,
};

export const DEFAULT_CLAIMS = {
  minTLSCertDuration: '5m',
  maxTLSCertDuration: '24h',
  defaultTLSCertDuration: '24h',
  disableRenewal: false,
  allowRenewalAfterExpiry: false,
  disableSmallstepExtensions: false,
};
export const DEFAULT_BACKDATE = '1m';

export const DEFAULT_CONSOLE_ADDRESS = '127.0.0.1:9443';

/** The console's listen address, or null when the console is off (console-schema.ts checks the block). */
export function consoleAddress(c: { enabled?: boolean; address?: string }): string | null {
  const on = c.enabled ?? c.address !== undefined;
  return on ? (c.address ?? DEFAULT_CONSOLE_ADDRESS) : null;
}

export const CHALLENGE_TYPES = ['http-01', 'dns-01', 'tls-alpn-01'] as const;
export type ChallengeType = (typeof CHALLENGE_TYPES)[number];

/** An ACME provisioner's settings, defaults filled in (acme-schema.ts's acmeProvisionerSchema gives the same). */
export interface AcmeProvisionerSettings {
  challenges: ChallengeType[];
  forceCN: boolean;
  requireEAB: boolean;
  termsOfService?: string;
  [key: string]: unknown;
}

/**
 * The settings of an ACME provisioner entry that has passed the config schema: what
 * `acmeProvisionerSchema.parse` returns for it, without zod (test/unit/config.test.ts holds the
 * two to the same output).
 */
export function acmeProvisionerSettings(p: Record<string, unknown>): AcmeProvisionerSettings {
  return {
    ...p,
    challenges: Array.isArray(p.challenges) ? [...p.challenges] as ChallengeType[] : [...CHALLENGE_TYPES],
    forceCN: typeof p.forceCN === 'boolean' ? p.forceCN : false,
    requireEAB: typeof p.requireEAB === 'boolean' ? p.requireEAB : false,
  };
}
