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
import pino, { type DestinationStream } from 'pino';

export function stdoutLogDestination(): DestinationStream {
  const dest = pino.destination({ fd: 1, sync: false });
  dest.on('error', () => {
    const drop = () => true;
    const none = () => undefined;
    Object.assign(dest, { write: drop, flush: none, flushSync: none, end: none, destroy: none });
  });
  return dest;
}
