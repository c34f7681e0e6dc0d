// Runs buildCrl off the main thread: a CRL of 100 000 entries is a few hundred milliseconds of
// encoding and hashing megabytes, which must not stall /sign. Receives the issuer's certificate DER and keys (KeyObject and
// CryptoKey both survive postMessage) with each request.
import { parentPort } from 'node:worker_threads';
import { x509 } from '../pki/x509.js';
import { buildCrl, type CrlParams } from './crl.js';
import type { Issuer } from './profiles.js';

export interface CrlJob {
  id: number;
  issuer: { certDer: ArrayBuffer; key: Issuer['key']; signer: Issuer['signer']; keyId: string };
  params: Omit<CrlParams, 'issuer'>;
}
export type CrlJobResult = { id: number; der: ArrayBuffer; offset: number; length: number } | { id: number; error: string };

let cached: { der: ArrayBuffer; issuer: Issuer } | undefined;

parentPort?.on('message', async (job: CrlJob) => {
  try {
    // The same Issuer object for the same certificate keeps buildCrl's per-issuer cache warm.
    if (!cached || Buffer.compare(Buffer.from(cached.der), Buffer.from(job.issuer.certDer)) !== 0) {
      const { certDer, key, signer, keyId } = job.issuer;
      cached = { der: certDer, issuer: { cert: new x509.X509Certificate(certDer), key, signer, keyId } };
    }
    const der = await buildCrl({ ...job.params, issuer: cached.issuer });
    // buildCrl's buffer is its own (never Node's shared pool), so it can be handed over whole.
    parentPort!.postMessage({ id: job.id, der: der.buffer, offset: der.byteOffset, length: der.byteLength } satisfies CrlJobResult, [der.buffer]);
  } catch (e) {
    parentPort!.postMessage({ id: job.id, error: (e as Error).message } satisfies CrlJobResult);
  }
});
