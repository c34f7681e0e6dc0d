// A process started at a terminal that later goes away (the ssh session drops, `script` is
// killed) keeps a hung-up pty as its stdio: writes and terminal calls on it fail with EIO.
// Two things then go wrong at exit, each hanging or crashing a process that otherwise stopped
// cleanly:
// - Node (20) restores each stdio terminal's settings on exit and aborts when tcsetattr fails
//   (fixed upstream in nodejs/node#58200, not in 20): SIGTERM ends in SIGABRT or SIGSEGV.
// - pino's exit hook flushes pending log lines with sonic-boom's flushSync, which retries a
//   failing write every 100 ms forever: the process never exits.
// So at exit each stdio descriptor that was a terminal at start and no longer is one (a hung-up
// pty no longer answers isatty) is pointed at /dev/null: Node then skips it (it restores only
// the files it started with) and late writes succeed, into nothing.
import { closeSync, openSync } from 'node:fs';
import { isatty } from 'node:tty';

/** Call at start-up, before anything else registers an 'exit' listener (pino does). */
export function releaseVanishedTerminalAtExit(): void {
  const terminals = [0, 1, 2].filter((fd) => isatty(fd));
  if (!terminals.length) return;
  process.on('exit', () => {
    for (const fd of terminals) {
      if (isatty(fd)) continue;
      try {
        closeSync(fd);
        // open() takes the lowest free descriptor: this one, while the ones below it are open.
        const devNull = openSync('/dev/null', fd === 0 ? 'r' : 'w');
        if (devNull !== fd) closeSync(devNull);
      } catch {
        // Left closed: Node skips a closed descriptor too.
      }
    }
  });
}
