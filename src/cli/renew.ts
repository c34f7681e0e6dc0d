// `ca renew`, `ca rekey` and `certificate needs-renewal`. Heavy modules (x509, JOSE) are loaded
// inside the actions, as in ca.ts.
import { Command, InvalidArgumentError, Option } from 'commander';
import { formatDuration, parseDuration } from '../util/duration.js';
import { certificateGroup } from './certificate.js';
import { withClientFlags, clientFlags, type ClientOpts } from './flags.js';
import { CliError, say } from './common.js';
import type { RenewOptions } from '../client/renew.js';



/** A Go duration in ms, or a usage error naming the flag. */
export function durationFlag(flag: string, value: string | undefined, positive = false): number | undefined {
  if (value === undefined) return undefined;
  const ms = parseDuration(value);
  if (ms === null) throw new CliError(`${flag}: '${value}' is not a duration such as 30s, 5m or 8h`, 2);
  if (positive && ms <= 0) throw new CliError(`${flag} must be greater than 0`, 2);
  return ms;
}

async function execArgv(cmd: string | undefined): Promise<string[] | undefined> {
  if (cmd === undefined) return undefined;
  const { splitExec } = await import('../client/schedule.js');
  let argv: string[];
  try {
    argv = splitExec(cmd);
  } catch (e) {
    throw new CliError(`--exec: ${(e as Error).message}`, 2);
  }
  if (argv.length === 0) throw new CliError('--exec is empty', 2);
  return argv;
}

/** `--mtls=false` as step spells it; `--no-mtls` is commander's spelling of the same. */
function parseBool(v: string): boolean {
  if (/^(true|1|yes)$/i.test(v)) return true;
  if (/^(false|0|no)$/i.test(v)) return false;
  throw new InvalidArgumentError('expected true or false');
}

const ago = (ms: number) => formatDuration(Math.max(0, Math.round(ms / 1000)) * 1000);

interface RenewFlags extends ClientOpts {
  force?: boolean; expiresIn?: string; out?: string; exec?: string; daemon?: boolean; renewPeriod?: string; mtls: boolean;
}

interface RekeyFlags extends ClientOpts { force?: boolean; expiresIn?: string; exec?: string; kty?: string; curve?: string; crv?: string; size?: string }

async function runHook(exec: string[] | undefined): Promise<void> {
  if (!exec) return;
  const { runExec } = await import('../client/daemon.js');
  await runExec(exec);
}

function registerRenew(ca: Command): void {
  withClientFlags(ca.command('renew'))
    .description('renew a certificate over mTLS (or a renew token), once or as a daemon')
    .argument('<crt-file>', 'certificate chain to renew (leaf first)')
    .argument('<key-file>', 'its private key')
    .option('-f, --force', 'renew even if 2/3 of the lifetime has not passed yet')
    .option('--expires-in <duration>', 'renew only when the certificate expires within this (default: a third of its lifetime)')
    .option('--out <file>', 'write the new chain here instead of over CRT_FILE')
    .option('--exec <command>', 'run this after each successful renewal (no shell; quotes and \\ escapes honoured)')
    .option('--daemon', 'keep running and renew at ~2/3 of each certificate\'s life, with jitter')
    .option('--renew-period <duration>', 'with --daemon: renew at this fixed interval instead')
    .addOption(new Option('--mtls [bool]', 'authenticate with mTLS (default); --mtls=false sends a renew token instead').argParser(parseBool).default(true))
    .addOption(new Option('--no-mtls', 'same as --mtls=false').hideHelp())
    .action(renewCommand);
}

async function renewCommand(crtFile: string, keyFile: string, o: RenewFlags): Promise<void> {
  const expiresIn = durationFlag('--expires-in', o.expiresIn);
  const renewPeriod = durationFlag('--renew-period', o.renewPeriod, true);
  if (renewPeriod !== undefined && !o.daemon) throw new CliError('--renew-period needs --daemon', 2);
  const exec = await execArgv(o.exec);
  const base = { ...clientFlags(o), keyFile, out: o.out, expiresIn, mtls: o.mtls };
  if (o.daemon) return renewForever(crtFile, base, { expiresIn, renewPeriod }, exec);
  const { renew } = await import('../client/renew.js');
  const r = await renew({ ...base, crtFile, force: o.force });
  if (!r.renewed) {
    say(`certificate not renewed: expires in ${ago(r.old.notAfter.getTime() - Date.now())}`);
    return;
  }
  say(`Your certificate has been saved in ${r.outFile}.`);
  await runHook(exec);
}

