// Reading and writing the keys and certificates of the offline verbs (certificate create|sign|p12,
// crypto change-pass|key format): step's password rules, 0600 keys, nothing overwritten.
import { existsSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { readTextExplained } from '../util/read-file.js';
import { CliError, readPasswordFile } from './common.js';

/** The flags of a verb that writes a private key (or a bundle holding one). */
export interface KeyOutput { passwordFile?: string; password?: boolean; insecure?: boolean }

/** step's rule: a key is written in the clear only with --no-password and --insecure together. */
export function keyPassword(o: KeyOutput, what: string, flag = '--password-file'): string | null {
  const noPassword = o.password === false;
  if (noPassword !== !!o.insecure) throw new CliError('--no-password and --insecure go together: both to write an unencrypted key, neither to encrypt it', 2);
  if (noPassword) return null;
  if (!o.passwordFile) throw new CliError(`${flag} is required to encrypt ${what} (or --no-password --insecure to leave it unencrypted)`, 2);
  return readPasswordFile(o.passwordFile);
}

export async function readKey(file: string, passwordFile: string | undefined): Promise<KeyObject> {
  const { loadPrivateKey } = await import('../pki/keys.js');
  const pem = readTextExplained(file, 'the key');
  try {
    return loadPrivateKey(pem, passwordFile ? readPasswordFile(passwordFile) : undefined);
  } catch (e) {
    throw new CliError(`${file}: ${(e as Error).message}`);
  }
}

export async function readCert(file: string) {
  const { parseCertificates } = await import('../pki/pem.js');
  const certs = parseCertificates(readTextExplained(file, 'the certificate'));
  if (!certs.length) throw new CliError(`${file} holds no PEM certificate`);
  return certs;
}

export function refuseOverwrite(...files: string[]): void {
  for (const f of files) if (existsSync(f)) throw new CliError(`${f} already exists; remove it first (nothing is overwritten)`);
}

export async function writeKey(file: string, key: KeyObject, password: string | null): Promise<void> {
  const [{ writeFileAtomic, unencryptedPem }, { encryptPrivateKey }] = await Promise.all([import('../pki/keys.js'), import('../pki/encrypted-key.js')]);
  writeFileAtomic(file, password === null ? unencryptedPem(key) : await encryptPrivateKey(key, password), 0o600);
}
