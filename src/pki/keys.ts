// Key pairs for CAs and leaves, their encrypted-at-rest form, and the WebCrypto view of them
// that @peculiar/x509 signs with.
import { createPrivateKey, createPublicKey, generateKeyPairSync, webcrypto, type KeyObject } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, writeSync, renameSync, chmodSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

export type KeyType = 'EC' | 'RSA' | 'OKP';
export type Curve = 'P-256' | 'P-384' | 'P-521';
export interface KeySpec { kty: KeyType; curve?: Curve; size?: number }

export const DEFAULT_KEY: KeySpec = { kty: 'EC', curve: 'P-256' };

export function generateKeyPair(spec: KeySpec = DEFAULT_KEY): { privateKey: KeyObject; publicKey: KeyObject } {
  switch (spec.kty) {
    case 'EC':
      return generateKeyPairSync('ec', { namedCurve: spec.curve ?? 'P-256' });
    case 'RSA': {
      const size = spec.size ?? 2048;
      if (size < 2048) throw new RangeError(`RSA keys must be at least 2048 bits, not ${size}`);
      return generateKeyPairSync('rsa', { modulusLength: size });
    }
    case 'OKP':
      return generateKeyPairSync('ed25519');
  }
}

export function unencryptedPem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }) as string;
}

/** Reads a PEM private key, encrypted or not; a wrong password is one clear error. */
export function loadPrivateKey(pem: string, password?: string): KeyObject {
  const encrypted = /ENCRYPTED/.test(pem);
  if (encrypted && !password) throw new Error('the private key is encrypted and no password was given');
  try {
    return createPrivateKey(encrypted ? { key: pem, format: 'pem', passphrase: password } : { key: pem, format: 'pem' });
  } catch (e) {
    if (encrypted) throw new Error('cannot decrypt the private key: wrong password or corrupt key file', { cause: e });
    throw new Error('cannot read the private key: not a PEM private key', { cause: e });
  }
}

/** The WebCrypto algorithms for a key: how to import it and how to sign with it. */
export function webAlgorithms(key: KeyObject): { importAlg: EcKeyImportParams | RsaHashedImportParams | Algorithm; signAlg: Algorithm | EcdsaParams } {
  const t = key.asymmetricKeyType;
  if (t === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    const map: Record<string, [Curve, string]> = {
      prime256v1: ['P-256', 'SHA-256'], secp384r1: ['P-384', 'SHA-384'], secp521r1: ['P-521', 'SHA-512'],
    };
    const m = curve ? map[curve] : undefined;
    if (!m) throw new Error(`unsupported EC curve ${curve}`);
    return { importAlg: { name: 'ECDSA', namedCurve: m[0] }, signAlg: { name: 'ECDSA', hash: m[1] } };
  }
  if (t === 'rsa') {
    return { importAlg: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, signAlg: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as Algorithm };
  }
  if (t === 'ed25519') return { importAlg: { name: 'Ed25519' }, signAlg: { name: 'Ed25519' } };
  throw new Error(`unsupported key type ${t}`);
}

export interface WebKeyPair { privateKey: CryptoKey; publicKey: CryptoKey; signAlg: Algorithm | EcdsaParams }

export async function toWebKeyPair(priv: KeyObject): Promise<WebKeyPair> {
  const { importAlg, signAlg } = webAlgorithms(priv);
  const pub = createPublicKey(priv);
  const privateKey = await webcrypto.subtle.importKey('pkcs8', priv.export({ type: 'pkcs8', format: 'der' }), importAlg, false, ['sign']);
  const publicKey = await webcrypto.subtle.importKey('spki', pub.export({ type: 'spki', format: 'der' }), importAlg, true, ['verify']);
  return { privateKey: privateKey as CryptoKey, publicKey: publicKey as CryptoKey, signAlg };
}

export async function toWebPublicKey(pub: KeyObject): Promise<CryptoKey> {
  const { importAlg } = webAlgorithms(pub);
  return (await webcrypto.subtle.importKey('spki', pub.export({ type: 'spki', format: 'der' }), importAlg, true, ['verify'])) as CryptoKey;
}

/**
 * Writes a file atomically (temp file in the same directory, fsync, rename) with `mode`, so a
 * crash never leaves a truncated key or certificate behind.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const fd = openSync(tmp, 'wx', mode);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}
