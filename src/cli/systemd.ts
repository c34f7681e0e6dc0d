// `systemd renewer`: writes the cert-renewer@ units for this machine's node and stepstone paths.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { resolveHome } from '../config/layout.js';
import { CliError, say } from './common.js';
import { RENEWER_FILES, renewerUnits, type RenewerUnitOptions } from './systemd-units.js';

interface RenewerFlags {
  cert?: string; key?: string; execPost: string[]; outputDir: string; home?: string; caUrl?: string; root?: string; force?: boolean; systemctl: string;
}

/** The script we are running as, as invoked (a /usr/local/bin symlink survives upgrades; its target may not). */
function stepstonePath(): string {
  const script = process.argv[1];
  if (!script) throw new CliError('cannot tell where the stepstone executable is');
  return resolve(script);
}

/** Each --exec-post as argv, in the order given. */
async function hooks(commands: string[]): Promise<string[][]> {
  const { splitExec } = await import('../client/schedule.js');
  return commands.map((cmd) => {
    let argv: string[];
    try {
      argv = splitExec(cmd);
    } catch (e) {
      throw new CliError(`--exec-post: ${(e as Error).message}`, 2);
    }
    if (argv.length === 0) throw new CliError('--exec-post is empty', 2);
    return argv;
  });
}

export function registerSystemdCommands(program: Command): void {
  const group = program.command('systemd').description('generate systemd units');

  group.command('renewer')
    .description('write cert-renewer@.service, cert-renewer@.timer and cert-renewer.target (one instance per certificate)')
    .option('--cert <file>', 'certificate to renew; %i is the instance name (default HOME/certs/%i.crt)')
    .option('--key <file>', 'its key; %i is the instance name (default HOME/certs/%i.key)')
    .option('--exec-post <command>', 'also run this after each renewal (no shell; quotes honoured); repeat for several hooks, run in order', (v: string, p: string[]) => [...p, v], [] as string[])
    .option('--output-dir <dir>', 'where to write the units', '.')
    .option('--home <dir>', 'STEPPATH for the renewer (default $STEPPATH or ~/.step)')
    .option('--ca-url <url>', 'CA URL to pass to `ca renew` (default: from HOME/config/defaults.json at run time)')
    .option('--root <file>', 'root certificate to pass to `ca renew`')
    .option('--systemctl <path>', 'path of systemctl', '/usr/bin/systemctl')
    .option('-f, --force', 'overwrite existing unit files')
    .action(async (o: RenewerFlags) => {
      const home = resolveHome(o.home);
      const execPost = await hooks(o.execPost);
      const opts: RenewerUnitOptions = {
        node: process.execPath,
        stepstone: stepstonePath(),
        home,
        cert: resolve(o.cert ?? join(home, 'certs', '%i.crt')),
        key: resolve(o.key ?? join(home, 'certs', '%i.key')),
        caUrl: o.caUrl,
        root: o.root === undefined ? undefined : resolve(o.root),
        execPost,
        systemctl: o.systemctl,
      };
      const dir = resolve(o.outputDir);
      const units = renewerUnits(opts);
      if (!o.force) {
        for (const name of RENEWER_FILES) if (existsSync(join(dir, name))) throw new CliError(`${join(dir, name)} already exists; pass --force to overwrite it`);
      }
      mkdirSync(dir, { recursive: true });
      for (const name of RENEWER_FILES) {
        writeFileSync(join(dir, name), units[name], { mode: 0o644 });
        say(`Wrote ${join(dir, name)}`);
      }
      say('Install them in /etc/systemd/system, then: systemctl daemon-reload && systemctl enable --now cert-renewer@SERVICE.timer');
    });
}
