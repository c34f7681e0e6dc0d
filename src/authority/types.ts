// The values that cross the Authority's boundary: requests in, issued certificates out.
import type { CaConfig } from '../config/schema.js';
import type { Ledger } from '../ledger/ledger.js';
import type { x509 } from '../pki/x509.js';
import type { ProvisionerRegistry } from '../provisioners/registry.js';
import type { CrlBuilder } from './crl-publisher.js';
import type { Issuer } from './profiles.js';
import type { LoadedIssuer } from './issuers.js';
import type { OcspIssuer } from './ocsp.js';
import type { Observer, OcspOutcome } from './observer.js';
import type { CertTemplate } from './cert-template.js';

export interface SignRequest {
  csr: string;
  ott: string;
  notBefore?: string;
  notAfter?: string;
  /** step's --set/--set-file values: .Insecure.User in a certificate template. */
  templateData?: Record<string, unknown> | null;
}

/** The certificate a TLS client presented, and why the handshake did not trust it, if it did not. */
export interface PeerCertificate {
  der: ArrayBuffer;
  /** Node's authorizationError code; dates are judged by the renewal rules, not here. */
  tlsError?: string;
}


export interface IssuedCertificate {
  serial: string;
  /** Subject common name, for the log. */
  subject: string;
  /** Leaf first, then the issuing intermediate; never the root. */
  chainPem: string[];
}

export interface ServingCertificate {
  certPem: string;
  chainPem: string;
  keyPem: string;
  notAfter: Date;
}

export interface RevokeRequest {
  serial: string;
  ott?: string;
  reasonCode?: number;
  reason?: string;
  /** step-ca only revokes passively and 501s on false; Stepstone publishes CRL and OCSP either way. */
  passive?: boolean;
}

/** Answers a DER OCSP request with a DER OCSP response, from the ledger. */
export type OcspResponder = (requestDer: Uint8Array, deps: { issuer: Issuer; issuers?: OcspIssuer[]; lookup: Ledger['getCertificate']; now: Date; onAnswer?: (o: OcspOutcome) => void }) => Promise<Uint8Array>;

export interface AuthorityDeps {
  config: CaConfig;
  roots: x509.X509Certificate[];
  federatedRoots: x509.X509Certificate[];
  /** The issuers, default first (loadIssuers). */
  issuers: LoadedIssuer[];
  provisioners: ProvisionerRegistry;
  ledger: Ledger;
  clock?: () => Date;
  /** How CRLs get built; the server passes a worker thread, tests may build inline. */
  crlBuilder?: CrlBuilder;
  ocspResponder?: OcspResponder;
  /** Told every decision (metrics, refusal records); nothing when absent. */
  observer?: Observer;
  /** This replica's name, written into audit records. */
  replica?: string;
  /** Certificate templates by provisioner name; a provisioner without one issues the default leaf. */
  templates?: Map<string, CertTemplate>;
}
