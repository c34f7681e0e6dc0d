// `ca renew --daemon`: renew on step's schedule (api.md §3.6) for as long as the process lives,
// and run the --exec hook. SIGHUP renews at once; SIGTERM/SIGINT end the loop cleanly.
import { spawn } from 'node:child_process';
import { CliError } from '../cli/common.js';
import { formatDuration } from '../util/duration.js';
import { nextRenewalDelay, retryDelay, type DaemonSchedule, type Random, type Validity } from './schedule.js';

/** Runs --exec without a shell and waits for it; rejects with a one-line reason when it fails. */
export function runExec(argv: string[]): Promise<void> {
  const [cmd, ...args] = argv;
  if (!cmd) return Promise.reject(new CliError('--exec is empty', 2));
  return new Promise((resolvePromise, reject) => {
    // stdin closed: a hook that prompts would otherwise hang an unattended renewal.
    const child = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', (e) => reject(new CliError(`cannot run --exec ${cmd}: ${(e as NodeJS.ErrnoException).code ?? e.message}`)));
    child.on('exit', (code, signal) => {
      if (code === 0) resolvePromise();
      else reject(new CliError(`--exec ${cmd} failed: ${signal ? `killed by ${signal}` : `exit status ${code}`}`));
    });
  });
}

export interface DaemonOptions {
  schedule: DaemonSchedule;
  /** The certificate as it is on disk now (the loop re-reads it every round). */
  readCert: () => Validity;
  /** One forced renewal; resolves with the new certificate. */
  renewOnce: () => Promise<{ leaf?: Validity & { serialNumber?: string } }>;
  exec?: string[];
  log: (line: string) => void;
  random?: Random;
}

/** Longest single timer: wall-clock is re-checked after each, so suspend and clock steps are noticed. */
const CHUNK_MS = 60_000;

export async function runDaemon(o: DaemonOptions): Promise<void> {
  const random = o.random ?? Math.random;
  let stopping = false;
  let forced = false;
  let wake: (() => void) | undefined;
  const onHup = () => {
    o.log('SIGHUP: renewing now');
    forced = true;
    wake?.();
  };
  const onStop = (sig: string) => {
    o.log(`${sig}: stopping`);
    stopping = true;
    wake?.();
  };
  const onTerm = () => onStop('SIGTERM');
  const onInt = () => onStop('SIGINT');
  process.on('SIGHUP', onHup);
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);

  const sleep = (ms: number) => new Promise<void>((res) => {
    const done = () => {
      clearTimeout(timer);
      wake = undefined;
      res();
    };
    const timer = setTimeout(done, ms);
    wake = done;
  });

  let failures = 0;
  try {
    while (!stopping) {
      let delay: number;
      let cert: Validity | undefined;
      try {
        cert = o.readCert();
      } catch (e) {
        o.log(`cannot read the certificate: ${(e as Error).message}`);
      }
      const now = new Date();
      if (forced) delay = 0;
      else if (!cert) delay = retryDelay(Math.max(failures, 1), { notBefore: now, notAfter: now }, now);
      else delay = failures > 0 ? retryDelay(failures, cert, now) : nextRenewalDelay(cert, now, o.schedule, random);
      const deadline = Date.now() + delay;
      if (delay > 0) o.log(`next renewal in ${formatDuration(Math.round(delay / 1000) * 1000)} (at ${new Date(deadline).toISOString()})`);
      while (!stopping && !forced && Date.now() < deadline) await sleep(Math.min(deadline - Date.now(), CHUNK_MS));
      if (stopping) break;
      forced = false;
      try {
        const r = await o.renewOnce();
        failures = 0;
        o.log(`certificate renewed${r.leaf?.serialNumber ? `: serial ${r.leaf.serialNumber}` : ''}${r.leaf ? `, valid until ${r.leaf.notAfter.toISOString()}` : ''}`);
      } catch (e) {
        failures++;
        o.log(`renewal failed (attempt ${failures}): ${(e as Error).message.split('\n')[0]}`);
        continue;
      }
      if (o.exec) {
        try {
          await runExec(o.exec);
        } catch (e) {
          // The new certificate is on disk; a broken hook must not stop future renewals.
          o.log((e as Error).message);
        }
      }
    }
  } finally {
    process.off('SIGHUP', onHup);
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
  }
}
