// Builds a running Authority from a validated config: reads the certificates, decrypts the
// issuers' keys, checks that they belong together, loads the provisioners.
import { readTextExplained } from '../util/read-file.js';
import type { LoadedConfig } from '../config/loaded.js';
import type { Ledger } from '../ledger/ledger.js';
import { parseCertificates } from '../pki/pem.js';
import type { x509 } from '../pki/x509.js';
import { ProvisionerRegistry } from '../provisioners/registry.js';
import { Authority, type AuthorityDeps } from './authority.js';
import { respondOcsp } from './ocsp.js';
import { CertTemplate } from './cert-template.js';
import { loadIssuers } from './issuers.js';

function readCerts(path: string, what: string): x509.X509Certificate[] {
  const text = readTextExplained(path, `the ${what} certificate`);
  const certs = parseCertificates(text);
  if (!certs.length) throw new Error(`${path} holds no PEM certificate (${what})`);
  return certs;
}

/** The configured roots and federated roots, read. */
export function loadRoots(loaded: Pick<LoadedConfig, 'config' | 'resolvePath'>): { roots: x509.X509Certificate[]; federatedRoots: x509.X509Certificate[] } {
  const { config, resolvePath } = loaded;
  const roots = (Array.isArray(config.root) ? config.root : [config.root]).flatMap((p) => readCerts(resolvePath(p), 'root'));
  const federatedRoots = (config.federatedRoots ?? []).flatMap((p) => readCerts(resolvePath(p), 'federated root'));
  return { roots, federatedRoots };
}

export async function loadAuthority(
  loaded: LoadedConfig, password: string, ledger: Ledger,
  extra: Pick<AuthorityDeps, 'crlBuilder' | 'ocspResponder' | 'observer' | 'replica'> & { warn?: (msg: string) => void } = {},
): Promise<Authority> {
  const { config } = loaded;
  const { roots, federatedRoots } = loadRoots(loaded);
  const issuers = await loadIssuers(loaded, password, roots, extra.warn);
  const provisioners = await ProvisionerRegistry.create(config);
  const templates = loadTemplates(loaded);
  const { warn: _warn, ...deps } = extra;
  const authority = new Authority({ config, roots, federatedRoots, issuers, provisioners, ledger, ocspResponder: respondOcsp, templates, ...deps });
  await authority.init();
  return authority;
}

/** Every provisioner's certificate template, parsed now: a syntax error stops the start naming file and line. */
export function loadTemplates(loaded: Pick<LoadedConfig, 'config' | 'resolvePath'>): Map<string, CertTemplate> {
  const out = new Map<string, CertTemplate>();
  loaded.config.authority.provisioners.forEach((p, i) => {
    const t = CertTemplate.load(p, i, loaded.resolvePath);
    if (t) out.set(p.name, t);
  });
  return out;
}
