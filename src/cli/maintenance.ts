// `backup OUT` and `ledger verify`: maintenance of the ledger file on the CA's machine.
import { existsSync, readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import type { Command } from 'commander';
import { layout, resolveHome } from '../config/layout.js';
import { CliError, say } from './common.js';

/** The ledger file and the intermediate certificate of the CA in `home`: ca.json's when there is one, else the default layout's. */
export async function caFiles(home: string): Promise<{ ledger: string; intermediate: string | null }> {
  const l = layout(home);
  if (!existsSync(l.caConfig)) return { ledger: l.ledger, intermediate: null };
  const { loadConfig } = await import('../config/load.js');
  let loaded;
  try {
    loaded = loadConfig(l.caConfig);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  const { db } = loaded.config;
  if (db.type.toLowerCase() !== 'sqlite') throw new CliError(`${l.caConfig}: db.type "${db.type}" is not a ledger these tools can read (only sqlite)`);
  return { ledger: loaded.resolvePath(db.dataSource), intermediate: loaded.resolvePath(loaded.config.crt) };
}

export function registerBackupCommand(program: Command): void {
  program.command('backup')
    .description('copy the ledger consistently while the CA serves (SQLite online backup), 0600')
    .argument('<out>', 'the new file to write; never overwritten')
    .option('--home <dir>', 'the CA\'s directory (default $STEPPATH or ~/.step)')
    .action(async (out: string, o: { home?: string }) => {
      const { ledger } = await caFiles(resolveHome(o.home));
      if (!existsSync(ledger)) throw new CliError(`no ledger at ${ledger}`);
      const { backupLedger } = await import('../ledger/maintenance.js');
      try {
        const r = await backupLedger(ledger, out);
        say(`backed up ${r.certificates} certificate record${r.certificates === 1 ? '' : 's'} (${r.pages} pages) to ${r.file}`);
      } catch (e) {
        throw new CliError(`backup failed: ${(e as Error).message}`);
      }
    });
}

export function registerLedgerVerify(group: Command): void {
  group.command('verify')
    .description('check the ledger: SQLite integrity, schema, and every row against its certificate and the CA\'s signature')
    .option('--home <dir>', 'the CA\'s directory (default $STEPPATH or ~/.step)')
    .option('--db <file>', 'a ledger file (a backup, say) instead of the CA\'s own')
    .option('--issuer <pem>', 'the intermediate that signed the rows (default: the CA\'s, from ca.json)')
    .action(async (o: { home?: string; db?: string; issuer?: string }) => {
      const files = await caFiles(resolveHome(o.home));
      const file = o.db ?? files.ledger;
      if (!existsSync(file)) throw new CliError(`no ledger at ${file}`);
      const issuerFile = o.issuer ?? files.intermediate;
      const issuers = issuerFile && existsSync(issuerFile)
        ? readFileSync(issuerFile, 'utf8').split(/(?=-----BEGIN CERTIFICATE-----)/).filter((b) => b.includes('BEGIN CERTIFICATE')).map((b) => new X509Certificate(b))
        : [];
      const { verifyLedger } = await import('../ledger/maintenance.js');
      let r;
      try {
        r = verifyLedger(file, issuers);
      } catch (e) {
        throw new CliError(`cannot verify ${file}: ${(e as Error).message}`);
      }
      for (const p of r.problems) process.stdout.write(`${p}\n`);
      process.stdout.write(`${file}: ${r.certificates} certificates (${r.revoked} revoked), schema ${r.schemaVersion}, ${issuers.length ? 'signatures checked' : 'signatures not checked (no issuer)'}\n`);
      if (r.problemCount) throw new CliError(`ledger verify: ${r.problemCount} problem${r.problemCount === 1 ? '' : 's'} in ${file}`);
      process.stdout.write('ledger verify: ok\n');
    });
}
