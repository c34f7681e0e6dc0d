// Reading and writing the keys and certificates of the offline verbs (certificate create|sign|p12,
// crypto change-pass|key format): step's password rules, 0600 keys, nothing overwritten.
import { existsSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { readTextExplained } from '../util/read-file.js';
import { CliError, readPasswordFile } from './common.js';
import { obtainPassword } from './password.js';

/** The flags of a verb that writes a private key (or a bundle holding one). */
export interface KeyOutput { passwordFile?: string; password?: boolean; insecure?: boolean }

/**
 * step's rule: a key is written in the clear only with --no-password and --insecure together;
 * otherwise its password comes from `flag`'s file or, at a terminal, is typed twice.
 */
export async function keyPassword(o: KeyOutput, what: string, flag = '--password-file'): Promise<string | null> {
  const noPassword = o.password === false;
  if (noPassword !== !!o.insecure) throw new CliError('--no-password and --insecure go together: both to write an unencrypted key, neither to encrypt it', 2);
  if (noPassword) return null;
  return obtainPassword({ file: o.passwordFile, flag, purpose: `to encrypt ${what}`, confirm: true, otherwise: '--no-password --insecure to leave it unencrypted' });
}

/** A PEM private key; an encrypted one is opened with `passwordFile`'s password or one typed at the terminal. */
export async function readKey(file: string, passwordFile: string | undefined, flag = '--password-file'): Promise<KeyObject> {
  const { loadPrivateKey } = await import('../pki/keys.js');
  const pem = readTextExplained(file, 'the key');
  const encrypted = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(pem);
  const password = passwordFile !== undefined ? readPasswordFile(passwordFile)
    : encrypted ? await obtainPassword({ file: undefined, flag, purpose: `to decrypt ${file}` }) : undefined;
  try {
    return loadPrivateKey(pem, password);
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
