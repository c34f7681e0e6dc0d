// Where a request's signatures are worked: the checks of its token's and CSR's (or renewal
// token's) signatures and the new certificate's signature. On libuv's thread pool they overlap the
// event loop, which pays where the pool's threads have cores of their own. Where they do not (two
// cores for the loop, the ledger writer, V8's helpers and the TLS clients), every hand-off wakes
// a pool thread that preempts the loop, then wakes the loop again: on the 2-core benchmark
// machine the loop was preempted ~5,000 times a second, and the same calls made on the loop cost
// 8 % less CPU per /sign, with a lower p99 in most rounds, for 5 % less peak rate (bench/README.md,
// issue 18's sixth round). That holds for P-256 and Ed25519 (20–65 µs an operation); a signature
// with an RSA key (0.2–3 ms) or any operation on P-384 or P-521 (~0.5 ms) would stall every other
// connection, so 'auto' leaves those on the pool.
import { availableParallelism } from 'node:os';
import { KeyObject, sign, verify } from 'node:crypto';

export type SignatureThread = 'loop' | 'pool';
/** `stepstone.signatures` in ca.json. */
export type SignaturesSetting = 'auto' | SignatureThread;

// CLI tools and in-process authorities keep the pool; `serve` decides at start (placeSignatures).
let where: SignatureThread = 'pool';
// 'auto' chose the loop: only keys whose operations cost tens of microseconds run there.
let cheapKeysOnly = false;

/**
 * What 'auto' means: the pool when each serving process has three cores or more (one for its
 * event loop, one for the ledger writer and V8's helpers, the rest for signatures), else the loop.
 */
export function resolveSignatures(setting: SignaturesSetting, processes = 1, cores = availableParallelism()): SignatureThread {
  if (setting !== 'auto') return setting;
  return cores / processes >= 3 ? 'pool' : 'loop';
}

/** Set once by `serve` before it listens: the whole process works its signatures there. */
export function placeSignatures(setting: SignaturesSetting, processes = 1, cores = availableParallelism()): void {
  where = resolveSignatures(setting, processes, cores);
  cheapKeysOnly = setting === 'auto';
}

export function signaturesThread(): SignatureThread {
  return where;
}

type VerifyKey = Parameters<typeof verify>[2];
type SignKey = Parameters<typeof sign>[2];

/** Whether an operation with `key` runs on the event loop now. */
function onLoop(key: VerifyKey | SignKey, signing: boolean): boolean {
  if (where === 'pool') return false;
  if (!cheapKeysOnly) return true;
  const k = key instanceof KeyObject ? key : (key as { key?: unknown }).key;
  if (!(k instanceof KeyObject)) return false;
  switch (k.asymmetricKeyType) {
    case 'ed25519': return true;
    case 'ec': return k.asymmetricKeyDetails?.namedCurve === 'prime256v1';
    case 'rsa': return !signing; // a public-exponent check is cheap, the private operation is not
    default: return false;
  }
}

/** node:crypto's verify, where placed; any error (bad key, malformed signature) is a "no". */
export function verifySignature(hash: string | null, data: NodeJS.ArrayBufferView, key: VerifyKey, sig: NodeJS.ArrayBufferView): Promise<boolean> {
  if (onLoop(key, false)) {
    try {
      return Promise.resolve(verify(hash, data, key, sig));
    } catch {
      return Promise.resolve(false);
    }
  }
  return new Promise((resolve) => {
    try {
      verify(hash, data, key, sig, (err, ok) => resolve(!err && ok));
    } catch {
      resolve(false);
    }
  });
}

/** node:crypto's sign, where placed. */
export function signBytes(hash: string | null, data: NodeJS.ArrayBufferView, key: SignKey): Promise<Buffer> {
  if (onLoop(key, true)) {
    try {
      return Promise.resolve(sign(hash, data, key));
    } catch (e) {
      return Promise.reject(e);
    }
  }
  return new Promise((resolve, reject) => {
    sign(hash, data, key, (err, sig) => (err ? reject(err) : resolve(sig)));
  });
}
