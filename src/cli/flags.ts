// Flags several client verbs share, defined once.
import { Option, type Command } from 'commander';
import { resolveHome } from '../config/layout.js';
import type { ClientFlags } from '../client/defaults.js';

export interface ClientOpts { home?: string; caUrl?: string; root?: string; config?: string }

/** The parsed client flags as the client modules take them. */
export function clientFlags(o: ClientOpts): ClientFlags {
  return { home: resolveHome(o.home), caUrl: o.caUrl, root: o.root, config: o.config };
}

/** Where the client finds its CA: home, URL, trusted root. */
export function withClientFlags(cmd: Command): Command {
  return cmd
    .option('--home <dir>', 'client home (default $STEPPATH or ~/.step)')
    .option('--ca-url <url>', 'URL of the CA (default: ca-url from HOME/config/defaults.json)')
    .option('--root <file>', 'root certificate to trust (default: root from defaults.json)')
    .option('--config <file>', 'a defaults.json-style file to read instead of HOME/config/defaults.json (e.g. from `pki gen-config`)');
}

/** step spells some flags differently; both spellings are accepted, step's hidden from help. */
export function stepAlias(flags: string, description: string): Option {
  return new Option(flags, description).hideHelp();
}

/** Which JWK provisioner mints the token, and its password. */
export function withProvisionerFlags(cmd: Command): Command {
  return cmd
    .option('--provisioner <name>', 'JWK provisioner to use (default: the only one)')
    .addOption(stepAlias('--issuer <name>', 'alias of --provisioner'))
    .option('--kid <kid>', 'key id of the provisioner, when several share a name')
    .option('--password-file <file>', 'file holding the provisioner password')
    .addOption(stepAlias('--provisioner-password-file <file>', 'alias of --password-file'));
}
