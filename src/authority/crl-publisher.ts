// Keeps the current CRL: generated at start-up, on a timer before nextUpdate, and after each
// revocation. Regenerations never overlap (CRL numbers must increase) and a burst of revocations
// collapses into one more run. GET /crl waits only for a run already under way, so the CRL it
// gets includes every revocation that answered before it. Replicas sharing a ledger hear of each
// other's revocations through the ledger's RevocationFeed and regenerate too.
import { JobThread } from '../util/worker.js';
import type { CrlConfig } from '../config/schema.js';
import type { IssuerScope, Ledger } from '../ledger/ledger.js';
import { toPem } from '../pki/pem.js';
import { parseDuration } from '../util/duration.js';
import type { CrlParams } from './crl.js';
import type { CrlJob, CrlJobResult } from './crl-worker.js';
import type { Issuer } from './profiles.js';

export interface PublishedCrl {
  der: Buffer;
  pem: string;
  number: number;
  thisUpdate: Date;
  nextUpdate: Date;
  entries: number;
}

/** step-ca keeps an entry for an hour past its certificate's expiry: clocks disagree. */
const KEEP_AFTER_EXPIRY_MS = 3_600_000;

export type CrlBuilder = (params: CrlParams) => Promise<Uint8Array>;

export class CrlPublisher {
  private latest: PublishedCrl | null = null;
  private running: Promise<PublishedCrl> | null = null;
  private queued: Promise<PublishedCrl> | null = null;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private readonly cacheMs: number;
  private readonly renewMs: number;

  constructor(private readonly d: {
    issuer: Issuer; ledger: Ledger; settings: CrlConfig; idpUrl?: string; now: () => Date; build: CrlBuilder;
    /** Whose revocations it lists when the CA has several issuers; absent: every revoked row. */
    scope?: IssuerScope;
    onError?: (err: unknown) => void;
    /** Told each CRL as it is published (metrics). */
    onPublished?: (crl: PublishedCrl) => void;
  }) {
    this.cacheMs = parseDuration(d.settings.cacheDuration)!;
    this.renewMs = d.settings.renewPeriod ? parseDuration(d.settings.renewPeriod)! : (this.cacheMs * 2) / 3;
    if (this.renewMs >= this.cacheMs) throw new Error('config: crl.renewPeriod must be shorter than crl.cacheDuration');
  }

  get enabled(): boolean {
    return this.d.settings.enabled;
  }

  get generateOnRevoke(): boolean {
    return this.d.settings.generateOnRevoke;
  }

  /** Generates the first CRL and regenerates every renewPeriod. */
  async start(): Promise<void> {
    if (!this.enabled) return;
    // Another replica's revocation (or a feed that reconnected and may have missed some).
    this.unsubscribe = this.d.ledger.revocations?.onRevocation(() => {
      if (this.generateOnRevoke) this.regenerate().catch((e) => this.d.onError?.(e));
    });
    await this.regenerate();
    this.timer = setInterval(() => { this.regenerate().catch((e) => this.d.onError?.(e)); }, this.renewMs);
    this.timer.unref();
  }

  stop(): void {
    this.unsubscribe?.();
    if (this.timer) clearInterval(this.timer);
  }

  /** The newest CRL, waiting for a regeneration already under way. */
  async current(): Promise<PublishedCrl> {
    return (await (this.queued ?? this.running)) ?? this.latest ?? this.regenerate();
  }

  regenerate(): Promise<PublishedCrl> {
    if (!this.running) {
      this.running = this.generate().finally(() => { this.running = null; });
      return this.running;
    }
    this.queued ??= this.running.catch(() => undefined).then(() => {
      this.queued = null;
      return this.regenerate();
    });
    return this.queued;
  }

  private async generate(): Promise<PublishedCrl> {
    const now = this.d.now();
    const { number, entries } = await this.d.ledger.nextCrl(new Date(now.getTime() - KEEP_AFTER_EXPIRY_MS), this.d.scope);
    // Whole seconds: X.509 times carry no fractions, and Expires headers should match the CRL.
    const thisUpdate = new Date(Math.floor(now.getTime() / 1000) * 1000);
    const nextUpdate = new Date(thisUpdate.getTime() + this.cacheMs);
    const built = await this.d.build({ issuer: this.d.issuer, number, thisUpdate, nextUpdate, entries, idpUrl: this.d.idpUrl });
    // A view, not a copy: /crl sends these same bytes until the next regeneration.
    const der = Buffer.from(built.buffer, built.byteOffset, built.byteLength);
    this.latest = { der, pem: toPem(der, 'X509 CRL'), number, thisUpdate, nextUpdate, entries: entries.length };
    this.d.onPublished?.(this.latest);
    return this.latest;
  }
}

/**
 * A CrlBuilder that runs in a worker thread of its own. CRLs are built at start-up, every
 * renewPeriod and after revocations: between those the thread is stopped after `idleMs`, so a
 * serving CA does not keep a second isolate (and the X.509 library loaded in it) resident for
 * nothing. Starting it again costs ~100 ms once per CRL run, off the event loop.
 */
export class CrlWorker {
  private readonly thread: JobThread<CrlJobResult>;

  constructor(idleMs = 10_000) {
    this.thread = new JobThread<CrlJobResult>('./crl-worker', import.meta.url, (why) => new Error(`CRL worker ${why}`), { idleMs });
  }

  /** Whether the worker thread is running now. */
  get running(): boolean {
    return this.thread.running;
  }

  build: CrlBuilder = async (params) => {
    const { issuer, ...rest } = params;
    const job: Omit<CrlJob, 'id'> = { issuer: { certDer: issuer.cert.rawData, key: issuer.key, signer: issuer.signer, keyId: issuer.keyId }, params: rest };
    const m = await this.thread.call(job);
    if ('der' in m) return new Uint8Array(m.der, m.offset, m.length);
    throw new Error(`CRL generation failed: ${m.error}`);
  };

  close(): Promise<void> {
    return this.thread.close();
  }
}
