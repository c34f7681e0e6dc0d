// The command tree. Each verb group registers itself from its own file.
import { Command, CommanderError } from 'commander';
import { VERSION } from '../version.js';
import { CliError } from './common.js';
import { registerServerCommands } from './server.js';
import { registerCaCommands } from './ca.js';
import { registerCertificateCommands } from './certificate.js';
import { registerSystemdCommands } from './systemd.js';
import { registerLedgerCommands } from './ledger.js';
import { registerCrlCommands } from './crl.js';
import { registerBackupCommand } from './maintenance.js';
import { registerOfflineCommands } from './offline.js';
import { registerPkiCommands } from './pki.js';
import { registerCryptoCommands } from './crypto.js';

export function buildProgram(): Command {
  const program = new Command('stepstone')
    .description('A private certificate authority that speaks step-ca\'s protocol')
    .version(VERSION)
    .showHelpAfterError(false)
    .exitOverride();
  registerServerCommands(program);
  registerCaCommands(program);
  registerCertificateCommands(program);
  registerSystemdCommands(program);
  registerLedgerCommands(program);
  registerCrlCommands(program);
  registerBackupCommand(program);
  registerOfflineCommands(program);
  registerCryptoCommands(program);
  registerPkiCommands(program);
  return program;
}

export async function run(argv: string[]): Promise<void> {
  const program = buildProgram();
  program.configureOutput({ writeErr: (s) => process.stderr.write(s) });
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // 'commander.help' with a non-zero exitCode is help shown because no subcommand was given: bad usage.
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || (e.code === 'commander.help' && e.exitCode === 0)) process.exit(0);
      process.exit(2);
    }
    const msg = e instanceof Error ? e.message : String(e);
    process.stderr.write(`error: ${msg.split('\n')[0]}\n`);
    process.exit(e instanceof CliError ? e.exitCode : 1);
  }
}
