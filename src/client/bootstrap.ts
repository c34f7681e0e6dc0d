// `ca bootstrap` (api.md §4): fetch the root over unverified TLS, trust it only if its SHA-256
// matches the fingerprint the user got out of band, then write root_ca.crt and defaults.json.
import { existsSync } from 'node:fs';
import { CliError } from '../cli/common.js';
import { layout } from '../config/layout.js';
import { normalizeFingerprint, sha256Hex } from '../pki/fingerprint.js';
import { writeFileAtomic } from '../pki/keys.js';
import { pemBlocks, toPem } from '../pki/pem.js';
import { defaultsJson, type ClientDefaults } from './defaults.js';
import { CaClient, normalizeCaUrl } from './http.js';

/**
 * The fingerprint as sent in /root/<fp>: step's normalisation (lower case, no dashes). Colons
 * are dropped too, as openssl prints them and step-ca would 404 on them; the result is still
 * compared with the certificate's real hash, so leniency here trusts nothing extra.
 */
export function fingerprintForUrl(fp: string): string {
  const hex = normalizeFingerprint(fp).replace(/:/g, '');
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new CliError(`'${fp}' is not a SHA-256 fingerprint (64 hex characters)`, 2);
  return hex;
}

/**
 * GET /root/<fp> without TLS verification; returns the root PEM only if its DER hashes to `fp`.
 * Safe because the fingerprint, not the TLS session, is what establishes trust.
 */
export async function fetchPinnedRoot(caUrl: string, fp: string): Promise<string> {
  const hex = fingerprintForUrl(fp);
  const res = await new CaClient({ caUrl, insecure: true }).get<{ ca?: unknown }>(`/root/${hex}`);
  if (typeof res.ca !== 'string') throw new CliError('the CA answered /root without a "ca" certificate');
  const der = pemBlocks(res.ca, 'CERTIFICATE')[0];
  if (!der) throw new CliError('the CA answered /root with something that is not a PEM certificate');
  if (sha256Hex(der) !== hex) throw new CliError('root certificate fingerprint does not match');
  return toPem(der, 'CERTIFICATE');
}

export interface BootstrapResult {
  caUrl: string;
  rootFile: string;
  defaultsFile: string;
}

export async function bootstrap(caUrlRaw: string, fingerprint: string, home: string, force = false): Promise<BootstrapResult> {
  const caUrl = normalizeCaUrl(caUrlRaw);
  fingerprintForUrl(fingerprint);
  const l = layout(home);
  // Checked before the network call, so a refusal costs nothing and leaves nothing behind.
  if (!force) {
    for (const f of [l.rootCert, l.defaults]) {
      if (existsSync(f)) throw new CliError(`${f} already exists; pass --force to overwrite it`);
    }
  }
  const rootPem = await fetchPinnedRoot(caUrl, fingerprint);
  const defaults: ClientDefaults = { 'ca-url': caUrl, fingerprint: fingerprint.trim(), root: l.rootCert };
  writeFileAtomic(l.rootCert, rootPem, 0o600);
  writeFileAtomic(l.defaults, defaultsJson(defaults), 0o644);
  return { caUrl, rootFile: l.rootCert, defaultsFile: l.defaults };
}
