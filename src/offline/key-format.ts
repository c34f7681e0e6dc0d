// `crypto key format`: a key (or a certificate's public key) re-encoded by node:crypto's KeyObject
// export, with step's defaults: PEM in → DER out and DER in → PEM out unless --pem/--der says;
// private EC keys as SEC1, RSA as PKCS#1 and Ed25519 as PKCS#8 unless --pkcs8 asks for PKCS#8;
// public keys always as SubjectPublicKeyInfo.
import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';

export type Encoding = 'pem' | 'der';

export interface ReadKey {
  key: KeyObject;
  /** How the input was encoded, which decides the default output encoding. */
  encoding: Encoding;
}

const PRIVATE_LABELS = /-----BEGIN (ENCRYPTED PRIVATE KEY|PRIVATE KEY|EC PRIVATE KEY|RSA PRIVATE KEY)-----/;
const PUBLIC_LABELS = /-----BEGIN (PUBLIC KEY|RSA PUBLIC KEY)-----/;

/** Thrown for input that is not a key we read; the message names what was wrong. */
export class KeyFormatError extends Error {}

/** Reads a PEM or DER private key (decrypting with `password`), public key or certificate. */
export async function readAnyKey(data: Buffer, password: () => Promise<string | undefined>): Promise<ReadKey> {
  const text = data.toString('latin1');
  if (text.includes('-----BEGIN ')) {
    const priv = PRIVATE_LABELS.exec(text);
    if (priv) {
      const encrypted = priv[1] === 'ENCRYPTED PRIVATE KEY' || /Proc-Type: 4,ENCRYPTED/.test(text);
      const passphrase = encrypted ? await password() : undefined;
      if (encrypted && passphrase === undefined) throw new KeyFormatError('the private key is encrypted: give its password with --password-file');
      try {
        return { key: createPrivateKey({ key: text, format: 'pem', ...(encrypted ? { passphrase } : {}) }), encoding: 'pem' };
      } catch {
        throw new KeyFormatError(encrypted ? 'cannot decrypt the private key: wrong password or corrupt key' : 'the PEM private key cannot be parsed');
      }
    }
    if (PUBLIC_LABELS.test(text)) {
      try {
        return { key: createPublicKey({ key: text, format: 'pem' }), encoding: 'pem' };
      } catch {
        throw new KeyFormatError('the PEM public key cannot be parsed');
      }
    }
    if (text.includes('-----BEGIN CERTIFICATE-----')) {
      try {
        return { key: new X509Certificate(data).publicKey, encoding: 'pem' };
      } catch {
        throw new KeyFormatError('the PEM certificate cannot be parsed');
      }
    }
    throw new KeyFormatError('no PEM private key, public key or certificate found');
  }
  return { key: readDer(data), encoding: 'der' };
}

/** DER has no label: try each structure a key file holds, most common first. */
function readDer(der: Buffer): KeyObject {
  const privates = ['pkcs8', 'sec1', 'pkcs1'] as const;
  for (const type of privates) {
    try {
      return createPrivateKey({ key: der, format: 'der', type });
    } catch { /* next */ }
  }
  for (const type of ['spki', 'pkcs1'] as const) {
    try {
      return createPublicKey({ key: der, format: 'der', type });
    } catch { /* next */ }
  }
  try {
    return new X509Certificate(der).publicKey;
  } catch {
    throw new KeyFormatError('not a PEM or DER private key, public key or certificate (an encrypted DER key is not read; convert it to PEM first)');
  }
}

export interface FormatOptions {
  /** Output encoding; default: the other one (step's switch). */
  encoding?: Encoding;
  pkcs8?: boolean;
}

/** The key in the requested form: PEM text or DER bytes. Private keys come out in the clear. */
export function formatKey(input: ReadKey, o: FormatOptions): { data: string | Buffer; encoding: Encoding; private: boolean } {
  const encoding = o.encoding ?? (input.encoding === 'pem' ? 'der' : 'pem');
  const { key } = input;
  if (key.type === 'public') return { data: key.export({ type: 'spki', format: encoding as 'pem' }), encoding, private: false };
  const type = o.pkcs8 || key.asymmetricKeyType === 'ed25519' || key.asymmetricKeyType === 'ed448' ? 'pkcs8'
    : key.asymmetricKeyType === 'ec' ? 'sec1'
      : key.asymmetricKeyType === 'rsa' ? 'pkcs1'
        : 'pkcs8';
  return { data: key.export({ type, format: encoding } as { type: 'pkcs8'; format: 'pem' }), encoding, private: true };
}
