// Reloading ca.json into a running CA (SIGHUP, `stepstone reload`): everything is read, checked
// and built first — provisioners and their keys, claims, name policies, templates, the issuers
// and the roots they chain to — and only a
// complete set replaces the running one, in one synchronous step. Anything wrong and nothing
// changes. Settings a running server cannot change (keys, addresses, the ledger) are named so the
// operator knows a restart is needed for those.
import type { LoadedConfig } from '../config/loaded.js';
import { loadConfigOffThread } from '../config/load-off-thread.js';
import type { CaConfig } from '../config/schema.js';
import { ProvisionerRegistry } from '../provisioners/registry.js';
import { resolveClaims, type Claims } from './claims.js';
import { PolicySet } from './name-policy.js';
import { loadTemplates } from './load.js';
import type { CertTemplate } from './cert-template.js';
import { loadRoots } from './load.js';
import { loadIssuers, type LoadedIssuer } from './issuers.js';
import type { x509 } from '../pki/x509.js';

/** What a reload replaces. */
export interface LiveConfig {
  provisioners: ProvisionerRegistry;
  policies: PolicySet;
  templates: Map<string, CertTemplate>;
  globalClaims: Claims;
  authorityConfig: CaConfig['authority'];
  /**
   * The issuers with their keys decrypted, and the roots: only when a password was given (the
   * running server's); the CLI's check of a file (`stepstone reload`, `provisioner add`) reads
   * no keys, and its config check already refuses an issuer name nothing defines.
   */
  issuers?: { issuers: LoadedIssuer[]; config: NonNullable<CaConfig['stepstone']['issuers']> | null; roots: x509.X509Certificate[]; federatedRoots: x509.X509Certificate[] };
}

export interface PreparedReload {
  live: LiveConfig;
  /** Top-level settings that differ from the running ones and need a restart to apply. */
  restartNeeded: string[];
}

// root, federatedRoots, crt, key and stepstone.issuers reload with the issuers (a password is then at hand).
const NEEDS_RESTART = ['address', 'insecureAddress', 'metricsAddress', 'dnsNames', 'db', 'tls', 'crl', 'commonName', 'stepstone'] as const;

/** Reads and builds everything a reload would install; throws, naming the problem, if any part is wrong. */
export async function prepareReload(configPath: string, running?: CaConfig, password?: string): Promise<PreparedReload> {
  const loaded: LoadedConfig = await loadConfigOffThread(configPath);
  const { config } = loaded;
  const live: LiveConfig = {
    provisioners: await ProvisionerRegistry.create(config),
    policies: PolicySet.fromConfig(config),
    templates: loadTemplates(loaded),
    globalClaims: resolveClaims(config.authority.claims),
    authorityConfig: config.authority,
  };
  if (password !== undefined) {
    const { roots, federatedRoots } = loadRoots(loaded);
    live.issuers = { issuers: await loadIssuers(loaded, password, roots), config: config.stepstone.issuers ?? null, roots, federatedRoots };
  }
  const comparable = (c: CaConfig, k: (typeof NEEDS_RESTART)[number]) => JSON.stringify(unset(k === 'stepstone' ? { ...c.stepstone, issuers: undefined } : c[k]));
  const restartNeeded = running ? NEEDS_RESTART.filter((k) => comparable(config, k) !== comparable(running, k)) : [];
  return { live, restartNeeded };
}

/**
 * `value` with every "" and null left out, recursively: step-ca's tools write ca.json back with
 * empty defaults ("insecureAddress": "", "badgerFileLoadingMode": "") that mean the same as the
 * key being absent, and a reload after `step ca provisioner add` must not warn that they changed.
 */
function unset(value: unknown): unknown {
  if (value === '' || value === null || value === undefined) return null;
  if (Array.isArray(value)) return value.map(unset);
  if (typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const u = unset(v);
    if (u !== null) out[k] = u;
  }
  return out;
}
