// step-ca itself, side by side: smallstep's server built from Debian's source package
// golang-github-smallstep-certificates-dev (0.19.0, the version issue 5 quotes), which ships the
// library but not cmd/step-ca. A ten-line main (written below, built into bench/.cache, never
// committed as a binary) runs its server command, commands.AppCommand, on the PKI `stepstone init`
// made: same root, intermediate, encrypted key and JWK provisioner, its own badger database
// (SyncWrites on: an fsync per issuance, as step-ca ships).
//   apt-get install golang-go golang-github-smallstep-certificates-dev
// STEP_CA=/path/to/step-ca uses a binary you already have instead.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, spawnServer, type LocalCa, type RunningServer } from './ca.ts';

const GOCODE = '/usr/share/gocode';
const COMMANDS = join(GOCODE, 'src/github.com/smallstep/certificates/commands');
const CACHE = join(import.meta.dirname, '.cache');

const MAIN_GO = `// Bench shim: step-ca's server command from Debian's library package.
package main

import (
	"fmt"
	"os"

	"github.com/smallstep/certificates/commands"
	"github.com/urfave/cli"
)

func main() {
	app := cli.NewApp()
	app.Name = "step-ca"
	app.Flags = commands.AppCommand.Flags
	app.Action = commands.AppCommand.Action
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
`;

/** The step-ca binary: $STEP_CA, or built once into bench/.cache from Debian's packages. */
export function stepCaBinary(log: (msg: string) => void): string {
  if (process.env.STEP_CA) return process.env.STEP_CA;
  const bin = join(CACHE, 'step-ca');
  if (existsSync(bin)) return bin;
  const go = spawnSync('sh', ['-c', 'command -v go'], { encoding: 'utf8' }).stdout.trim();
  if (!go || !existsSync(COMMANDS)) {
    throw new Error('step-ca is not built and cannot be: apt-get install golang-go golang-github-smallstep-certificates-dev (or set STEP_CA)');
  }
  const gopath = join(CACHE, 'gopath');
  mkdirSync(join(gopath, 'src/stepca'), { recursive: true });
  writeFileSync(join(gopath, 'src/stepca/main.go'), MAIN_GO);
  log('building step-ca 0.19 from Debian\'s golang-github-smallstep-certificates-dev (once; ~30 s)');
  // GOPATH mode: the Debian packages are a GOPATH tree; module mode would want the network.
  const r = spawnSync(go, ['build', '-o', bin, 'stepca'], {
    encoding: 'utf8', cwd: gopath,
    env: { ...process.env, GO111MODULE: 'off', GOPATH: `${gopath}:${GOCODE}`, GOCACHE: join(CACHE, 'gocache'), GOFLAGS: '' },
  });
  if (r.status !== 0) throw new Error(`building step-ca failed:\n${r.stderr}`);
  return bin;
}

/** step-ca on `ca`'s PKI and provisioner, on a free loopback port; ca.cleanup() stops it. */
export async function startStepCa(ca: LocalCa, bin: string): Promise<RunningServer> {
  const ours = JSON.parse(readFileSync(ca.configPath, 'utf8')) as Record<string, unknown>;
  const port = await freePort();
  const { stepstone: _ours, crl: _crl, insecureAddress: _plain, ...common } = ours;
  const config = { ...common, address: `127.0.0.1:${port}`, db: { type: 'badgerv2', dataSource: join(ca.dir, 'step-ca-db') } };
  const file = join(ca.dir, 'step-ca.json');
  writeFileSync(file, JSON.stringify(config, null, 2));
  return spawnServer(ca, 'step-ca', bin, ['--password-file', ca.passwordFile, file], port);
}
