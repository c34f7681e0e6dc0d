// Server verbs: init, serve, and dev (what `npm start` runs).
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { layout, resolveHome } from '../config/layout.js';
import type { KeySpec } from '../pki/keys.js';
import type { RunningCa } from '../runtime/serve.js';
import { CliError, collect, readPasswordFile, say } from './common.js';
import { obtainPassword } from './password.js';
import { readTextExplained } from '../util/read-file.js';

// The server and CA modules (fastify, SQLite, x509) load only when a server verb runs, so client
// verbs start fast.
const initCa: typeof import('../authority/init.js').initCa = async (o) => (await import('../authority/init.js')).initCa(o);
const startCa: typeof import('../runtime/serve.js').startCa = async (o) => (await import('../runtime/serve.js')).startCa(o);

function keySpec(kty: string): KeySpec {
  const k = kty.toUpperCase();
  if (k === 'EC') return { kty: 'EC', curve: 'P-256' };
  if (k === 'RSA') return { kty: 'RSA', size: 3072 };
  if (k === 'OKP') return { kty: 'OKP' };
  throw new CliError(`--kty must be EC, RSA or OKP, not ${kty}`, 2);
}

export function registerServerCommands(program: Command): void {
  program.command('init')
    .description('create a root and intermediate CA, a JWK provisioner and ca.json')
    .requiredOption('--name <name>', 'name of the PKI (used in the CA subjects)')
    .requiredOption('--dns <names>', 'DNS names or IPs of the CA, comma separated or repeated', collect)
    .option('--address <host:port>', 'address the CA listens on', ':9000')
    .option('--provisioner <name>', 'name of the first JWK provisioner', 'admin')
    .option('--password-file <file>', 'password for the CA keys and the provisioner key (default: typed at the terminal, twice)')
    .option('--home <dir>', 'CA home (default $STEPPATH or ~/.step)')
    .option('--kty <type>', 'key type for the CA keys: EC (P-256), RSA (3072) or OKP (Ed25519)', 'EC')
    .option('--force', 'overwrite an existing CA')
    .option('--root <crt>', 'bring your own CA: an existing root certificate (its key stays offline)')
    .option('--intermediate <crt>', 'bring your own CA: an intermediate signed by --root, which this CA will sign with')
    .option('--key <key>', 'bring your own CA: the intermediate\'s private key (re-encrypted with --password-file)')
    .option('--key-password-file <file>', 'password of an encrypted --key (default: --password-file)')
    .action(async (o: {
      name: string; dns: string[]; address: string; provisioner: string; passwordFile?: string; home?: string; kty: string; force?: boolean;
      root?: string; intermediate?: string; key?: string; keyPasswordFile?: string;
    }) => {
      const bring = [o.root, o.intermediate, o.key].filter(Boolean).length;
      if (bring && bring !== 3) throw new CliError('--root, --intermediate and --key go together', 2);
      const password = await obtainPassword({ file: o.passwordFile, flag: '--password-file', purpose: 'to encrypt the CA keys and the provisioner key', confirm: true });
      const existing = bring ? {
        rootPem: readTextExplained(o.root!, 'the root certificate'),
        intermediatePem: readTextExplained(o.intermediate!, 'the intermediate certificate'),
        intermediateKeyPem: readTextExplained(o.key!, 'the intermediate key'),
        keyPassword: o.keyPasswordFile ? readPasswordFile(o.keyPasswordFile) : password,
      } : undefined;
      const res = await initCa({
        home: resolveHome(o.home), name: o.name, dnsNames: o.dns, address: o.address, provisioner: o.provisioner,
        password, key: keySpec(o.kty), force: o.force, existing,
      });
      say(`Root certificate: ${res.layout.rootCert}`);
      say(`Intermediate certificate: ${res.layout.intermediateCert}`);
      say(`Config: ${res.layout.caConfig}`);
      process.stdout.write(`Root fingerprint: ${res.fingerprint}\n`);
    });

  program.command('serve')
    .description('run the CA HTTPS API')
    .argument('[config]', 'path to ca.json (default HOME/config/ca.json)')
    .option('--home <dir>', 'CA home (default $STEPPATH or ~/.step)')
    .option('--password-file <file>', 'password of the intermediate CA key (default: typed at the terminal)')
    .option('--address <host:port>', 'override the listen address')
    .option('--replica <name>', 'this replica\'s name in audit records (default stepstone.replica, else the host name); replicas sharing a ca.json set it here')
    .option('--pid-file <file>', 'where to write this process\'s id, for `stepstone reload` (default HOME/stepstone.pid)')
    .option('--workers <n>', 'processes accepting connections on the port, sharing the ledger (default stepstone.workers, else 1: one process)')
    .action(async (config: string | undefined, o: { home?: string; passwordFile?: string; address?: string; replica?: string; pidFile?: string; workers?: string }) => {
      const configPath = config ? resolve(config) : layout(resolveHome(o.home)).caConfig;
      if (o.replica !== undefined && !/^[A-Za-z0-9._:-]{1,64}$/.test(o.replica)) throw new CliError('--replica: letters, digits, . _ : - (at most 64)', 2);
      if (o.workers !== undefined && !/^([1-9]|[1-5][0-9]|6[0-4])$/.test(o.workers)) throw new CliError('--workers: a number from 1 to 64', 2);
      const cluster = await import('../runtime/cluster.js');
      if (cluster.isWorkerProcess()) {
        // Forked by the primary below: it sends the password, and owns the pid file and the signals.
        cluster.runWorker((worker, password) => startCa({ configPath, password, address: o.address, replica: o.replica, worker }), (ca) => drainOnSignal(ca));
        return;
      }
      const loaded = o.workers === undefined ? await loadOffThread(configPath) : undefined;
      const workers = loaded ? loaded.config.stepstone.workers : Number(o.workers);
      const password = await obtainPassword({ file: o.passwordFile, flag: '--password-file', purpose: 'to decrypt the intermediate CA key' });
      if (workers > 1) {
        const { config: c } = loaded ?? await loadOffThread(configPath);
        const { default: pino } = await import('pino');
        const { splitAddress } = await import('../util/address.js');
        try {
          await cluster.runPrimary({
            workers, password, log: pino({ level: c.stepstone.logLevel }).child({ primary: true }), host: splitAddress(o.address ?? c.address).host,
            writePidFile: () => writePidFile(configPath, o.pidFile),
          });
        } catch (e) {
          throw new CliError(`serve --workers ${workers}: ${(e as Error).message}`);
        }
        return;
      }
      const ca = await startCa({ configPath, password, address: o.address, replica: o.replica, loaded });
      const pidFile = writePidFile(configPath, o.pidFile);
      // SIGHUP re-reads ca.json; the outcome (and a refusal's reason) goes to the log.
      process.on('SIGHUP', () => { void ca.reload(); });
      drainOnSignal(ca, pidFile);
    });

  program.command('reload')
    .description('check ca.json, then have the running CA re-read it (SIGHUP): provisioners, claims, policies, templates')
    .argument('[config]', 'path to ca.json (default HOME/config/ca.json)')
    .option('--home <dir>', 'CA home (default $STEPPATH or ~/.step)')
    .option('--pid-file <file>', 'the running CA\'s pid file (default HOME/stepstone.pid)')
    .action(async (config: string | undefined, o: { home?: string; pidFile?: string }) => {
      const configPath = config ? resolve(config) : layout(resolveHome(o.home)).caConfig;
      const { prepareReload } = await import('../authority/reload.js');
      try {
        await prepareReload(configPath);
      } catch (e) {
        throw new CliError(`${(e as Error).message} (nothing sent: the running CA keeps its configuration)`);
      }
      const pidFile = o.pidFile ? resolve(o.pidFile) : defaultPidFile(configPath);
      let pid: number;
      try {
        pid = Number(readTextExplained(pidFile, 'the pid file').trim());
      } catch {
        throw new CliError(`no running CA found: ${pidFile} does not exist (stepstone serve writes it; --pid-file names another)`);
      }
      if (!Number.isInteger(pid) || pid <= 0) throw new CliError(`${pidFile} does not hold a process id`);
      try {
        process.kill(pid, 'SIGHUP');
      } catch (e) {
        throw new CliError(`cannot signal process ${pid} from ${pidFile}: ${(e as NodeJS.ErrnoException).code === 'ESRCH' ? 'it is not running' : (e as Error).message}`);
      }
      say(`${configPath} is valid; sent SIGHUP to the CA (pid ${pid}), which logs "configuration reloaded"`);
    });

  program.command('dev')
    .description('run a development CA inside the checkout, creating it on first run (npm start)')
    .option('--address <host:port>', 'listen address', '127.0.0.1:9000')
    .action(async (o: { address: string }) => {
      const home = process.env.STEPPATH ? resolve(process.env.STEPPATH) : join(repoRoot(), '.stepstone', 'dev');
      const l = layout(home);
      const pwFile = join(home, 'password.txt');
      if (!existsSync(l.caConfig)) {
        mkdirSync(home, { recursive: true, mode: 0o700 });
        writeFileSync(pwFile, `${randomBytes(24).toString('base64url')}\n`, { mode: 0o600 });
        chmodSync(pwFile, 0o600);
        const res = await initCa({
          home, name: 'Stepstone Dev', dnsNames: ['localhost', '127.0.0.1'], address: o.address, provisioner: 'admin',
          password: readPasswordFile(pwFile),
        });
        say(`Created a development CA in ${home}`);
        say(`Root fingerprint: ${res.fingerprint}`);
        say(`Provisioner "admin" password file: ${pwFile}`);
        say('Try, in another shell:');
        say(`  bin/stepstone ca bootstrap --ca-url ${res.caUrl} --fingerprint ${res.fingerprint} --home /tmp/client`);
        say(`  bin/stepstone ca certificate foo.local foo.crt foo.key --provisioner admin --password-file ${pwFile} --home /tmp/client`);
      }
      const ca = await startCa({ configPath: l.caConfig, password: readPasswordFile(pwFile), address: o.address });
      say(`Serving ${ca.url} (Ctrl-C to stop)`);
      drainOnSignal(ca);
    });
}

