// Reloading ca.json into a running CA (SIGHUP, `stepstone reload`): everything is read, checked
// and built first — provisioners and their keys, claims, name policies, templates — and only a
// complete set replaces the running one, in one synchronous step. Anything wrong and nothing
// changes. Settings a running server cannot change (keys, addresses, the ledger) are named so the
// operator knows a restart is needed for those.
import { loadConfig, type LoadedConfig } from '../config/load.js';
import type { CaConfig } from '../config/schema.js';
import { ProvisionerRegistry } from '../provisioners/registry.js';
import { resolveClaims, type Claims } from './claims.js';
import { PolicySet } from './name-policy.js';
import { loadTemplates } from './load.js';
import type { CertTemplate } from './cert-template.js';

/** What a reload replaces. */
export interface LiveConfig {
  provisioners: ProvisionerRegistry;
  policies: PolicySet;
  templates: Map<string, CertTemplate>;
  globalClaims: Claims;
  authorityConfig: CaConfig['authority'];
}

export interface PreparedReload {
  live: LiveConfig;
  /** Top-level settings that differ from the running ones and need a restart to apply. */
  restartNeeded: string[];
}

const NEEDS_RESTART = ['root', 'federatedRoots', 'crt', 'key', 'address', 'insecureAddress', 'metricsAddress', 'dnsNames', 'db', 'tls', 'crl', 'commonName', 'stepstone'] as const;

/** Reads and builds everything a reload would install; throws, naming the problem, if any part is wrong. */
export async function prepareReload(configPath: string, running?: CaConfig): Promise<PreparedReload> {
  const loaded: LoadedConfig = loadConfig(configPath);
  const { config } = loaded;
  const live: LiveConfig = {
    provisioners: await ProvisionerRegistry.create(config),
    policies: PolicySet.fromConfig(config),
    templates: loadTemplates(loaded),
    globalClaims: resolveClaims(config.authority.claims),
    authorityConfig: config.authority,
  };
  const restartNeeded = running ? NEEDS_RESTART.filter((k) => JSON.stringify(config[k] ?? null) !== JSON.stringify(running[k] ?? null)) : [];
  return { live, restartNeeded };
}
