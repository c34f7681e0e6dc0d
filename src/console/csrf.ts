// CSRF defence for the console's one state-changing form (revoke), two layers:
// - a synchronizer token: an HMAC, under a key that lives only in this process, of the admin's
//   certificate fingerprint, the action, its target and an expiry. It is put in the confirmation
//   form and must come back with the POST: another site can neither read it nor make one.
// - the Origin header must name this console (browsers send it on every cross-site POST), and
//   Sec-Fetch-Site, when the browser sends it, must say same-origin.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const LIFETIME_MS = 15 * 60_000;

export class CsrfTokens {
  private readonly key = randomBytes(32);

  constructor(private readonly now: () => number = Date.now) {}

  issue(identity: string, action: string, target: string): string {
    const expires = this.now() + LIFETIME_MS;
    return `${expires}.${this.mac(identity, action, target, expires)}`;
  }

  verify(token: string | undefined, identity: string, action: string, target: string): boolean {
    const m = /^(\d{1,15})\.([A-Za-z0-9_-]{43})$/.exec(token ?? '');
    if (!m) return false;
    const expires = Number(m[1]);
    if (expires < this.now()) return false;
    const want = Buffer.from(this.mac(identity, action, target, expires));
    const got = Buffer.from(m[2]!);
    return got.length === want.length && timingSafeEqual(got, want);
  }

  private mac(identity: string, action: string, target: string, expires: number): string {
    return createHmac('sha256', this.key).update(JSON.stringify([identity, action, target, expires])).digest('base64url');
  }
}

/** Whether a state-changing request comes from a page of this console (Host is what the browser connected to). */
export function sameOrigin(headers: Record<string, string | string[] | undefined>): boolean {
  const one = (h: string) => {
    const v = headers[h];
    return Array.isArray(v) ? v[0] : v;
  };
  const host = one('host');
  const origin = one('origin');
  if (!host || !origin) return false;
  if (origin !== `https://${host}`) return false;
  const site = one('sec-fetch-site');
  return site === undefined || site === 'same-origin';
}
