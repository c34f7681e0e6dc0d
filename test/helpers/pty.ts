// Runs the stepstone CLI on a pseudo-terminal (util-linux `script`), so stdin is a TTY as it is
// for a person at a shell: for the password prompts. Output is the terminal's (stdout and stderr
// together, \r\n line ends); what is typed is never echoed back by a hidden prompt.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { BIN } from './ca.ts';

export interface PtyRun {
  proc: ChildProcess;
  /** Everything the terminal showed so far. */
  output(): string;
  /** Resolves when the output matches (from `from` on); rejects with the transcript after `timeoutMs`. */
  waitFor(re: RegExp, timeoutMs?: number, from?: number): Promise<RegExpExecArray>;
  /** Types a line, as Enter sends it (\r). */
  typeLine(text: string): void;
  exited: Promise<number | null>;
  /** Stops the CLI (SIGTERM) and the terminal, and waits for `script` to exit. */
  close(): Promise<void>;
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export function cliInPty(args: string[], env: NodeJS.ProcessEnv = {}): PtyRun {
  const cli = [process.execPath, BIN, ...args];
  const command = cli.map(quote).join(' ');
  // -e: script exits with the CLI's status; /dev/null: no typescript file.
  const proc = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env, SHELL: '/bin/sh' } });
  let out = '';
  const waiters = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d.toString('utf8');
    for (const w of [...waiters]) w();
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  const exited = new Promise<number | null>((res) => proc.on('exit', (code) => {
    for (const w of [...waiters]) w();
    res(code);
  }));
  return {
    proc,
    output: () => out,
    waitFor(re, timeoutMs = 60_000, from = 0) {
      return new Promise((res, rej) => {
        const check = () => {
          const m = re.exec(out.slice(from));
          if (m) {
            done();
            res(m);
          } else if (proc.exitCode !== null) {
            done();
            rej(new Error(`exited (${proc.exitCode}) before ${re}:\n${out}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          rej(new Error(`timed out waiting for ${re}:\n${out}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    typeLine(text) {
      proc.stdin!.write(`${text}\r`);
    },
    exited,
    async close() {
      // Closing the terminal only sends the CLI SIGHUP, which `serve` takes as "reload" and
      // survives: stop the CLI itself, found by its parent while `script` runs and by its
      // command line in case `script` already left it behind.
      const running = proc.exitCode === null && proc.signalCode === null;
      const pids = [...new Set([...(running ? descendants(proc.pid!) : []), ...byCommandLine(cli)])];
      for (const pid of pids) signal(pid, 'SIGTERM');
      if (running) {
        proc.stdin!.end();
        proc.kill('SIGTERM');
      }
      // A CLI stops even with its terminal gone (vanished-terminal.test.ts); one that did not would
      // get 10 s, then SIGKILL, so a failing run leaves nothing behind.
      const deadline = Date.now() + 10_000;
      while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      for (const pid of pids.filter(alive)) signal(pid, 'SIGKILL');
      await exited;
    },
  };
}

/** Every process below `pid`, children first found first. */
function descendants(pid: number): number[] {
  const r = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' });
  const kids = (r.stdout ?? '').split('\n').filter(Boolean).map(Number);
  return kids.flatMap((k) => [k, ...descendants(k)]);
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try { process.kill(pid, sig); } catch { /* already gone */ }
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

/** Processes whose whole command line is exactly `argv`. */
function byCommandLine(argv: string[]): number[] {
  const pattern = argv.join(' ').replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const r = spawnSync('pgrep', ['-f', '-x', pattern], { encoding: 'utf8' });
  return (r.stdout ?? '').split('\n').filter(Boolean).map(Number).filter((pid) => pid !== process.pid);
}
