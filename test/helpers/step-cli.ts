// The real step CLI, for interoperability tests: smallstep's `step` 0.15.16 built from Debian's
// source package golang-github-smallstep-cli (issue 15: "the real step CLI's `step ca provisioner
// add` on the same ca.json produces a file we serve"). Nothing of smallstep's is committed: the
// upstream source tarball is fetched with `apt-get source` into test/.cache/step-cli (git-ignored)
// and built there once per machine, in GOPATH mode against the Debian Go packages.
//
// Why not the -dev package alone: golang-github-smallstep-cli-dev ships only part of the tree
// (no flags, jose, token or utils/cautils packages, which `step ca` needs), so the full upstream
// tarball comes from the source package, with the -dev package's patched files laid over it
// (Debian replaces the vendored blackfriday, which its +ds tarball leaves out). Two more changes:
//  - the `main` is ours (upstream's cmd/step/main.go also imports commands whose dependencies
//    Debian does not package, certinfo, zlint, cloudcas...): it registers `step ca` and
//    `step version` the way upstream's does, through command.Register in each package's init();
//  - `step ca init` is replaced by a stub: it is written against certificates 0.15's pki package
//    and Debian's certificates is 0.19. Every other `step ca` subcommand is upstream's code, linked
//    against Debian's certificates 0.19 client library (what step 0.19 itself uses).
// Needs: apt-get install golang-go golang-github-smallstep-cli-dev
//        golang-github-smallstep-certificates-dev golang-github-smallstep-truststore-dev
// and Debian's archive reachable once for the source tarball. STEP_CLI=/path/to/step uses a
// binary you already have instead.
import { spawnSync } from 'node:child_process';
import { closeSync, cpSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

const GOCODE = '/usr/share/gocode/src';
const DEBIAN_CLI = join(GOCODE, 'github.com/smallstep/cli');
const CACHE = join(import.meta.dirname, '..', '.cache', 'step-cli');
const SOURCE_PACKAGE = 'golang-github-smallstep-cli';

export interface StepCli { bin: string; /** First line of `step version`, e.g. "Smallstep CLI/0.15.16 (linux/amd64)". */ version: string }

const MAIN_GO = (version: string) => `// Stepstone test build of smallstep's step CLI: upstream's cmd/step/main.go, less the commands
// whose dependencies Debian does not package. Each imported command package registers itself.
package main

import (
	"fmt"
	"os"

	"github.com/smallstep/cli/command"
	"github.com/smallstep/cli/command/version"
	"github.com/smallstep/cli/config"
	"github.com/smallstep/cli/errs"
	"github.com/smallstep/cli/usage"
	"github.com/urfave/cli"

	_ "github.com/smallstep/cli/command/ca"
)

func init() {
	config.Set("Smallstep CLI", ${JSON.stringify(version)}, "Debian source package")
}

func main() {
	cli.VersionPrinter = func(c *cli.Context) { version.Command(c) }
	cli.AppHelpTemplate = usage.AppHelpTemplate
	cli.SubcommandHelpTemplate = usage.SubcommandHelpTemplate
	cli.CommandHelpTemplate = usage.CommandHelpTemplate
	cli.HelpPrinter = usage.HelpPrinter
	cli.FlagNamePrefixer = usage.FlagNamePrefixer

	app := cli.NewApp()
	app.Name = "step"
	app.HelpName = "step"
	app.Usage = "plumbing for distributed systems"
	app.Version = config.Version()
	app.Commands = command.Retrieve()
	app.Flags = append(app.Flags, cli.StringFlag{Name: "config", Usage: "path to the config file to use for CLI flags"})
	app.Writer = os.Stdout
	app.ErrWriter = os.Stderr
	if err := app.Run(os.Args); err != nil {
		if fe, ok := err.(errs.FriendlyError); ok {
			fmt.Fprintln(os.Stderr, fe.Message())
		} else {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(1)
	}
}
`;

// step 0.15's init.go needs certificates 0.15's pki API; this keeps the ca package compiling.
const INIT_STUB = `package ca

import (
	"errors"

	"github.com/urfave/cli"
)

// Stepstone test build: upstream's init.go is written against certificates 0.15's pki package and
// does not compile with Debian's certificates 0.19.
func initCommand() cli.Command {
	return cli.Command{
		Name:   "init",
		Usage:  "not in this build",
		Action: func(*cli.Context) error { return errors.New("step ca init is not in this build") },
	}
}
`;

/** Why the step CLI cannot be built on this machine, or null when it can (or is built). */
export function stepCliMissing(): string | null {
  if (process.env.STEP_CLI) return existsSync(process.env.STEP_CLI) ? null : `STEP_CLI=${process.env.STEP_CLI} does not exist`;
  if (existsSync(join(CACHE, 'step'))) return null;
  const need: string[] = [];
  if (!goBinary()) need.push('golang-go');
  if (!existsSync(join(DEBIAN_CLI, 'command/ca/provisioner'))) need.push('golang-github-smallstep-cli-dev');
  if (!existsSync(join(GOCODE, 'github.com/smallstep/certificates/ca'))) need.push('golang-github-smallstep-certificates-dev');
  if (!existsSync(join(GOCODE, 'github.com/smallstep/truststore'))) need.push('golang-github-smallstep-truststore-dev');
  return need.length ? `the step CLI cannot be built: apt-get install ${need.join(' ')}` : null;
}

function goBinary(): string {
  return spawnSync('sh', ['-c', 'command -v go'], { encoding: 'utf8' }).stdout.trim();
}

/**
 * The step binary: $STEP_CLI, or test/.cache/step-cli/step, built on first use (2–3 minutes).
 * Test files running at once share one build: the first takes a lock file, the others wait.
 */
export async function stepCli(log: (msg: string) => void = () => {}): Promise<StepCli> {
  const bin = process.env.STEP_CLI ?? join(CACHE, 'step');
  if (!process.env.STEP_CLI && !existsSync(bin)) {
    mkdirSync(CACHE, { recursive: true });
    const release = await lock(join(CACHE, 'build.lock'), log);
    try {
      if (!existsSync(bin)) build(bin, log);
    } finally {
      release();
    }
  }
  const v = spawnSync(bin, ['version'], { encoding: 'utf8' });
  if (v.status !== 0) throw new Error(`${bin} version failed: ${v.stderr}`);
  return { bin, version: v.stdout.split('\n')[0]!.trim() };
}

/** An exclusive lock file holding the owner's pid; one whose owner has died is taken over. */
async function lock(file: string, log: (msg: string) => void): Promise<() => void> {
  const deadline = Date.now() + 15 * 60_000;
  let told = false;
  for (;;) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(file, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const owner = Number(readFileSync(file, 'utf8') || 0);
    if (owner && !alive(owner)) {
      rmSync(file, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`${file} held by pid ${owner} for 15 minutes`);
    if (!told) log(`waiting for pid ${owner}, which is building the step CLI`);
    told = true;
    await new Promise((r) => setTimeout(r, 500));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stderr}${r.error ?? ''}`);
  return r.stdout;
}

function build(bin: string, log: (msg: string) => void): void {
  const missing = stepCliMissing();
  if (missing) throw new Error(missing);
  // The source package of the installed -dev package, so both halves are the same release.
  const debVersion = run('dpkg-query', ['-W', '-f=${Version}', 'golang-github-smallstep-cli-dev']).trim();
  const upstream = debVersion.replace(/^\d+:/, '').replace(/(\+ds)?-[^-]+$/, '');
  const tarball = fetchSourceTarball(debVersion, log);

  const gopath = join(CACHE, 'gopath');
  rmSync(gopath, { recursive: true, force: true });
  const tree = join(gopath, 'src/github.com/smallstep/cli');
  mkdirSync(tree, { recursive: true });
  run('tar', ['xzf', tarball, '-C', tree, '--strip-components=1']);
  cpSync(DEBIAN_CLI, tree, { recursive: true, force: true });
  writeFileSync(join(tree, 'command/ca/init.go'), INIT_STUB);
  mkdirSync(join(gopath, 'src/stepcli'), { recursive: true });
  writeFileSync(join(gopath, 'src/stepcli/main.go'), MAIN_GO(upstream));

  log(`building step ${upstream} from Debian's ${SOURCE_PACKAGE} ${debVersion} (once per machine: 2–3 minutes cold on a busy 2-core machine, ~10 s for another checkout on the same machine, whose compiled packages Go's build cache already holds)`);
  // GOPATH mode: the Debian packages are a GOPATH tree; module mode would want the network. The
  // cache's tree comes first, so it shadows the -dev package's partial copy of the same import path.
  const tmp = `${bin}.${process.pid}.tmp`;
  // -trimpath and Go's own per-user build cache: compiled packages do not depend on where the
  // checkout is, so a second clone on the same machine (CI's) links in seconds instead of
  // compiling smallstep's dependency tree again.
  run(goBinary(), ['build', '-trimpath', '-o', tmp, 'stepcli'], {
    cwd: gopath,
    env: { ...process.env, GO111MODULE: 'off', GOPATH: `${gopath}:/usr/share/gocode`, GOFLAGS: '', CGO_CFLAGS: '-g -O2 -w' },
  });
  renameSync(tmp, bin);
}

/**
 * The upstream tarball of `golang-github-smallstep-cli` at `debVersion`, with `apt-get source`.
 * The machine lists binary packages only, so a private apt state in the cache lists the sources
 * of the same Debian archives (deb-src for each deb entry of its Debian sources files); the
 * machine's own apt configuration is left alone.
 */
function fetchSourceTarball(debVersion: string, log: (msg: string) => void): string {
  const dir = join(CACHE, 'source');
  const have = () => (existsSync(dir) ? readdirSync(dir).find((f) => /\.orig\.tar\.(gz|xz)$/.test(f)) : undefined);
  if (have()) return join(dir, have()!);
  const apt = join(CACHE, 'apt');
  const parts = join(apt, 'sources.list.d');
  mkdirSync(join(apt, 'lists/partial'), { recursive: true });
  mkdirSync(join(apt, 'archives/partial'), { recursive: true });
  mkdirSync(parts, { recursive: true });
  mkdirSync(dir, { recursive: true });
  let entries = 0;
  for (const f of existsSync('/etc/apt/sources.list.d') ? readdirSync('/etc/apt/sources.list.d') : []) {
    if (!f.endsWith('.sources')) continue;
    const text = readFileSync(join('/etc/apt/sources.list.d', f), 'utf8');
    if (!/debian-archive-keyring/.test(text)) continue; // Debian's own archives, not third parties'
    writeFileSync(join(parts, f), text.replace(/^Types:.*$/gm, 'Types: deb-src'));
    entries++;
  }
  if (existsSync('/etc/apt/sources.list')) {
    const lines = readFileSync('/etc/apt/sources.list', 'utf8').split('\n').filter((l) => /^deb\s/.test(l)).map((l) => l.replace(/^deb\s/, 'deb-src '));
    if (lines.length) {
      writeFileSync(join(parts, 'sources.list'), `${lines.join('\n')}\n`);
      entries++;
    }
  }
  if (!entries) throw new Error('no Debian archive in /etc/apt to fetch the step CLI\'s source package from');
  const opts = [
    '-o', 'Dir::Etc::SourceList=/dev/null', '-o', `Dir::Etc::SourceParts=${parts}`,
    '-o', `Dir::State::Lists=${join(apt, 'lists')}`, '-o', `Dir::Cache=${apt}`,
    '-o', 'APT::Sandbox::User=root', '-qq',
  ];
  log(`fetching Debian's ${SOURCE_PACKAGE} ${debVersion} source tarball`);
  run('apt-get', [...opts, 'update']);
  run('apt-get', [...opts, 'source', '--download-only', '--tar-only', `${SOURCE_PACKAGE}=${debVersion}`], { cwd: dir });
  if (!have()) throw new Error(`apt-get source left no upstream tarball in ${dir}`);
  return join(dir, have()!);
}