/** SIGTERM/SIGINT: stop accepting, let in-flight requests finish, close the ledger, exit 0. */
function drainOnSignal(ca: RunningCa, pidFile?: string): void {
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    if (pidFile) rmSync(pidFile, { force: true });
    ca.close().then(() => process.exit(0), (err) => {
      process.stderr.write(`error while stopping: ${(err as Error).message}\n`);
      process.exit(1);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/** Writes this process's id for `stepstone reload`; a default location that cannot be written is only noted. */
function writePidFile(configPath: string, explicit?: string): string | undefined {
  const pidFile = explicit ? resolve(explicit) : defaultPidFile(configPath);
  try {
    writeFileSync(pidFile, `${process.pid}\n`, { mode: 0o644 });
    return pidFile;
  } catch (e) {
    // A read-only home still serves; only an explicit --pid-file must be written.
    if (explicit) throw new CliError(`cannot write --pid-file ${pidFile}: ${(e as Error).message}`);
    say(`note: cannot write ${pidFile} (${(e as NodeJS.ErrnoException).code}); \`stepstone reload\` needs --pid-file, or send SIGHUP yourself`);
    return undefined;
  }
}

/** HOME/stepstone.pid, HOME being the CA home of the config (step's layout). */
function defaultPidFile(configPath: string): string {
  const dir = dirname(resolve(configPath));
  return join(dir.endsWith('/config') ? dirname(dir) : dir, 'stepstone.pid');
}

function repoRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

/** `serve` stays a long-lived process: it reads ca.json the way the server does, off its thread (config/load-off-thread.ts). */
async function loadOffThread(configPath: string) {
  return (await import('../config/load-off-thread.js')).loadConfigOffThread(configPath);
}
