// Issuance per provisioner per window (config stepstone.rateLimit.perProvisioner), counted only
// after the request is authorized: a forged token naming a provisioner must not be able to spend
// that provisioner's budget and lock its hosts out. A fixed window is enough for a ceiling.
import { rateLimited } from '../errors.js';
import { formatDuration } from '../util/duration.js';

export class ProvisionerQuota {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(private readonly max: number, private readonly windowMs: number, private readonly now: () => number = Date.now) {}

  /** Counts one authorized request for `provisioner`; throws a 429 CaError past the limit. */
  take(provisioner: string): void {
    const t = this.now();
    let w = this.windows.get(provisioner);
    if (!w || t - w.start >= this.windowMs) {
      w = { start: t, count: 0 };
      this.windows.set(provisioner, w);
    }
    if (++w.count > this.max) {
      throw rateLimited(`provisioner '${provisioner}' is over its limit of ${this.max} requests per ${formatDuration(this.windowMs)}; retry in ${Math.ceil((w.start + this.windowMs - t) / 1000)} s`);
    }
  }
}
