// `ledger list|show|export`: read the CA's own ledger (its SQLite file on the CA's machine, or its
// PostgreSQL database). Nothing here writes to it: the file is opened read-only whenever its
// schema is current, PostgreSQL sessions are read-only.
import { existsSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { layout, resolveHome } from '../config/layout.js';
import type { CertificateFilter, Ledger, StoredCertificate } from '../ledger/ledger.js';
import { parseSerial, reasonName } from '../client/revoke.js';
import { parseTimeOrDuration } from '../util/duration.js';
import { CliError, say } from './common.js';
import { caFiles, registerLedgerCopy, registerLedgerVerify } from './maintenance.js';
import { describeTarget } from '../ledger/open.js';
import { registerLedgerEvents } from './events.js';

interface HomeOpts { home?: string }
interface FilterOpts extends HomeOpts { expiring?: string; revoked?: boolean; provisioner?: string; limit?: number }

/** The CA's ledger, SQLite read-only or PostgreSQL in read-only sessions. */
async function openCaLedger(home: string): Promise<{ ledger: Ledger; name: string }> {
  const { ledger: target } = await caFiles(home);
  const name = describeTarget(target);
  if (target.kind === 'sqlite' && !existsSync(target.file)) {
    throw new CliError(existsSync(layout(home).caConfig)
      ? `no ledger at ${target.file} yet: the CA creates it when it first serves`
      : `no ledger at ${target.file}: the ledger tools run where the CA runs; pass --home with the CA's directory`);
  }
  const { openLedger } = await import('../ledger/open.js');
  try {
    return { ledger: await openLedger(target, { role: 'tool' }), name };
  } catch (e) {
    throw new CliError(`cannot open the ledger ${name}: ${(e as Error).message}`);
  }
}

export async function withLedger<T>(home: string | undefined, fn: (ledger: Ledger, name: string) => Promise<T>): Promise<T> {
  const { ledger, name } = await openCaLedger(resolveHome(home));
  try {
    return await fn(ledger, name);
  } finally {
    await ledger.close();
  }
}

function filterOf(o: FilterOpts, now = new Date()): CertificateFilter {
  let expiringBefore: Date | undefined;
  if (o.expiring !== undefined) {
    try {
      expiringBefore = parseTimeOrDuration(o.expiring, now) ?? undefined;
    } catch {
      throw new CliError(`--expiring: '${o.expiring}' is neither a duration such as 48h nor an RFC 3339 time`, 2);
    }
    if (expiringBefore && expiringBefore <= now) throw new CliError('--expiring must lie in the future', 2);
  }
  return { expiringBefore, provisioner: o.provisioner, revoked: o.revoked, limit: o.limit };
}

function parseLimit(v: string): number {
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) throw new InvalidArgumentError('expected a non-negative integer');
  return Number(v);
}

const iso = (d: Date | null) => (d ? d.toISOString().replace(/\.000Z$/, 'Z') : null);
const hexOf = (serial: string) => BigInt(serial).toString(16);

/** A record as JSON: dates in RFC 3339, the serial also in hex (as openssl prints it). */
function recordJson(c: StoredCertificate, withPem: boolean): Record<string, unknown> {
  return {
    serial: c.serial,
    serialHex: hexOf(c.serial),
    subject: c.subject,
    sans: c.sans,
    notBefore: iso(c.notBefore),
    notAfter: iso(c.notAfter),
    issuedAt: iso(c.issuedAt),
    fingerprint: c.fingerprint,
    provisioner: c.provisioner,
    // null: recorded before issuers were (the "default" issuer's).
    issuer: c.issuer ?? null,
    method: c.method,
    replaces: c.replaces,
    revoked: c.revokedAt !== null,
    revokedAt: iso(c.revokedAt),
    revocationReasonCode: c.revocationReasonCode,
    revocationReasonName: c.revokedAt ? reasonName(c.revocationReasonCode) : null,
    revocationReason: c.revocationReason,
    ...(withPem ? { pem: c.pem } : {}),
  };
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd();
  return `${[header, ...rows].map(line).join('\n')}\n`;
}

function revokedCell(c: StoredCertificate): string {
  return c.revokedAt ? `${iso(c.revokedAt)} ${reasonName(c.revocationReasonCode)}` : '-';
}

function filterOptions(cmd: Command): Command {
  return cmd
    .option('--home <dir>', 'the CA\'s directory (default $STEPPATH or ~/.step); the ledger is its ca.json db.dataSource')
    .option('--expiring <duration|time>', 'only certificates that expire within this (e.g. 48h) or before this RFC 3339 time, and have not yet')
    .option('--revoked', 'only revoked certificates')
    .option('--provisioner <name>', 'only certificates this provisioner authorised');
}

