// The command tree. Each verb group registers itself from its own file.
import { Command, CommanderError } from 'commander';
import { VERSION } from '../version.js';
import { CliError } from './common.js';
import { registerServerCommands } from './server.js';

/**
 * The command tree. `serveOnly` registers just the server verbs: `stepstone serve` is a long-lived
 * process, and every other group's module (client, offline tools, ledger tools) it would load
 * stays in its RSS for good.
 */
export async function buildProgram(serveOnly = false): Promise<Command> {
  const program = new Command('stepstone')
    .description('A private certificate authority that speaks step-ca\'s protocol')
    .version(VERSION)
    .showHelpAfterError(false)
    .exitOverride();
  registerServerCommands(program);
  if (serveOnly) return program;
  const [{ registerCaCommands }, { registerCertificateCommands }, { registerSystemdCommands }, { registerLedgerCommands }, { registerCrlCommands },
    { registerBackupCommand }, { registerOfflineCommands }, { registerPkiCommands }, { registerCryptoCommands }, { registerProvisionerCommands }, { registerAcmeCommands }] = await Promise.all([
    import('./ca.js'), import('./certificate.js'), import('./systemd.js'), import('./ledger.js'), import('./crl.js'),
    import('./maintenance.js'), import('./offline.js'), import('./pki.js'), import('./crypto.js'), import('./provisioner.js'), import('./acme.js'),
  ]);
  registerCaCommands(program);
  registerCertificateCommands(program);
  registerSystemdCommands(program);
  registerLedgerCommands(program);
  registerCrlCommands(program);
  registerBackupCommand(program);
  registerOfflineCommands(program);
  registerCryptoCommands(program);
  registerPkiCommands(program);
  registerProvisionerCommands(program);
  registerAcmeCommands(program);
  return program;
}

export async function run(argv: string[]): Promise<void> {
  // argv[2] is the verb; `serve --help` and friends still work, only the other verbs are absent.
  const program = await buildProgram(argv[2] === 'serve');
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
