// The in-process PKI the micro-benchmarks sign with: a P-256 root and intermediate made with the
// CA's own profiles, the intermediate as an Issuer, and a P-256 leaf key's SPKI.
import { generateKeyPairSync } from 'node:crypto';
import { createIntermediateCertificate, createRootCertificate, makeIssuer, type Issuer } from '../src/authority/profiles.ts';

export const DAY = 86_400_000;

/** Flag `--name N` of the command line as a number, else `dflt`. */
export function flag(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

export async function benchIssuer(): Promise<{ issuer: Issuer; spki: ArrayBuffer }> {
  const now = new Date();
  const notAfter = new Date(now.getTime() + 3650 * DAY);
  const rk = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const root = await createRootCertificate({ name: 'Bench Root', key: rk.privateKey, notBefore: now, notAfter });
  const ik = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const interCert = await createIntermediateCertificate({ name: 'Bench Intermediate', publicKey: ik.publicKey, issuer: await makeIssuer(root, rk.privateKey), notBefore: now, notAfter });
  const issuer = await makeIssuer(interCert, ik.privateKey);
  const spki = new Uint8Array(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' })).buffer as ArrayBuffer;
  return { issuer, spki };
}
