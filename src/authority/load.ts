// Builds a running Authority from a validated config: reads the certificates, decrypts the
// intermediate key, checks that they belong together, loads the provisioners.
import { statSync } from 'node:fs';
import { readTextExplained } from '../util/read-file.js';
import { signedBy } from '../pki/signed-by.js';
import type { LoadedConfig } from '../config/load.js';
import type { Ledger } from '../ledger/ledger.js';
import { loadPrivateKey } from '../pki/keys.js';
import { parseCertificates } from '../pki/pem.js';
import type { x509 } from '../pki/x509.js';
import { ProvisionerRegistry } from '../provisioners/registry.js';
import { Authority, type AuthorityDeps } from './authority.js';
import { makeIssuer } from './profiles.js';
import { respondOcsp } from './ocsp.js';
import { CertTemplate } from './cert-template.js';

function readCerts(path: string, what: string): x509.X509Certificate[] {
  const text = readTextExplained(path, `the ${what} certificate`);
  const certs = parseCertificates(text);
  if (!certs.length) throw new Error(`${path} holds no PEM certificate (${what})`);
  return certs;
}

/** Refuses (or, with keyPermissions "warn", reports) a key file that group or others may open. */
function checkKeyPermissions(path: string, policy: 'refuse' | 'warn', warn: (msg: string) => void): void {
  let mode: number;
  try {
    mode = statSync(path).mode & 0o777;
  } catch {
    return; // reading it next says what is wrong
  }
  if ((mode & 0o077) === 0) return;
  const msg = `${path} is open to other users (mode 0${mode.toString(8)}): chmod 600 it`;
  if (policy === 'refuse') throw new Error(`${msg}, or set stepstone.keyPermissions to "warn" to start anyway`);
  warn(`${msg}; starting anyway (stepstone.keyPermissions is "warn")`);
}

export async function loadAuthority(
  loaded: LoadedConfig, password: string, ledger: Ledger,
  extra: Pick<AuthorityDeps, 'crlBuilder' | 'ocspResponder' | 'observer' | 'replica'> & { warn?: (msg: string) => void } = {},
): Promise<Authority> {
  const { config, resolvePath } = loaded;
  const roots = (Array.isArray(config.root) ? config.root : [config.root]).flatMap((p) => readCerts(resolvePath(p), 'root'));
  const federatedRoots = (config.federatedRoots ?? []).flatMap((p) => readCerts(resolvePath(p), 'federated root'));
  const interCert = readCerts(resolvePath(config.crt), 'intermediate')[0]!;
  const keyPath = resolvePath(config.key);
  checkKeyPermissions(keyPath, config.stepstone.keyPermissions, extra.warn ?? (() => undefined));
  const keyPem = readTextExplained(keyPath, 'the intermediate key');
  const key = loadPrivateKey(keyPem, password);
  const intermediate = await makeIssuer(interCert, key);
  if (!(await chainsToRoot(interCert, roots))) throw new Error(`the intermediate ${interCert.subject} is not signed by any configured root`);
  const provisioners = await ProvisionerRegistry.create(config);
  const templates = loadTemplates(loaded);
  const { warn: _warn, ...deps } = extra;
  const authority = new Authority({ config, roots, federatedRoots, intermediate, provisioners, ledger, ocspResponder: respondOcsp, templates, ...deps });
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

async function chainsToRoot(cert: x509.X509Certificate, roots: x509.X509Certificate[]): Promise<boolean> {
  for (const r of roots) {
    if (await signedBy(cert, r)) return true;
  }
  return false;
}
