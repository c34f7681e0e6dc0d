// Fixed-window counters for ACME (per account, per client address), on this replica. A flood
// from one misbehaving client (smallstep/certificates#601) is refused with rateLimited and a
// Retry-After before it costs a ledger write.
import { AcmeProblem } from './problem.js';

export class Windows {
  private readonly w = new Map<string, { start: number; count: number }>();

  constructor(private readonly max: number, private readonly windowMs: number, private readonly what: string, private readonly now: () => number = Date.now) {}

  take(key: string): void {
    const t = this.now();
    let e = this.w.get(key);
    if (!e || t - e.start >= this.windowMs) {
      if (this.w.size > 100_000) this.sweep(t);
      e = { start: t, count: 0 };
      this.w.set(key, e);
    }
    if (++e.count > this.max) {
      const retry = Math.max(1, Math.ceil((e.start + this.windowMs - t) / 1000));
      throw new AcmeProblem('rateLimited', `${this.what}: more than ${this.max} per ${this.windowMs / 1000} s; retry in ${retry} s`, 429, { retryAfter: retry });
    }
  }

  private sweep(t: number): void {
    for (const [k, e] of this.w) if (t - e.start >= this.windowMs) this.w.delete(k);
  }
}
