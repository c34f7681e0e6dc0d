// `ca crl` (api.md §1.14): fetch the CRL and refuse to hand it on unless it verifies — signed by
// an issuer from /intermediates that chains to the bootstrapped root, and current.
import { AsnConvert } from '@peculiar/asn1-schema';
import * as asn1X509 from '@peculiar/asn1-x509';
import { CliError } from '../cli/common.js';
import { parseCertificates, toArrayBuffer, toPem } from '../pki/pem.js';
import { x509 } from '../pki/x509.js';
import { resolveCa, type ClientFlags } from './defaults.js';
import { CaClient } from './http.js';

/** Clock skew tolerated between the CA and us on thisUpdate, as step tolerates on tokens. */
const SKEW_MS = 60_000;

export interface CrlSummary {
  der: Uint8Array;
  crl: x509.X509Crl;
  issuer: x509.X509Certificate;
  number: number | undefined;
  entries: number;
  thisUpdate: Date;
  nextUpdate: Date;
}


function crlNumber(crl: x509.X509Crl): number | undefined {
  const ext = crl.getExtension(asn1X509.id_ce_cRLNumber);
  return ext ? AsnConvert.parse(ext.value, asn1X509.CRLNumber).value : undefined;
}

/**
 * The certificate that signed `crl`, chained (by signature, via X509ChainBuilder) up to one of
 * `roots`, every link valid at `now` and the signer allowed to sign CRLs.
 */
async function findIssuer(crl: x509.X509Crl, intermediates: x509.X509Certificate[], roots: x509.X509Certificate[], now: Date): Promise<x509.X509Certificate> {
  const candidates = [...intermediates, ...roots].filter((c) => c.subject === crl.issuer);
  if (candidates.length === 0) throw new CliError(`the CRL's issuer (${crl.issuer}) is none of the CA's intermediates`);
  const builder = new x509.X509ChainBuilder({ certificates: [...intermediates, ...roots] });
  const problems: string[] = [];
  for (const cert of candidates) {
    // A key the CRL's algorithm cannot use throws rather than answering false.
    if (!(await crl.verify({ publicKey: cert }).catch(() => false))) {
      problems.push(`the CRL signature does not verify with ${cert.subject}`);
      continue;
    }
    const chain = await builder.build(cert);
    const top = chain[chain.length - 1]!;
    if (!roots.some((r) => Buffer.from(r.rawData).equals(Buffer.from(top.rawData))) || !(await top.isSelfSigned())) {
      problems.push(`${cert.subject} does not chain to the trusted root`);
      continue;
    }
    const expired = chain.find((c) => c.notBefore > now || c.notAfter < now);
    if (expired) {
      problems.push(`${expired.subject} is not valid now (${expired.notBefore.toISOString()} to ${expired.notAfter.toISOString()})`);
      continue;
    }
    const ku = cert.getExtension(x509.KeyUsagesExtension);
    if (ku && !(ku.usages & x509.KeyUsageFlags.cRLSign)) {
      problems.push(`${cert.subject} may not sign CRLs (no cRLSign key usage)`);
      continue;
    }
    return cert;
  }
  throw new CliError(`the CRL does not verify: ${problems.join('; ')}`);
}

/** Fetches /crl and /intermediates and verifies the one with the other; throws unless all holds. */
export async function fetchVerifiedCrl(flags: ClientFlags, now = new Date()): Promise<CrlSummary> {
  const ca = resolveCa(flags);
  // A generous deadline and size: a 100 000-entry CRL is ~5 MB.
  const client = new CaClient({ caUrl: ca.caUrl, rootPem: ca.rootPem, timeoutMs: 30_000 });
  const [der, inter] = await Promise.all([
    client.getBytes('/crl', 'application/pkix-crl', 64 * 1024 * 1024),
    client.get<{ crts?: unknown }>('/intermediates'),
  ]);
  if (!Array.isArray(inter.crts) || !inter.crts.every((c) => typeof c === 'string')) throw new CliError('the CA answered /intermediates without a certificate list');
  return verifyCrl(new Uint8Array(der), parseCertificates((inter.crts as string[]).join('\n')), parseCertificates(ca.rootPem), now);
}

/** The checks `ca crl` makes, on bytes already in hand. */
export async function verifyCrl(der: Uint8Array, intermediates: x509.X509Certificate[], roots: x509.X509Certificate[], now = new Date()): Promise<CrlSummary> {
  let crl: x509.X509Crl;
  try {
    // asn1js stops at 10 000 nodes by default, i.e. about 1 500 entries. Every node takes at
    // least two bytes, so the CRL's own length bounds the count without refusing any real CRL.
    crl = new x509.X509Crl(toArrayBuffer(der), { berOptions: { maxNodes: der.length, maxContentLength: der.length } });
  } catch (e) {
    throw new CliError(`the CA's /crl is not a DER CRL: ${(e as Error).message}`);
  }
  const issuer = await findIssuer(crl, intermediates, roots, now);
  const { thisUpdate, nextUpdate } = crl;
  if (thisUpdate.getTime() > now.getTime() + SKEW_MS) throw new CliError(`the CRL is not valid yet: thisUpdate is ${thisUpdate.toISOString()}`);
  if (!nextUpdate) throw new CliError('the CRL has no nextUpdate, so there is no telling whether it is current');
  if (nextUpdate < now) throw new CliError(`the CRL is stale: nextUpdate was ${nextUpdate.toISOString()}`);
  return { der, crl, issuer, number: crlNumber(crl), entries: crl.entries.length, thisUpdate, nextUpdate };
}

export function crlPem(der: Uint8Array): string {
  return toPem(der, 'X509 CRL');
}