/** --daemon: renew at ~2/3 of each certificate's life (or every renewPeriod) until stopped. */
async function renewForever(crtFile: string, base: Omit<RenewOptions, 'crtFile'>, schedule: { expiresIn?: number; renewPeriod?: number }, exec: string[] | undefined): Promise<void> {
  const { renew } = await import('../client/renew.js');
  const { runDaemon } = await import('../client/daemon.js');
  const { loadCertFile } = await import('../client/files.js');
  const { resolve } = await import('node:path');
  // After the first renewal the newest certificate is in --out; keep renewing that one.
  let source = resolve(crtFile);
  await runDaemon({
    schedule,
    readCert: () => loadCertFile(source).leaf,
    renewOnce: async () => {
      const r = await renew({ ...base, crtFile: source, force: true });
      source = r.outFile;
      return r;
    },
    exec,
    log: (line) => say(`${new Date().toISOString()} ${line}`),
  });
}

function registerRekey(ca: Command): void {
  withClientFlags(ca.command('rekey'))
    .description('get a certificate for a new key over mTLS, replacing both files')
    .argument('<crt-file>', 'certificate chain to rekey (leaf first)')
    .argument('<key-file>', 'its private key, replaced by the new one')
    .option('-f, --force', 'rekey even if 2/3 of the lifetime has not passed yet')
    .option('--expires-in <duration>', 'rekey only when the certificate expires within this (default: a third of its lifetime)')
    .option('--exec <command>', 'run this after a successful rekey (no shell)')
    .option('--kty <type>', 'new key type: EC, RSA or OKP (default: as the old key)')
    .option('--curve <curve>', 'EC curve: P-256 or P-384')
    .addOption(new Option('--crv <curve>', 'alias of --curve').hideHelp())
    .option('--size <bits>', 'RSA key size, at least 2048')
    .action(rekeyCommand);
}

async function rekeyCommand(crtFile: string, keyFile: string, o: RekeyFlags): Promise<void> {
  const expiresIn = durationFlag('--expires-in', o.expiresIn);
  const exec = await execArgv(o.exec);
  const curve = o.curve ?? o.crv;
  let spec;
  if (o.kty !== undefined || curve !== undefined || o.size !== undefined) {
    const { keySpecFromFlags } = await import('../client/certificate.js');
    const kty = o.kty ?? (o.size !== undefined ? 'RSA' : /^ed25519$/i.test(curve ?? '') ? 'OKP' : 'EC');
    spec = keySpecFromFlags(kty, curve, o.size);
  }
  const { rekey } = await import('../client/renew.js');
  const r = await rekey({ ...clientFlags(o), crtFile, keyFile, force: o.force, expiresIn, spec });
  if (!r.renewed) {
    say(`certificate not rekeyed: expires in ${ago(r.old.notAfter.getTime() - Date.now())}; pass --force to rekey now`);
    return;
  }
  say(`Your certificate has been saved in ${r.outFile}.`);
  say(`Your private key has been saved in ${keyFile}.`);
  await runHook(exec);
}

function registerNeedsRenewal(program: Command): void {
  certificateGroup(program).command('needs-renewal')
    .description('exit 0 if the certificate is due for renewal (2/3 of its life passed), 1 if not, 2 if missing, 255 on other errors')
    .argument('<crt-file>', 'certificate or chain (the leaf is checked)')
    .option('--expires-in <duration>', 'due when it expires within this (default: a third of its lifetime)')
    .option('-v, --verbose', 'say on stderr whether it is due')
    .action(needsRenewalCommand);
}

async function needsRenewalCommand(crtFile: string, o: { expiresIn?: string; verbose?: boolean }): Promise<void> {
  const expiresIn = durationFlag('--expires-in', o.expiresIn);
  const { loadCertFile } = await import('../client/files.js');
  const { needsRenewal } = await import('../client/schedule.js');
  // Exit 1 means "not due", so errors need other codes. As step: 2 for a missing file, 255 for
  // anything else, which systemd's ExecCondition treats as a failure rather than a skip.
  const { existsSync } = await import('node:fs');
  if (!existsSync(crtFile)) throw new CliError(`${crtFile} does not exist`, 2);
  let leaf;
  try {
    leaf = loadCertFile(crtFile).leaf;
  } catch (e) {
    throw new CliError((e as Error).message, 255);
  }
  const left = leaf.notAfter.getTime() - Date.now();
  if (needsRenewal(leaf, new Date(), expiresIn)) {
    if (o.verbose) say(left > 0 ? `certificate needs renewal: expires in ${ago(left)}` : 'certificate needs renewal: it has expired');
    return;
  }
  if (o.verbose) say(`certificate does not need renewal: expires in ${ago(left)}`);
  process.exitCode = 1;
}

export function registerRenewCommands(program: Command, ca: Command): void {
  registerRenew(ca);
  registerRekey(ca);
  registerNeedsRenewal(program);
}
