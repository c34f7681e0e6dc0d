// Several intermediates in one CA (stepstone.issuers; api.md, design.md). Each issuer has a name,
// a certificate and key, its own fast-path leaf template and its own CRL. A provisioner names the
// issuer that signs for it (default: the first); a renewal stays with the issuer that signed the
// old certificate. Without stepstone.issuers the top-level crt/key is the one issuer, "default",
// and nothing here costs anything on the hot paths: every lookup answers the only entry.
import { X509Certificate } from 'node:crypto';
import { readTextExplained } from '../util/read-file.js';
import { signedBy } from '../pki/signed-by.js';
import { loadPrivateKey } from '../pki/keys.js';
import { certToPem, parseCertificates } from '../pki/pem.js';
import { x509 } from '../pki/x509.js';
import type { CaConfig } from '../config/schema.js';
import { DEFAULT_ISSUER_NAME } from '../config/defaults.js';
import type { LoadedConfig } from '../config/loaded.js';
import type { IssuerScope, StoredCertificate } from '../ledger/ledger.js';
import { makeIssuer, type Issuer } from './profiles.js';
import type { LeafTemplate } from './fast-leaf.js';
import type { CrlPublisher } from './crl-publisher.js';
import { checkKeyPermissions } from './key-permissions.js';

/** An issuer read from disk and checked: its name and what signs. */
export interface LoadedIssuer {
  name: string;
  issuer: Issuer;
  /** The SHA-256 of certificate and key identity: a reload keeps an entry whose fingerprint did not change. */
  identity: string;
  /** Its own CRL distribution points (stepstone.issuers[].crlDistributionPoints), if set. */
  crlDistributionPoints?: string[];
}

/** An issuer as the running CA uses it. */
export interface IssuerEntry extends LoadedIssuer {
  /** Its certificate, PEM: the second of every chain it hands out. */
  pem: string;
  /** The fast-path leaf template for its issuer name and AKI. */
  leaf: LeafTemplate;
  crl: CrlPublisher;
  /** Whose ledger rows its CRL lists; absent when it is the only issuer (then every row). */
  scope?: IssuerScope;
  /** The CRL distribution points its leaves carry (issuerCdp). */
  cdp: string[];
  /** node's view of its certificate, for X509_check_issued (name and AKI) against a presented leaf. */
  native: X509Certificate;
}

/**
 * The issuers of ca.json, read, decrypted and checked: each a CA certificate that chains to a
 * configured root and whose key is the certificate's. Throws one line naming the issuer and the
 * problem. `password` decrypts keys that name no password of their own (the top-level key's too).
 */
export async function loadIssuers(
  loaded: Pick<LoadedConfig, 'config' | 'resolvePath'>, password: string, roots: x509.X509Certificate[], warn: (msg: string) => void = () => undefined,
): Promise<LoadedIssuer[]> {
  const { config, resolvePath } = loaded;
  const listed = config.stepstone.issuers;
  const specs = listed
    ? listed.map((i, n) => ({
      label: `stepstone.issuers[${n}] "${i.name}"`, name: i.name, crt: i.crt, key: i.key, crlDistributionPoints: i.crlDistributionPoints,
      password: i.password ?? (i.passwordFile !== undefined ? readPasswordFile(resolvePath(i.passwordFile), i.name) : password),
    }))
    : [{ label: 'intermediate', name: DEFAULT_ISSUER_NAME, crt: config.crt, key: config.key, password, crlDistributionPoints: undefined }];
  const out: LoadedIssuer[] = [];
  for (const s of specs) {
    const certs = parseCertificates(readTextExplained(resolvePath(s.crt), `the ${s.label} certificate`));
    if (!certs.length) throw new Error(`${resolvePath(s.crt)} holds no PEM certificate (${s.label})`);
    const cert = certs[0]!;
    const keyPath = resolvePath(s.key);
    checkKeyPermissions(keyPath, config.stepstone.keyPermissions, warn);
    const keyPem = readTextExplained(keyPath, `the ${s.label} key`);
    // One line naming the issuer (a CA with one issuer keeps its messages as they always were).
    const refuse = (msg: string) => new Error(listed ? `${s.label}: ${msg}` : msg);
    let issuer: Issuer;
    try {
      issuer = await makeIssuer(cert, loadPrivateKey(keyPem, s.password));
    } catch (e) {
      throw refuse((e as Error).message);
    }
    const what = listed ? 'the certificate' : 'the intermediate';
    if (!isCa(cert)) throw refuse(`${what} ${cert.subject} is not a CA certificate (basicConstraints CA:TRUE is missing)`);
    if (!(await chainsToRoot(cert, roots))) throw refuse(`${what} ${cert.subject} is not signed by any configured root`);
    out.push({ name: s.name, issuer, identity: `${Buffer.from(await cert.getThumbprint('SHA-256')).toString('hex')}:${issuer.keyId}`, crlDistributionPoints: s.crlDistributionPoints });
  }
  return out;
}

