// `crl root`: the offline, root-signed CRL (see authority/root-crl.ts for why it exists).
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { resolveHome } from '../config/layout.js';
import { parseDuration } from '../util/duration.js';
import { CliError, readPasswordFile, say } from './common.js';

export function registerCrlCommands(program: Command): void {
  const crl = program.command('crl').description('certificate revocation lists signed offline');
  crl.command('root')
    .description('sign a CRL with the root key, for relying parties that check the whole chain (nginx ssl_crl)')
    .requiredOption('--password-file <file>', 'password of the root key')
    .option('--home <dir>', 'CA home (default $STEPPATH or ~/.step)')
    .option('--valid-for <duration>', 'how long the CRL is valid', '8760h')
    .option('--out <file>', 'write the PEM here instead of stdout')
    .action(async (o: { passwordFile: string; home?: string; validFor: string; out?: string }) => {
      const validForMs = parseDuration(o.validFor);
      if (validForMs === null || validForMs <= 0) throw new CliError(`--valid-for: '${o.validFor}' is not a positive duration`, 2);
      const { signRootCrl } = await import('../authority/root-crl.js');
      const res = await signRootCrl({ home: resolveHome(o.home), password: readPasswordFile(o.passwordFile), validForMs });
      if (o.out) writeFileSync(o.out, res.pem, { mode: 0o644 });
      else process.stdout.write(res.pem);
      say(`Root CRL number ${res.number}, valid until ${res.nextUpdate.toISOString()}: sign a new one before then.`);
    });
}
