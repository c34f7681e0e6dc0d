// The configured provisioners: lookup by iss+kid for tokens, by kid for encrypted keys, and
// step-ca's cursor paging for GET /provisioners (api.md §1.7).
import { createHash } from 'node:crypto';
import type { ProvisionerConfig, CaConfig } from '../config/schema.js';
import { resolveClaims, type Claims } from '../authority/claims.js';
import { loadJwkProvisioner, type JwkProvisioner } from './jwk.js';
import { acmeProvisionerSettings, type AcmeProvisionerSettings } from '../config/defaults.js';

/** An ACME provisioner: who its accounts' certificates name, what it allows. */
export interface AcmeProvisioner { name: string; settings: AcmeProvisionerSettings; claims: Claims }

interface Entry { uid: string; config: ProvisionerConfig; jwk?: JwkProvisioner; acme?: AcmeProvisioner }

export interface ProvisionerPage { provisioners: ProvisionerConfig[]; nextCursor: string }

export class ProvisionerRegistry {
  private readonly entries: Entry[];
  private readonly byIssKid = new Map<string, JwkProvisioner>();
  private readonly byName = new Map<string, Entry>();

  private constructor(entries: Entry[]) {
    this.entries = entries;
    for (const e of entries) {
      this.byName.set(e.config.name, e);
      if (e.jwk) this.byIssKid.set(`${e.jwk.name}:${e.jwk.kid}`, e.jwk);
    }
  }

  static async create(config: CaConfig): Promise<ProvisionerRegistry> {
    const entries: Entry[] = [];
    const seen = new Set<string>();
    const names = new Set<string>();
    for (const [i, p] of config.authority.provisioners.entries()) {
      if (names.has(p.name)) throw new Error(`config: authority.provisioners[${i}]: another provisioner is already named "${p.name}"`);
      names.add(p.name);
      const claims = resolveClaims(config.authority.claims, p.claims);
      const id = p.type.toUpperCase() === 'JWK' ? `${p.name}:${p.key!.kid}` : `${p.type}/${p.name}`;
      if (seen.has(id)) throw new Error(`config: authority.provisioners[${i}]: duplicate provisioner ${id}`);
      seen.add(id);
      const jwk = p.type.toUpperCase() === 'JWK' ? await loadJwkProvisioner(p, claims) : undefined;
      const acme = p.type.toUpperCase() === 'ACME' ? { name: p.name, settings: acmeProvisionerSettings(p), claims } : undefined;
      entries.push({ uid: uid(i, id), config: p, jwk, acme });
    }
    return new ProvisionerRegistry(entries);
  }

  find(iss: string, kid: string): JwkProvisioner | undefined {
    return this.byIssKid.get(`${iss}:${kid}`);
  }

  byKid(kid: string): ProvisionerConfig | undefined {
    return this.entries.find((e) => e.jwk?.kid === kid)?.config;
  }

  /** The ACME provisioner of that name, if there is one. */
  acme(name: string): AcmeProvisioner | undefined {
    return this.byName.get(name)?.acme;
  }

  claimsOf(name: string): Claims | undefined {
    return this.byName.get(name)?.jwk?.claims;
  }

  page(cursor: string, limit: number): ProvisionerPage {
    const from = cursor ? cursor.padStart(40, '0') : '';
    const rest = this.entries.filter((e) => e.uid >= from);
    const page = rest.slice(0, limit);
    const next = rest[limit];
    return { provisioners: page.map((e) => publicView(e.config)), nextCursor: next ? next.uid.replace(/^0+/, '') : '' };
  }
}

/** step-ca's uid: SHA-1 of the id with its first 4 bytes replaced by the big-endian index. */
function uid(index: number, id: string): string {
  const h = createHash('sha1').update(id).digest();
  h.writeUInt32BE(index, 0);
  return h.toString('hex');
}

/** What step-ca serialises: no private key material ever (a `d` in the JWK is dropped). */
function publicView(p: ProvisionerConfig): ProvisionerConfig {
  const { type, name, key, encryptedKey, claims, options } = p;
  const out: ProvisionerConfig = { type, name };
  if (key) {
    const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub } = key as Record<string, unknown>;
    out.key = pub as ProvisionerConfig['key'];
  }
  if (encryptedKey) out.encryptedKey = encryptedKey;
  if (claims && Object.keys(claims).length) out.claims = claims;
  if (options && Object.keys(options).length) out.options = options;
  return out;
}
