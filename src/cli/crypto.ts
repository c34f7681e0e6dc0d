// `crypto change-pass` and `crypto key format`: keys re-encrypted or re-encoded, as step's
// `crypto` verbs do.
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { readFileExplained } from '../util/read-file.js';
import { CliError, readPasswordFile, say } from './common.js';
import { keyPassword, readKey, writeKey } from './key-files.js';
import { canPrompt, obtainPassword } from './password.js';

function registerChangePass(crypto: Command): void {
  crypto.command('change-pass')
    .description('re-encrypt a private key with a new password (or decrypt it with --no-password --insecure)')
    .argument('<key>', 'the key file, rewritten in place (0600)')
    .option('--password-file <file>', 'its current password (for an encrypted key)')
    .option('--new-password-file <file>', 'the new password')
    .option('--no-password', 'write it unencrypted (needs --insecure)')
    .option('--insecure', 'allow --no-password')
    .action(async (keyFile: string, o: { passwordFile?: string; newPasswordFile?: string; password?: boolean; insecure?: boolean }) => {
      const key = await readKey(keyFile, o.passwordFile);
      const next = await keyPassword({ passwordFile: o.newPasswordFile, password: o.password, insecure: o.insecure }, 'the key', '--new-password-file');
      await writeKey(keyFile, key, next);
      say(`${keyFile} ${next === null ? 'is now unencrypted' : 'is encrypted with the new password'}.`);
    });
}

interface FormatFlags {
  pkcs8?: boolean; pem?: boolean; der?: boolean; out?: string; force?: boolean;
  passwordFile?: string; newPasswordFile?: string; password?: boolean; insecure?: boolean;
}

function registerKeyFormat(crypto: Command): void {
  const key = crypto.command('key').description('work with key files');
  key.command('format')
    .description('re-encode a key (or a certificate\'s public key): PEM in gives DER out and DER in gives PEM out unless --pem or --der says; '
      + 'private EC keys as SEC1, RSA as PKCS#1, Ed25519 as PKCS#8, unless --pkcs8')
    .argument('<key-file>', 'private key, public key or certificate, PEM or DER')
    .option('--pkcs8', 'write a private key as PKCS#8 (what Envoy and Java want)')
    .option('--pem', 'write PEM')
    .option('--der', 'write DER')
    .option('--out <file>', 'write here instead of stdout (0600 for a private key)')
    .option('-f, --force', 'overwrite --out if it exists')
    .option('--password-file <file>', 'password of an encrypted input key')
    .option('--new-password-file <file>', 'encrypt the private key written (PEM, PKCS#8) with this password')
    .option('--no-password', 'write the private key unencrypted (needs --insecure)')
    .option('--insecure', 'allow --no-password')
    .action(formatKeyFile);
}

async function formatKeyFile(file: string, o: FormatFlags): Promise<void> {
  if (o.pem && o.der) throw new CliError('--pem and --der cannot be used together', 2);
  if (o.out && existsSync(o.out) && !o.force) throw new CliError(`${o.out} already exists; pass --force to overwrite it`);
  const { readAnyKey, formatKey, KeyFormatError } = await import('../offline/key-format.js');
  let input;
  try {
    input = await readAnyKey(readFileExplained(file, 'the key'), async () => (o.passwordFile === undefined
      ? (canPrompt() ? obtainPassword({ flag: '--password-file', purpose: `to decrypt ${file}` }) : undefined)
      : readPasswordFile(o.passwordFile)));
  } catch (e) {
    if (e instanceof KeyFormatError) throw new CliError(`${file}: ${e.message}`);
    throw e;
  }
  let out = formatKey(input, { encoding: o.pem ? 'pem' : o.der ? 'der' : undefined, pkcs8: o.pkcs8 });
  if (out.private) {
    const password = await keyPassword({ passwordFile: o.newPasswordFile, password: o.password, insecure: o.insecure }, 'the private key', '--new-password-file');
    if (password !== null) {
      // Only PKCS#8 has a standard encrypted form, and only its PEM is what our key readers take.
      if (out.encoding === 'der') throw new CliError('an encrypted private key is written as PEM: pass --pem, or --no-password --insecure for a DER key in the clear', 2);
      const { encryptPrivateKey } = await import('../pki/encrypted-key.js');
      out = { ...out, data: await encryptPrivateKey(input.key, password) };
    }
  }
  if (!o.out) {
    process.stdout.write(out.data);
    return;
  }
  const { writeFileAtomic } = await import('../pki/keys.js');
  writeFileAtomic(o.out, out.data, out.private ? 0o600 : 0o644);
  say(`Your key has been saved in ${o.out}.`);
}

export function registerCryptoCommands(program: Command): void {
  const crypto = program.command('crypto').description('keys and passwords');
  registerChangePass(crypto);
  registerKeyFormat(crypto);
}
