// Who may renew or rekey: a certificate this CA issued (our signature and a ledger row with the
// same fingerprint), not revoked, not the CA's own serving certificate, whose provisioner allows
// renewal, and within its validity (or expired where allowRenewalAfterExpiry says so).
import { signedBy } from '../pki/signed-by.js';
import { CaError, unauthorized } from '../errors.js';
import type { Ledger, StoredCertificate } from '../ledger/ledger.js';
import { sha256Hex } from '../pki/fingerprint.js';
import type { CertificateView } from '../pki/certificate-view.js';
import type { x509 } from '../pki/x509.js';
import type { Claims } from './claims.js';
import { serialToDecimal } from '../pki/serial.js';
import { readProvisionerExtension } from './provisioner-extension.js';

export interface ExistingCertificateDeps {
  issuer: x509.X509Certificate;
  ledger: Ledger;
  /** Claims for a provisioner named in a certificate; undefined when it no longer exists. */
  claimsFor(name: string, credentialId: string): Claims | undefined;
  /** Claims for certificates that name no provisioner. */
  globalClaims: Claims;
}

export interface AuthorizedCertificate {
  stored: StoredCertificate;
  claims: Claims;
  provisioner: string | null;
}

/** `signatureVerified`: the caller already checked the signature (a TLS handshake did). */
export async function authorizeExistingCertificate(cert: CertificateView, now: Date, signatureVerified: boolean, d: ExistingCertificateDeps): Promise<AuthorizedCertificate> {
  if (!signatureVerified) await checkIssuedByUs(cert, d.issuer);
  const stored = await checkInLedger(cert, d.ledger);
  checkNotRevoked(stored);
  const { claims, provisioner } = provisionerClaims(cert, d);
  checkRenewalAllowed(claims, provisioner);
  checkValidityWindow(cert, now, claims);
  return { stored, claims, provisioner };
}

async function checkIssuedByUs(cert: CertificateView, issuer: x509.X509Certificate): Promise<void> {
  if (!(await signedBy(cert, issuer))) throw unauthorized(`certificate ${cert.subject} was not issued by this CA`);
}

async function checkInLedger(cert: CertificateView, ledger: Ledger): Promise<StoredCertificate> {
  const serial = serialToDecimal(cert.serialNumber);
  const stored = await ledger.getCertificate(serial);
  if (!stored || stored.fingerprint !== sha256Hex(cert.rawData)) throw unauthorized(`certificate ${serial} is not in the ledger`);
  if (stored.method === 'serving') throw unauthorized(`certificate ${serial} is the CA's own serving certificate`);
  return stored;
}

function checkNotRevoked(stored: StoredCertificate): void {
  if (stored.revokedAt) throw unauthorized(`certificate ${stored.serial} was revoked at ${stored.revokedAt.toISOString()}`);
}

function provisionerClaims(cert: CertificateView, d: ExistingCertificateDeps): { claims: Claims; provisioner: string | null } {
  const ext = readProvisionerExtension(cert);
  if (!ext) return { claims: d.globalClaims, provisioner: null };
  const claims = d.claimsFor(ext.name, ext.credentialId);
  if (!claims) throw unauthorized(`provisioner '${ext.name}' of certificate ${serialToDecimal(cert.serialNumber)} no longer exists`);
  return { claims, provisioner: ext.name };
}

function checkRenewalAllowed(claims: Claims, provisioner: string | null): void {
  if (claims.disableRenewal) throw unauthorized(`renew is disabled for provisioner '${provisioner ?? '(none)'}'`);
}

function checkValidityWindow(cert: CertificateView, now: Date, claims: Claims): void {
  if (now < cert.notBefore) throw unauthorized(`certificate is not valid until ${cert.notBefore.toISOString()}`);
  if (now > cert.notAfter && !claims.allowRenewalAfterExpiry) {
    const detail = `certificate expired on ${cert.notAfter.toISOString()}`;
    throw new CaError('unauthorized', { detail, public: `The request lacked necessary authorization to be completed: ${detail}` });
  }
}
