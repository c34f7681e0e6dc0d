// `crypto change-pass` and `crypto key format`: keys re-encrypted or re-encoded, as step's
// `crypto` verbs do.
import type { Command } from 'commander';
import { say } from './common.js';
import { keyPassword, readKey, writeKey } from './key-files.js';

function registerChangePass(crypto: Command): void {
  crypto.command('change-pass')
    .description('re-encrypt a private key with a new password (or decrypt it with --no-password --insecure)')
    .argument('<key>', 'the key file, rewritten in place (0600)')
    .option('--password-file <file>', 'its current password (for an encrypted key)')
    .option('--new-password-file <file>', 'the new password')
    .option('--no-password', 'write it unencrypted (needs --insecure)')
    .option('--insecure', 'allow --no-password')
    .action(async (keyFile: string, o: { passwordFile?: string; newPasswordFile?: string; password?: boolean; insecure?: boolean }) => {
      const next = keyPassword({ passwordFile: o.newPasswordFile, password: o.password, insecure: o.insecure }, 'the key', '--new-password-file');
      const key = await readKey(keyFile, o.passwordFile);
      await writeKey(keyFile, key, next);
      say(`${keyFile} ${next === null ? 'is now unencrypted' : 'is encrypted with the new password'}.`);
    });
}

export function registerCryptoCommands(program: Command): void {
  const crypto = program.command('crypto').description('keys and passwords');
  registerChangePass(crypto);
}