export function registerLedgerCommands(program: Command): void {
  const group = program.command('ledger').description('read the CA\'s issuance ledger, or copy it between SQLite and PostgreSQL');
  registerLedgerVerify(group);
  registerLedgerCopy(group);
  registerLedgerEvents(group);

  filterOptions(group.command('list'))
    .description('list issued certificates, oldest first')
    .option('--limit <n>', 'at most this many', parseLimit)
    .option('--json', 'print a JSON array instead of a table')
    .action(async (o: FilterOpts & { json?: boolean }) => {
      const filter = filterOf(o);
      await withLedger(o.home, async (ledger) => {
        const list = await ledger.listCertificates(filter);
        if (o.json) {
          process.stdout.write(`${JSON.stringify(list.map((c) => recordJson(c, false)), null, 2)}\n`);
          return;
        }
        const rows = list.map((c) => [c.serial, c.subject, c.sans.join(','), iso(c.notAfter)!, c.provisioner ?? '-', c.method, revokedCell(c)]);
        process.stdout.write(table(['SERIAL', 'SUBJECT', 'SANS', 'NOT AFTER', 'PROVISIONER', 'METHOD', 'REVOKED'], rows));
        say(`${list.length} certificate${list.length === 1 ? '' : 's'}`);
      });
    });

  group.command('show')
    .description('one certificate\'s record and its renewal lineage')
    .argument('<serial>', 'serial number, decimal or 0x-hex')
    .option('--home <dir>', 'the CA\'s directory (default $STEPPATH or ~/.step)')
    .option('--json', 'print JSON (the record, with a lineage array)')
    .action(async (serialText: string, o: HomeOpts & { json?: boolean }) => {
      const serial = parseSerial(serialText);
      await withLedger(o.home, async (ledger, file) => {
        const c = await ledger.getCertificate(serial);
        if (!c) throw new CliError(`no certificate with serial ${serial} in ${file}`);
        const lineage = await ledger.lineage(serial);
        if (o.json) {
          const lin = lineage.map((l) => ({ ...recordJson(l, false), selected: l.serial === serial }));
          process.stdout.write(`${JSON.stringify({ ...recordJson(c, true), lineage: lin }, null, 2)}\n`);
          return;
        }
        const revoked = c.revokedAt
          ? `${iso(c.revokedAt)}, ${reasonName(c.revocationReasonCode)} (${c.revocationReasonCode})${c.revocationReason ? `: ${c.revocationReason}` : ''}`
          : 'no';
        const fields: [string, string][] = [
          ['Serial', `${c.serial} (0x${hexOf(c.serial)})`],
          ['Subject', c.subject || '(empty)'],
          ['SANs', c.sans.join(', ') || '(none)'],
          ['Not before', iso(c.notBefore)!],
          ['Not after', iso(c.notAfter)!],
          ['Issued', `${iso(c.issuedAt)} by ${c.method}${c.provisioner ? ` (provisioner ${c.provisioner})` : ''}`],
          ['Issuer', c.issuer ?? '(default, recorded before issuers were)'],
          ['Replaces', c.replaces ?? '-'],
          ['Fingerprint', c.fingerprint],
          ['Revoked', revoked],
        ];
        let out = fields.map(([k, v]) => `${`${k}:`.padEnd(13)}${v}`).join('\n');
        out += `\nLineage (oldest first; * is this certificate):\n`;
        out += table(['', 'SERIAL', 'METHOD', 'ISSUED', 'NOT AFTER', 'REVOKED'], lineage.map((l) => [
          l.serial === serial ? '*' : '', l.serial, l.method, iso(l.issuedAt)!, iso(l.notAfter)!, revokedCell(l),
        ])).trimEnd().replace(/^/gm, '  ');
        process.stdout.write(`${out}\n`);
      });
    });

  filterOptions(group.command('export'))
    .description('write the (filtered) certificates as a PEM bundle or a JSON array')
    .addOption(new Option('--format <format>', 'pem or json').choices(['pem', 'json']).default('pem'))
    .option('--out <file>', 'write here instead of stdout')
    .option('-f, --force', 'overwrite --out if it exists')
    .action(async (o: FilterOpts & { format: 'pem' | 'json'; out?: string; force?: boolean }) => {
      const filter = filterOf(o);
      if (o.out && existsSync(o.out) && !o.force) throw new CliError(`${o.out} already exists; pass --force to overwrite it`);
      const { data, count } = await withLedger(o.home, async (ledger) => {
        const list = await ledger.listCertificates(filter);
        const text = o.format === 'json'
          ? `${JSON.stringify(list.map((c) => recordJson(c, true)), null, 2)}\n`
          : list.map((c) => (c.pem.endsWith('\n') ? c.pem : `${c.pem}\n`)).join('');
        return { data: text, count: list.length };
      });
      if (!o.out) {
        process.stdout.write(data);
        return;
      }
      const { writeFileAtomic } = await import('../pki/keys.js');
      // Certificates are public; the ledger file itself stays 0600.
      writeFileAtomic(o.out, data, 0o644);
      say(`${count} certificate${count === 1 ? '' : 's'} written to ${o.out}.`);
    });
}
