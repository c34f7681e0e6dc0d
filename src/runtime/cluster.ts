// `serve --workers N`: N processes accepting TLS connections on one port (node:cluster; on Linux
// the primary accepts and hands connections out round-robin, NODE_CLUSTER_SCHED_POLICY=none
// lets the kernel spread them instead). The primary holds no CA state and no key: it forks the
// workers, passes them the password and the TLS ticket keys over the IPC channel, relays
// revocations between them (each keeps its own CRL), forwards SIGHUP, drains them all on SIGTERM
// and starts a new worker when one dies. Each worker is a whole CA (startCa) on the shared
// ledger: one-time tokens stay one-time because the ledger's unique key on the jti decides, in
// whichever process commits first. Worker 1 is the leader and alone runs what must run once
// (metrics, console, webhooks and notices, token pruning; see WorkerRole in serve.ts).
import cluster, { type Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import type { Logger } from 'pino';
import type { SharedRevocationFeed } from '../ledger/ledger.js';
import type { RunningCa, WorkerRole } from './serve.js';

/** Marks a process forked by the primary, with its worker number. */
export const WORKER_ENV = 'STEPSTONE_WORKER';

type ToWorker =
  | { t: 'start'; index: number; workers: number; leader: boolean; password: string; ticketKeys: string }
  | { t: 'reload' }
  | { t: 'revoked'; serial: string }
  | { t: 'ticketKeys'; keys: string };
type FromWorker = { t: 'hello' } | { t: 'ready'; port: number; url: string } | { t: 'failed'; message: string } | { t: 'revoked'; serial: string };

/** A worker that dies this soon after it was started is restarted only after a pause, so a crash loop does not spin. */
const QUICK_DEATH_MS = 10_000;
const RESTART_PAUSE_MS = 2000;
/** Workers still running this long after SIGTERM are killed. */
const DRAIN_MS = 20_000;
/** TLS session ticket keys are replaced this often (a ticket issued before then resumes no more). */
const TICKET_KEY_ROTATION_MS = 12 * 3600_000;

export function isWorkerProcess(): boolean {
  return cluster.isWorker && process.env[WORKER_ENV] !== undefined;
}

export interface PrimaryOptions {
  workers: number;
  password: string;
  log: Logger;
  /** Host of the listen address, for the announcement line. */
  host: string;
  /** Called once every worker serves (as the single process writes it only once it serves); returns the file written, if any. */
  writePidFile?: () => string | undefined;
}

interface Slot { worker: Worker; ready: boolean; startedAt: number }

/**
 * The primary: starts worker 1 (which migrates the ledger, if needed, before anyone else opens
 * it), then the others, and announces "Stepstone CA serving" once all of them listen. Rejects
 * if a worker fails to start the first time (all are stopped then).
 */
export async function runPrimary(o: PrimaryOptions): Promise<void> {
  const log = o.log;
  const slots = new Map<number, Slot>();
  let ticketKeys = randomBytes(48);
  let stopping = false;
  let started = false;

  const send = (w: Worker, m: ToWorker) => {
    if (w.isConnected()) w.send(m);
  };

  const fork = (index: number): Promise<{ port: number; url: string }> => {
    const worker = cluster.fork({ [WORKER_ENV]: String(index) });
    const slot: Slot = { worker, ready: false, startedAt: Date.now() };
    slots.set(index, slot);
    return new Promise((resolve, reject) => {
      worker.on('message', (m: FromWorker) => {
        // Asked for once the worker listens on its channel (a message sent earlier could be lost).
        if (m.t === 'hello') send(worker, { t: 'start', index, workers: o.workers, leader: index === 1, password: o.password, ticketKeys: ticketKeys.toString('hex') });
        else if (m.t === 'ready') {
          slot.ready = true;
          resolve(m);
        } else if (m.t === 'failed') {
          reject(new Error(m.message));
        } else if (m.t === 'revoked') {
          for (const other of slots.values()) if (other.worker !== worker) send(other.worker, m);
        }
      });
      worker.once('exit', (code, signal) => {
        reject(new Error(`worker ${index} exited (${signal ?? `code ${code}`}) before it served`));
        if (slots.get(index)?.worker !== worker || stopping || !started) return;
        const pause = Date.now() - slot.startedAt < QUICK_DEATH_MS ? RESTART_PAUSE_MS : 0;
        log.warn({ worker: index, workerPid: worker.process.pid, code, signal }, `worker ${index} exited; starting a new one`);
        setTimeout(() => {
          if (stopping) return;
          fork(index).then(
            () => log.info({ worker: index, workerPid: slots.get(index)?.worker.process.pid }, `worker ${index} restarted`),
            (err: Error) => { if (!stopping) log.error({ worker: index, reason: err.message }, `worker ${index} failed to start; trying again`); },
          );
        }, pause).unref();
      });
    });
  };

  const stopAll = async (): Promise<void> => {
    stopping = true;
    const exits = [...slots.values()].map(({ worker }) => new Promise<void>((resolve) => {
      if (worker.isDead()) return resolve();
      const kill = setTimeout(() => worker.process.kill('SIGKILL'), DRAIN_MS);
      worker.once('exit', () => { clearTimeout(kill); resolve(); });
      worker.process.kill('SIGTERM');
    }));
    await Promise.all(exits);
  };

  const rotation = setInterval(() => {
    ticketKeys = randomBytes(48);
    for (const { worker } of slots.values()) send(worker, { t: 'ticketKeys', keys: ticketKeys.toString('hex') });
  }, TICKET_KEY_ROTATION_MS);
  rotation.unref();
  // Before the first fork: a signal during start-up must not take the primary's default action
  // (SIGHUP would end it). SIGHUP (and `stepstone reload`, which sends it): every worker re-reads
  // ca.json and logs the outcome.
  process.on('SIGHUP', () => {
    log.info({ workers: slots.size }, 'reloading every worker');
    for (const { worker } of slots.values()) send(worker, { t: 'reload' });
  });
  let pidFile: string | undefined;
  const stop = () => {
    if (stopping) return;
    if (pidFile) rmSync(pidFile, { force: true });
    clearInterval(rotation);
    stopAll().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  let first: { port: number; url: string };
  try {
    first = await fork(1);
    await Promise.all(Array.from({ length: o.workers - 1 }, (_, i) => fork(i + 2)));
  } catch (e) {
    clearInterval(rotation);
    await stopAll();
    throw e;
  }
  try {
    pidFile = o.writePidFile?.();
  } catch (e) {
    clearInterval(rotation);
    await stopAll();
    throw e;
  }
  started = true;
  log.info({ address: `${o.host}:${first.port}`, url: first.url, workers: o.workers, workerPids: [...slots.values()].map((s) => s.worker.process.pid) }, 'Stepstone CA serving');
}

/** Revocations of the other workers, relayed by the primary; ours go out the same way. */
class ClusterRevocationFeed implements SharedRevocationFeed {
  private readonly listeners = new Set<(serial: string | null) => void>();

  onRevocation(listener: (serial: string | null) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  announce(serial: string): void {
    if (process.connected) process.send!({ t: 'revoked', serial } satisfies FromWorker);
  }

  deliver(serial: string): void {
    for (const l of this.listeners) l(serial);
  }
}

/**
 * A worker: waits for the primary's start message (the password never travels in the
 * environment or argv), starts the CA, then follows the primary's messages. It drains on SIGTERM,
 * and also when the primary goes away (its IPC channel closes).
 */
export function runWorker(start: (role: WorkerRole, password: string) => Promise<RunningCa>, drain: (ca: RunningCa) => void): void {
  // The primary forwards SIGHUP; a terminal's hang-up reaches the whole group and must not reload twice.
  process.on('SIGHUP', () => undefined);
  // The primary went away (killed without draining us): drain as on SIGTERM rather than serve on alone.
  process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  process.once('message', (m: ToWorker) => {
    if (m.t !== 'start') return;
    const feed = new ClusterRevocationFeed();
    start({ index: m.index, workers: m.workers, leader: m.leader, feed, ticketKeys: Buffer.from(m.ticketKeys, 'hex') }, m.password).then((ca) => {
      process.on('message', (msg: ToWorker) => {
        if (msg.t === 'reload') void ca.reload();
        else if (msg.t === 'revoked') feed.deliver(msg.serial);
        else if (msg.t === 'ticketKeys') ca.setTicketKeys(Buffer.from(msg.keys, 'hex'));
      });
      drain(ca);
      process.send!({ t: 'ready', port: ca.port, url: ca.url } satisfies FromWorker);
    }, (err: Error) => {
      process.send!({ t: 'failed', message: err.message } satisfies FromWorker, () => process.exit(1));
    });
  });
  process.send!({ t: 'hello' } satisfies FromWorker);
}