function readPasswordFile(path: string, name: string): string {
  // step's convention: the file's first line, trailing newline dropped.
  return readTextExplained(path, `the password file of issuer "${name}"`).replace(/\r?\n$/, '');
}

function isCa(cert: x509.X509Certificate): boolean {
  return cert.getExtension(x509.BasicConstraintsExtension)?.ca === true;
}

async function chainsToRoot(cert: x509.X509Certificate, roots: x509.X509Certificate[]): Promise<boolean> {
  for (const r of roots) {
    if (await signedBy(cert, r)) return true;
  }
  return false;
}

/** The issuer entries of a running CA, and which signs what. */
export class IssuerSet {
  private readonly byName: Map<string, IssuerEntry>;
  /** Provisioner name → its issuer; a provisioner not here uses the default. */
  private readonly ofProvisioner = new Map<string, IssuerEntry>();
  /** The ledger's NULL issuer (rows written before issuers were recorded): "default" if configured, else the first. */
  readonly unnamed: IssuerEntry;

  constructor(readonly all: IssuerEntry[], provisioners: CaConfig['authority']['provisioners']) {
    if (!all.length) throw new Error('a CA needs at least one issuer');
    this.byName = new Map(all.map((e) => [e.name, e]));
    this.unnamed = this.byName.get(DEFAULT_ISSUER_NAME) ?? all[0]!;
    for (const p of provisioners) {
      if (p.issuer === undefined) continue;
      const e = this.byName.get(p.issuer);
      // The schema already refused an unknown name; this keeps a hand-built config honest too.
      if (!e) throw new Error(`provisioner "${p.name}" names issuer "${p.issuer}", which is not configured`);
      this.ofProvisioner.set(p.name, e);
    }
  }

  /** The first issuer: the one of /crl, the CA's own serving certificate and provisioners that name none. */
  get default(): IssuerEntry {
    return this.all[0]!;
  }

  get single(): boolean {
    return this.all.length === 1;
  }

  byNameOf(name: string): IssuerEntry | undefined {
    return this.byName.get(name);
  }

  /** The issuer that signs for a provisioner (null: the CA's own certificates). */
  forProvisioner(name: string | null): IssuerEntry {
    return (name !== null && this.ofProvisioner.get(name)) || this.default;
  }

  /**
   * The configured issuer that signed `der`: its issuer name and authority key id are that
   * issuer's subject and key id (OpenSSL's X509_check_issued). Undefined when none is: an issuer
   * since removed from the configuration, or a certificate that is not ours. `strict` checks
   * even when there is one issuer (a certificate no handshake has verified).
   */
  forCertificate(der: ArrayBuffer | Uint8Array, strict = false): IssuerEntry | undefined {
    // One issuer, and a handshake that verified the chain: it can only be that one.
    if (this.single && !strict) return this.default;
    let leaf: X509Certificate;
    try {
      leaf = new X509Certificate(Buffer.from(der as ArrayBuffer));
    } catch {
      return undefined;
    }
    return this.all.find((e) => leaf.checkIssued(e.native));
  }

  /** The issuer of a ledger row: by its recorded name, NULL being the unnamed issuer's. */
  forStored(row: Pick<StoredCertificate, 'issuer'>): IssuerEntry | undefined {
    return row.issuer == null ? this.unnamed : this.byName.get(row.issuer);
  }

  /** Every intermediate, PEM (/intermediates, and the TLS trust for client certificates). */
  pems(): string[] {
    return this.all.map((e) => e.pem);
  }
}

/**
 * The CRL distribution points an issuer's leaves carry: its own if configured; else the CA's,
 * where, with several issuers, a URL whose path ends in /crl (or /1.0/crl) names this issuer's
 * CRL, /crl/NAME — a relying party then fetches the CRL its certificate's issuer signed, which
 * stays true when a rotation changes the default. One issuer: the CA's list unchanged.
 */
export function issuerCdp(own: string[] | undefined, global: string[], name: string, several: boolean): string[] {
  if (own) return own;
  if (!several) return global;
  return global.map((u) => {
    const url = new URL(u);
    if (!/\/crl\/?$/.test(url.pathname)) return u;
    url.pathname = `${url.pathname.replace(/\/$/, '')}/${encodeURIComponent(name)}`;
    return url.toString();
  });
}

export function entryPem(issuer: Issuer): string {
  return certToPem(issuer.cert);
}

export function nativeCertificate(issuer: Issuer): X509Certificate {
  return new X509Certificate(Buffer.from(issuer.cert.rawData));
}
