// `pki init|issue|gen-config`: a directory PKI for clusters and services (src/offline/pki-dir.ts).
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { parseTimeOrDuration } from '../util/duration.js';
import { CliError, collect, readPasswordFile, say } from './common.js';

function keySpec(kty: string) {
  const k = kty.toUpperCase();
  if (k === 'EC') return { kty: 'EC', curve: 'P-256' } as const;
  if (k === 'RSA') return { kty: 'RSA', size: 2048 } as const;
  if (k === 'OKP') return { kty: 'OKP' } as const;
  throw new CliError(`--kty must be EC, RSA or OKP, not ${kty}`, 2);
}

function notAfterOf(v: string | undefined): Date | undefined {
  if (v === undefined) return undefined;
  const t = parseTimeOrDuration(v, new Date());
  if (!t) throw new CliError(`--not-after: '${v}' is neither a duration such as 8760h nor an RFC 3339 time`, 2);
  return t;
}

/**
 * --pki-directory lives on the `pki` group, so wmctl's order (`pki --pki-directory DIR init`) and
 * ours (`pki init --pki-directory DIR`) both parse: commander reads a group's options on either
 * side of the verb.
 */
function pkiDirectory(cmd: Command): string {
  const dir = (cmd.optsWithGlobals() as { pkiDirectory?: string }).pkiDirectory;
  if (!dir) throw new CliError(`${cmd.name()}: --pki-directory <dir> is required`, 2);
  return resolve(dir);
}

export function registerPkiCommands(program: Command): void {
  const pki = program.command('pki').description('a directory PKI: ca/{ca.crt,tls.crt,tls.key} and nodes/NAME/{ca.crt,tls.crt,tls.key}')
    .option('--pki-directory <dir>', 'the PKI directory (before or after the verb)')
    .configureHelp({ showGlobalOptions: true });
  const run = async <T>(f: () => Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (e) {
      throw e instanceof CliError ? e : new CliError((e as Error).message);
    }
  };

  pki.command('init')
    .description('create the CA and an admin node')
    .option('--name <name>', 'name of the PKI (the CA is "NAME CA")', 'Stepstone')
    .option('--kty <type>', 'EC (P-256), RSA (2048) or OKP (Ed25519)', 'EC')
    .option('--not-after <time|duration>', 'end of the CA\'s validity (default 10 years)')
    .option('--password-file <file>', 'encrypt the CA key with this password (node keys stay plain for their consumers)')
    .action(async (o: { name: string; kty: string; notAfter?: string; passwordFile?: string }, cmd: Command) => {
      const dir = pkiDirectory(cmd);
      const { initPki } = await import('../offline/pki-dir.js');
      const p = await run(() => initPki(dir, { name: o.name, key: keySpec(o.kty), notAfter: notAfterOf(o.notAfter), password: o.passwordFile ? readPasswordFile(o.passwordFile) : undefined }));
      say(`CA: ${p.caCert}`);
      say(`admin node: ${p.node('admin').dir}`);
    });

  pki.command('issue')
    .description('issue a node certificate (server and client auth) from the directory\'s CA')
    .requiredOption('--name <node>', 'node name (also its CN, and its SAN when no --san is given)')
    .option('--san <name>', 'subject alternative name (repeat or comma-separate)', collect, [])
    .option('--kty <type>', 'EC (P-256), RSA (2048) or OKP (Ed25519)', 'EC')
    .option('--not-after <time|duration>', 'end of validity (default 1 year)')
    .option('--password-file <file>', 'password of the CA key, if it is encrypted')
    .action(async (o: { name: string; san: string[]; kty: string; notAfter?: string; passwordFile?: string }, cmd: Command) => {
      const dir = pkiDirectory(cmd);
      const { issueNode } = await import('../offline/pki-dir.js');
      const node = await run(() => issueNode(dir, { name: o.name, sans: o.san, key: keySpec(o.kty), notAfter: notAfterOf(o.notAfter), password: o.passwordFile ? readPasswordFile(o.passwordFile) : undefined }));
      say(`node ${o.name}: ${node.dir}`);
    });

  pki.command('gen-config')
    .description('write a client config (CA URL, root, admin certificate and key) for `stepstone ca ... --config FILE`')
    .requiredOption('--server <host:port>', 'the CA\'s address')
    .requiredOption('--output <file>', 'the config file to write')
    .option('-f, --force', 'overwrite --output if it exists')
    .action(async (o: { server: string; output: string; force?: boolean }, cmd: Command) => {
      const dir = pkiDirectory(cmd);
      const [{ pkiPaths }, { readFileSync, existsSync }, { writeFileAtomic }, { sha256Hex }, { pemBlocks }] = await Promise.all([
        import('../offline/pki-dir.js'), import('node:fs'), import('../pki/keys.js'), import('../pki/fingerprint.js'), import('../pki/pem.js'),
      ]);
      const p = pkiPaths(dir);
      if (!existsSync(p.caCert)) throw new CliError(`${dir} holds no PKI (no ${p.caCert})`);
      if (!/^[^\s/:]+:\d+$|^\[[0-9a-f:]+\]:\d+$/i.test(o.server)) throw new CliError(`--server must be HOST:PORT, not ${o.server}`, 2);
      const output = resolve(o.output);
      if (existsSync(output) && !o.force) throw new CliError(`${o.output} already exists; pass --force to overwrite it`);
      const admin = p.node('admin');
      const config = {
        'ca-url': `https://${o.server}`,
        fingerprint: sha256Hex(pemBlocks(readFileSync(p.caCert, 'utf8'), 'CERTIFICATE')[0]!),
        root: p.caCert,
        certificate: admin.cert,
        key: admin.key,
      };
      writeFileAtomic(output, `${JSON.stringify(config, null, 2)}\n`, 0o600);
      say(`client config: ${output}`);
    });
}
