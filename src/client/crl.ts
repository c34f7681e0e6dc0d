// `ca crl` (api.md §1.14): fetch the CRL and refuse to hand it on unless it verifies — signed by
// an issuer from /intermediates that chains to the bootstrapped root, and current.
import { AsnConvert } from '@peculiar/asn1-schema';
import * as asn1X509 from '@peculiar/asn1-x509';
import { CliError } from '../cli/common.js';
import { parseCertificates, toArrayBuffer, toPem } from '../pki/pem.js';
import { x509 } from '../pki/x509.js';
import { readCrlParts } from '../pki/crl-parts.js';
import { issuerKey, verifySignedParts } from '../pki/signed-by.js';
import { resolveCa, type ClientFlags } from './defaults.js';
import { CaClient } from './http.js';

/** Clock skew tolerated between the CA and us on thisUpdate, as step tolerates on tokens. */
const SKEW_MS = 60_000;

export interface CrlSummary {
  der: Uint8Array;
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

/** The CRL as read: the library's view of its header, and how to check its signature. */
interface ReadCrl {
  /** Issuer, dates and extensions; its entries are not necessarily there (see readCrl). */
  crl: x509.X509Crl;
  entries: number;
  signedBy(cert: x509.X509Certificate): Promise<boolean>;
}

/**
 * A 100 000-entry CRL is ~5 MB, which the library (asn1js) parses in seconds; our own reader
 * takes the list and leaves the library only the rest. Anything the reader does not know (shape,
 * entry extension, signature algorithm) goes to the library whole.
 */
function readCrl(der: Uint8Array): ReadCrl {
  const parts = readCrlParts(der);
  if (parts) {
    const skeleton = new x509.X509Crl(toArrayBuffer(parts.skeleton));
    return {
      crl: skeleton,
      entries: parts.entryCount,
      signedBy: async (cert) => {
        let key;
        try {
          key = issuerKey(cert);
        } catch {
          return false;
        }
        return verifySignedParts(parts, key) ?? fullVerify(der, cert);
      },
    };
  }
  const crl = fullParse(der);
  return { crl, entries: crl.entries.length, signedBy: (cert) => crl.verify({ publicKey: cert }).catch(() => false) };
}

function fullParse(der: Uint8Array): x509.X509Crl {
  // asn1js stops at 10 000 nodes by default, i.e. about 1 500 entries. Every node takes at
  // least two bytes, so the CRL's own length bounds the count without refusing any real CRL.
  return new x509.X509Crl(toArrayBuffer(der), { berOptions: { maxNodes: der.length, maxContentLength: der.length } });
}

/** The library's check, for an algorithm our reader does not verify itself. */
function fullVerify(der: Uint8Array, cert: x509.X509Certificate): Promise<boolean> {
  // A key the CRL's algorithm cannot use throws rather than answering false.
  return fullParse(der).verify({ publicKey: cert }).catch(() => false);
}

/**
 * The certificate that signed `crl`, chained (by signature, via X509ChainBuilder) up to one of
 * `roots`, every link valid at `now` and the signer allowed to sign CRLs.
 */
async function findIssuer({ crl, signedBy }: ReadCrl, intermediates: x509.X509Certificate[], roots: x509.X509Certificate[], now: Date): Promise<x509.X509Certificate> {
  const candidates = [...intermediates, ...roots].filter((c) => c.subject === crl.issuer);
  if (candidates.length === 0) throw new CliError(`the CRL's issuer (${crl.issuer}) is none of the CA's intermediates`);
  const builder = new x509.X509ChainBuilder({ certificates: [...intermediates, ...roots] });
  const problems: string[] = [];
  for (const cert of candidates) {
    if (!(await signedBy(cert))) {
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

/**
 * Fetches /crl (or /crl/ISSUER, the CRL of one of several issuers) and /intermediates and
 * verifies the one with the other; throws unless all holds.
 */
export async function fetchVerifiedCrl(flags: ClientFlags, now = new Date(), issuer?: string): Promise<CrlSummary> {
  const ca = resolveCa(flags);
  // A generous deadline and size: a 100 000-entry CRL is ~5 MB.
  const client = new CaClient({ caUrl: ca.caUrl, rootPem: ca.rootPem, timeoutMs: 30_000 });
  const [der, inter] = await Promise.all([
    client.getBytes(issuer ? `/crl/${encodeURIComponent(issuer)}` : '/crl', 'application/pkix-crl', 64 * 1024 * 1024),
    client.get<{ crts?: unknown }>('/intermediates'),
  ]);
  if (!Array.isArray(inter.crts) || !inter.crts.every((c) => typeof c === 'string')) throw new CliError('the CA answered /intermediates without a certificate list');
  return verifyCrl(new Uint8Array(der), parseCertificates((inter.crts as string[]).join('\n')), parseCertificates(ca.rootPem), now);
}

/** The checks `ca crl` makes, on bytes already in hand. */
export async function verifyCrl(der: Uint8Array, intermediates: x509.X509Certificate[], roots: x509.X509Certificate[], now = new Date()): Promise<CrlSummary> {
  let read: ReadCrl;
  try {
    read = readCrl(der);
  } catch (e) {
    throw new CliError(`the CA's /crl is not a DER CRL: ${(e as Error).message}`);
  }
  const issuer = await findIssuer(read, intermediates, roots, now);
  const { crl } = read;
  const { thisUpdate, nextUpdate } = crl;
  if (thisUpdate.getTime() > now.getTime() + SKEW_MS) throw new CliError(`the CRL is not valid yet: thisUpdate is ${thisUpdate.toISOString()}`);
  if (!nextUpdate) throw new CliError('the CRL has no nextUpdate, so there is no telling whether it is current');
  if (nextUpdate < now) throw new CliError(`the CRL is stale: nextUpdate was ${nextUpdate.toISOString()}`);
  return { der, issuer, number: crlNumber(crl), entries: read.entries, thisUpdate, nextUpdate };
}

export function crlPem(der: Uint8Array): string {
  return toPem(der, 'X509 CRL');
}
