// Effective claims: step-ca's defaults, overridden by authority.claims, overridden per provisioner.
import type { ClaimsConfig } from '../config/schema.js';
import { DEFAULT_BACKDATE, DEFAULT_CLAIMS } from '../config/defaults.js';
import { parseDuration } from '../util/duration.js';

export interface Claims {
  minTLSCertDuration: number;
  maxTLSCertDuration: number;
  defaultTLSCertDuration: number;
  disableRenewal: boolean;
  allowRenewalAfterExpiry: boolean;
  disableSmallstepExtensions: boolean;
}

export function resolveClaims(...layers: (ClaimsConfig | undefined)[]): Claims {
  const merged = Object.assign({}, DEFAULT_CLAIMS, ...layers.map((l) => definedOnly(l ?? {}))) as typeof DEFAULT_CLAIMS;
  const c: Claims = {
    minTLSCertDuration: parseDuration(merged.minTLSCertDuration)!,
    maxTLSCertDuration: parseDuration(merged.maxTLSCertDuration)!,
    defaultTLSCertDuration: parseDuration(merged.defaultTLSCertDuration)!,
    disableRenewal: merged.disableRenewal,
    allowRenewalAfterExpiry: merged.allowRenewalAfterExpiry,
    disableSmallstepExtensions: merged.disableSmallstepExtensions,
  };
  for (const k of ['minTLSCertDuration', 'maxTLSCertDuration', 'defaultTLSCertDuration'] as const) {
    if (!(c[k] > 0)) throw new Error(`claims: ${k} must be greater than 0`);
  }
  if (c.minTLSCertDuration > c.maxTLSCertDuration) throw new Error('claims: minTLSCertDuration is longer than maxTLSCertDuration');
  if (c.defaultTLSCertDuration < c.minTLSCertDuration || c.defaultTLSCertDuration > c.maxTLSCertDuration) {
    throw new Error('claims: defaultTLSCertDuration is outside [minTLSCertDuration, maxTLSCertDuration]');
  }
  return c;
}

function definedOnly(o: object): object {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

export function backdateMs(configured: string | undefined): number {
  return parseDuration(configured ?? DEFAULT_BACKDATE)!;
}
