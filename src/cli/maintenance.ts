// `backup OUT`, `ledger verify` and `ledger copy`: maintenance of the CA's ledger, SQLite or PostgreSQL.
import { existsSync, readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import type { Command } from 'commander';
import { layout, resolveHome } from '../config/layout.js';
import { CliError, say } from './common.js';
import { describeTarget, ledgerTarget, targetOfArgument, type LedgerTarget } from '../ledger/open.js';

/** The ledger and the intermediate certificates (every issuer's) of the CA in `home`: ca.json's when there is one, else the default layout's. */
export async function caFiles(home: string): Promise<{ ledger: LedgerTarget; intermediates: string[] }> {
  const l = layout(home);
  if (!existsSync(l.caConfig)) return { ledger: { kind: 'sqlite', file: l.ledger }, intermediates: [] };
  const { loadConfig } = await import('../config/load.js');
  try {
    const loaded = loadConfig(l.caConfig);
    return { ledger: ledgerTarget(loaded.config.db, loaded.resolvePath), intermediates: (loaded.config.stepstone.issuers?.map((i) => i.crt) ?? [loaded.config.crt]).map(loaded.resolvePath) };
  } catch (e) {
    throw new CliError(`${l.caConfig}: ${(e as Error).message}`);
  }
}

/** A --db/--to/--from argument: a postgresql:// URL or a SQLite file. */
export function targetArgument(arg: string, flag: string): LedgerTarget {
  try {
    return targetOfArgument(arg);
  } catch (e) {
    throw new CliError(`${flag}: ${(e as Error).message}`, 2);
  }
}

export function registerBackupCommand(program: Command): void {
  program.command('backup')
    .description('copy the ledger consistently while the CA serves (SQLite online backup), 0600')
    .argument('<out>', 'the new file to write; never overwritten')
    .option('--home <dir>', 'the CA\'s directory (default $STEPPATH or ~/.step)')
    .action(async (out: string, o: { home?: string }) => {
      const { ledger } = await caFiles(resolveHome(o.home));
      if (ledger.kind === 'postgresql') {
        throw new CliError(`the ledger is in PostgreSQL (${ledger.source.describe}): back it up with pg_dump --format=custom, or copy it into a SQLite file with \`stepstone ledger copy --to ${out}\``);
      }
      if (!existsSync(ledger.file)) throw new CliError(`no ledger at ${ledger.file}`);
      const { backupLedger } = await import('../ledger/maintenance.js');
      try {
        const r = await backupLedger(ledger.file, out);
        say(`backed up ${r.certificates} certificate record${r.certificates === 1 ? '' : 's'} (${r.pages} pages) to ${r.file}`);
      } catch (e) {
        throw new CliError(`backup failed: ${(e as Error).message}`);
      }
    });
}

export function registerLedgerVerify(group: Command): void {
  group.command('verify')
    .description('check the ledger: integrity (SQLite), schema, every row against its certificate and the CA\'s signature, and the audit trail\'s hash chain')
    .option('--home <dir>', 'the CA\'s directory (default $STEPPATH or ~/.step)')
    .option('--db <file|url>', 'a ledger file (a backup, say) or a postgresql:// URL instead of the CA\'s own')
    .option('--issuer <pem>', 'the intermediate that signed the rows (default: the CA\'s, from ca.json)')
    .action(async (o: { home?: string; db?: string; issuer?: string }) => {
      const files = await caFiles(resolveHome(o.home));
      const target = o.db ? targetArgument(o.db, '--db') : files.ledger;
      await runVerify(target, o.issuer ? [o.issuer] : files.intermediates);
    });
}

/** `ledger verify` on `target`: prints each problem, a summary line, and fails on any problem. */
export async function runVerify(target: LedgerTarget, issuerFiles: string[]): Promise<void> {
  const name = describeTarget(target);
  if (target.kind === 'sqlite' && !existsSync(target.file)) throw new CliError(`no ledger at ${target.file}`);
  const issuers = issuerFiles.filter((f) => existsSync(f))
    .flatMap((f) => readFileSync(f, 'utf8').split(/(?=-----BEGIN CERTIFICATE-----)/).filter((b) => b.includes('BEGIN CERTIFICATE')).map((b) => new X509Certificate(b)));
  const { verifyLedger } = await import('../ledger/maintenance.js');
  const { openRaw } = await import('../ledger/raw.js');
  let r;
  try {
    const raw = await openRaw(target, { write: false });
    try {
      r = await verifyLedger(raw, issuers);
    } finally {
      await raw.close();
    }
  } catch (e) {
    throw new CliError(`cannot verify ${name}: ${(e as Error).message}`);
  }
  for (const p of r.problems) process.stdout.write(`${p}\n`);
  process.stdout.write(`${name}: ${r.certificates} certificates (${r.revoked} revoked), schema ${r.schemaVersion}, ${issuers.length ? 'signatures checked' : 'signatures not checked (no issuer)'}\n`);
  if (r.audit) process.stdout.write(`audit trail: ${r.audit.events} events, chain head ${r.audit.head.seq}:${r.audit.head.hash}${r.audit.problem ? ' (broken)' : ''}\n`);
  if (r.problemCount) throw new CliError(`ledger verify: ${r.problemCount} problem${r.problemCount === 1 ? '' : 's'} in ${name}`);
  process.stdout.write('ledger verify: ok\n');
}

export function registerLedgerCopy(group: Command): void {
  group.command('copy')
    .description('copy the whole ledger (certificates, revocations, spent tokens, CRL number, the audit trail) into a new, empty one, then verify the copy')
    .requiredOption('--to <url|file>', 'a postgresql:// URL (an empty database) or a new SQLite file')
    .option('--from <url|file>', 'copy this ledger instead of the CA\'s own')
    .option('--home <dir>', 'the CA\'s directory (default $STEPPATH or ~/.step)')
    .action(async (o: { to: string; from?: string; home?: string }) => {
      const files = await caFiles(resolveHome(o.home));
      const from = o.from ? targetArgument(o.from, '--from') : files.ledger;
      const to = targetArgument(o.to, '--to');
      if (from.kind === 'sqlite' && !existsSync(from.file)) throw new CliError(`no ledger at ${from.file}`);
      const { copyLedger } = await import('../ledger/copy.js');
      let n;
      try {
        n = await copyLedger(from, to);
      } catch (e) {
        throw new CliError(`ledger copy: ${(e as Error).message}`);
      }
      say(`copied ${n.certificates} certificates, ${n.usedTokens} spent tokens and CRL number ${n.crlNumber} from ${describeTarget(from)} to ${describeTarget(to)}`);
      await runVerify(to, files.intermediates);
    });
}
