// `certificate verify`: RFC 5280 path validation by pkijs' CertificateChainValidationEngine (path
// building, signatures, validity, CA flags and keyCertSign, name constraints), each link's
// signature checked again by node:crypto, plus the two checks pkijs leaves out: path length
// constraints and extended key usage (as Go's x509 and openssl's -purpose apply it).
import { X509Certificate as NodeCert } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';

export type Purpose = 'serverAuth' | 'clientAuth' | 'any';
const EKU_OID: Record<Exclude<Purpose, 'any'>, string> = { serverAuth: '1.3.6.1.5.5.7.3.1', clientAuth: '1.3.6.1.5.5.7.3.2' };
const ANY_EKU = '2.5.29.37.0';

export class ChainError extends Error {}

function parse(der: Buffer): pkijs.Certificate {
  const asn = asn1js.fromBER(new Uint8Array(der));
  if (asn.offset === -1) throw new ChainError('a certificate cannot be parsed');
  return new pkijs.Certificate({ schema: asn.result });
}

const nameOf = (c: pkijs.Certificate) => c.subject.typesAndValues.map((t) => `${t.type === '2.5.4.3' ? 'CN' : t.type}=${t.value.valueBlock.value}`).join(', ');
const ext = (c: pkijs.Certificate, oid: string) => c.extensions?.find((e) => e.extnID === oid);

/** The validated path, leaf first and trust anchor last; throws ChainError saying why not. */
export async function verifyChain(leafDer: Buffer, intermediatesDer: Buffer[], rootsDer: Buffer[], o: { purpose: Purpose; at?: Date }): Promise<pkijs.Certificate[]> {
  const leaf = parse(leafDer);
  const engine = new pkijs.CertificateChainValidationEngine({
    trustedCerts: rootsDer.map(parse), certs: [...intermediatesDer.map(parse), leaf], checkDate: o.at ?? new Date(),
  });
  let res: Awaited<ReturnType<typeof engine.verify>>;
  try {
    res = await engine.verify();
  } catch (e) {
    throw new ChainError((e as { resultMessage?: string; message?: string }).resultMessage ?? (e as Error).message ?? 'no valid path to a trusted root');
  }
  if (!res.result || !res.certificatePath) throw new ChainError(res.resultMessage || 'no valid path to a trusted root');
  const path = res.certificatePath;
  checkSignatures(path);
  checkPathLengths(path);
  if (o.purpose !== 'any') checkPurpose(path, o.purpose);
  return path;
}

/** Each certificate verified with its issuer's key by node:crypto, independently of pkijs. */
function checkSignatures(path: pkijs.Certificate[]): void {
  const node = path.map((c) => new NodeCert(Buffer.from(c.toSchema().toBER(false))));
  for (let i = 0; i < node.length; i++) {
    const issuer = node[Math.min(i + 1, node.length - 1)]!;
    if (!node[i]!.verify(issuer.publicKey)) throw new ChainError(`${nameOf(path[i]!)}: signature does not verify with its issuer's key`);
  }
}

/** RFC 5280 6.1.4 (m): a CA allows at most pathLenConstraint non-self-issued CAs below it, leaf not counted. */
function checkPathLengths(path: pkijs.Certificate[]): void {
  for (let i = 1; i < path.length; i++) {
    const bc = ext(path[i]!, '2.5.29.19')?.parsedValue as pkijs.BasicConstraints | undefined;
    if (bc?.pathLenConstraint === undefined) continue;
    const limit = typeof bc.pathLenConstraint === 'number' ? bc.pathLenConstraint : bc.pathLenConstraint.valueBlock.valueDec;
    const below = path.slice(1, i).filter((c) => !c.subject.isEqual(c.issuer)).length;
    if (below > limit) throw new ChainError(`${nameOf(path[i]!)}: path length constraint ${limit} exceeded (${below} CA certificates below it)`);
  }
}

/** Every certificate in the path that lists extended key usages must allow the purpose (or any). */
function checkPurpose(path: pkijs.Certificate[], purpose: Exclude<Purpose, 'any'>): void {
  for (const c of path) {
    const eku = ext(c, '2.5.29.37')?.parsedValue as pkijs.ExtKeyUsage | undefined;
    if (!eku) continue;
    if (!eku.keyPurposes.includes(EKU_OID[purpose]) && !eku.keyPurposes.includes(ANY_EKU)) {
      throw new ChainError(`${nameOf(c)}: extended key usage does not allow ${purpose}`);
    }
  }
}
