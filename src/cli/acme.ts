// `stepstone acme eab add|list|remove`: External Account Binding keys for ACME provisioners with
// "requireEAB" (or any, for clients that send one). `add` prints the key id and the HMAC key
// once, for the ACME client's --eab-kid / --eab-hmac-key; the ledger keeps them for the CA.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { layout, resolveHome } from '../config/layout.js';
import type { Ledger } from '../ledger/ledger.js';
import type { EabKey } from '../ledger/acme-store.js';
import { CliError, say } from './common.js';

/** Results go to stdout (scripts read them); notes go to stderr (say). */
const out = (line: string) => process.stdout.write(`${line}\n`);

interface Opts { home?: string; json?: boolean; reference?: string }

/** The CA's ledger, writable (EAB keys are written while the CA serves; SQLite WAL allows it). */
async function withWritableLedger<T>(home: string, fn: (ledger: Ledger, acmeNames: string[]) => Promise<T>): Promise<T> {
  const l = layout(home);
  if (!existsSync(l.caConfig)) throw new CliError(`no CA at ${home}: pass --home with the CA's directory`);
  const { loadConfig } = await import('../config/load.js');
  const { ledgerTarget } = await import('../ledger/open.js');
  let loaded;
  try {
    loaded = loadConfig(l.caConfig);
  } catch (e) {
    throw new CliError(`${l.caConfig}: ${(e as Error).message}`);
  }
  const names = loaded.config.authority.provisioners.filter((p) => p.type.toUpperCase() === 'ACME').map((p) => p.name);
  const target = ledgerTarget(loaded.config.db, loaded.resolvePath);
  let ledger: Ledger;
  try {
    if (target.kind === 'sqlite') {
      const { openSqliteLedger } = await import('../ledger/sqlite.js');
      ledger = await openSqliteLedger(target.file, { writer: 'inline' });
    } else {
      const { openPostgresLedger } = await import('../ledger/postgres.js');
      ledger = await openPostgresLedger(target.source, { role: 'tool', write: true });
    }
  } catch (e) {
    throw new CliError(`cannot open the ledger: ${(e as Error).message}`);
  }
  try {
    return await fn(ledger, names);
  } finally {
    await ledger.close();
  }
}

function view(k: EabKey): Record<string, unknown> {
  return { keyId: k.keyId, provisioner: k.provisioner, reference: k.reference, createdAt: new Date(k.createdAt).toISOString(), boundTo: k.accountId, boundAt: k.boundAt === null ? null : new Date(k.boundAt).toISOString() };
}

export function registerAcmeCommands(program: Command): void {
  const acme = program.command('acme').description('ACME administration');
  const eab = acme.command('eab').description('External Account Binding keys');

  eab.command('add')
    .description('make an EAB key for an ACME provisioner; prints its key id and HMAC key (shown once)')
    .argument('<provisioner>', 'the ACME provisioner\'s name')
    .option('--reference <text>', 'what the key is for (shown by list)')
    .option('--home <dir>', 'the CA\'s directory (default $STEPPATH or ~/.step)')
    .option('--json', 'print JSON')
    .action(async (provisioner: string, o: Opts) => {
      await withWritableLedger(resolveHome(o.home), async (ledger, names) => {
        if (!names.includes(provisioner)) throw new CliError(`no ACME provisioner named "${provisioner}" in ca.json${names.length ? ` (have: ${names.join(', ')})` : ''}`);
        const key: EabKey = { keyId: randomBytes(16).toString('base64url'), provisioner, hmacKey: randomBytes(32).toString('base64url'), reference: o.reference ?? null, createdAt: Date.now(), accountId: null, boundAt: null };
        await ledger.acme.addEabKey(key);
        if (o.json) out(JSON.stringify({ keyId: key.keyId, hmacKey: key.hmacKey, provisioner, reference: key.reference }));
        else out(`Key ID:   ${key.keyId}\nHMAC key: ${key.hmacKey}`);
      });
    });

  eab.command('list')
    .description('list EAB keys (never their HMAC keys) and the accounts they are bound to')
    .argument('[provisioner]', 'only this provisioner\'s')
    .option('--home <dir>', 'the CA\'s directory (default $STEPPATH or ~/.step)')
    .option('--json', 'print a JSON array')
    .action(async (provisioner: string | undefined, o: Opts) => {
      await withWritableLedger(resolveHome(o.home), async (ledger) => {
        const keys = (await ledger.acme.listEabKeys(provisioner)).map(view);
        if (o.json) return out(JSON.stringify(keys));
        if (!keys.length) return say('no EAB keys');
        for (const k of keys) out(`${k.keyId}  ${k.provisioner}  ${k.reference ?? '-'}  ${k.boundTo ? `bound to ${k.boundTo}` : 'unbound'}`);
      });
    });

  eab.command('remove')
    .description('delete an EAB key (an account already bound by it stays)')
    .argument('<keyId>')
    .option('--home <dir>', 'the CA\'s directory (default $STEPPATH or ~/.step)')
    .action(async (keyId: string, o: Opts) => {
      await withWritableLedger(resolveHome(o.home), async (ledger) => {
        if (!(await ledger.acme.removeEabKey(keyId))) throw new CliError(`no EAB key ${keyId}`);
        say(`removed EAB key ${keyId}`);
      });
    });
}
