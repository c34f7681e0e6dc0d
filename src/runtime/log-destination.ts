// Where the CA's log lines go: stdout, written asynchronously (pino's sonic-boom), as pino's
// default does, except when the writes start failing.
//
// A CA started at a terminal that then goes away (the ssh session drops, `script` is killed) has
// a hung-up pty for stdout, and every write fails with EIO. pino forgives only EPIPE and rethrows
// any other write error as an uncaught 'error'; the process then exits through pino's exit hook,
// whose sonic-boom flushSync retries the failing write every 100 ms forever (it gives up only on
// EAGAIN/EBUSY). The main thread hangs there: no request is answered and SIGTERM is never
// handled. Here a failed write stops logging instead: lines for a vanished stdout are lost, the CA
// keeps serving and stops on time.
import { writeSync } from 'node:fs';
import pino, { type DestinationStream } from 'pino';

export function stdoutLogDestination(): DestinationStream {
  const dest = pino.destination({ fd: 1, sync: false });
  let stopped = false;
  // `on`, not `once`: a second error with no listener left would be thrown.
  dest.on('error', (err: NodeJS.ErrnoException) => {
    if (stopped) return;
    stopped = true;
    const drop = () => true;
    const none = () => undefined;
    Object.assign(dest, { write: drop, flush: none, flushSync: none, end: none, destroy: none });
    // Said once, where it may still be read (stderr, when it is not the same vanished terminal).
    try {
      writeSync(2, `stepstone: logging stopped, stdout cannot be written (${err.code ?? err.message})\n`);
    } catch {
      // stderr is gone too.
    }
  });
  return dest;
}
