// The CA's public trust material, served to anyone (api.md §1.3–1.6).
import { notFound } from '../errors.js';
import { normalizeFingerprint, sha256Hex } from '../pki/fingerprint.js';
import { certToPem } from '../pki/pem.js';
import type { x509 } from '../pki/x509.js';

export class TrustStore {
  private readonly byFingerprint: Map<string, x509.X509Certificate>;

  constructor(readonly roots: x509.X509Certificate[], readonly federatedRoots: x509.X509Certificate[], private readonly intermediates: x509.X509Certificate[]) {
    this.byFingerprint = new Map([...roots, ...federatedRoots].map((c) => [sha256Hex(c.rawData), c]));
  }

  rootPems(): string[] {
    return this.roots.map(certToPem);
  }

  /** Roots plus federated roots (GET /federation). */
  federationPems(): string[] {
    return [...this.roots, ...this.federatedRoots].map(certToPem);
  }

  intermediatePems(): string[] {
    return this.intermediates.map(certToPem);
  }

  /** GET /root/:sha — any root or federated root, by step-ca's fingerprint normalisation. */
  rootByFingerprint(fp: string): string {
    const root = this.byFingerprint.get(normalizeFingerprint(fp));
    if (!root) throw notFound(`root certificate with fingerprint "${fp}" was not found`, true);
    return certToPem(root);
  }
}
