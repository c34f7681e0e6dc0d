// Signature checks on libuv's thread pool. An ECDSA P-256 verify costs ~65 µs of CPU under
// OpenSSL 3 here, and a /sign makes two (token, CSR); on the event loop they are a third of its
// time, off it they run on the second core while the loop serves other connections.
import { verify } from 'node:crypto';

/** node:crypto's verify with a callback; any error (bad key, malformed signature) is a "no". */
export function verifyOffLoop(hash: string | null, data: NodeJS.ArrayBufferView, key: Parameters<typeof verify>[2], sig: NodeJS.ArrayBufferView): Promise<boolean> {
  return new Promise((resolve) => {
    try {
      verify(hash, data, key, sig, (err, ok) => resolve(!err && ok));
    } catch {
      resolve(false);
    }
  });
}
