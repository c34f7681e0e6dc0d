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
  const command = [process.execPath, BIN, ...args].map(quote).join(' ');
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
      if (proc.exitCode === null && proc.signalCode === null) {
        // Closing the terminal only sends the CLI SIGHUP, which `serve` takes as "reload" and
        // survives: stop everything under `script` itself, or a server outlives the test.
        for (const pid of descendants(proc.pid!)) {
          try { process.kill(pid, 'SIGTERM'); } catch { /* already gone */ }
        }
        proc.stdin!.end();
        proc.kill('SIGTERM');
      }
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
