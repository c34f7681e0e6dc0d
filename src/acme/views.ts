// How ACME objects look on the wire (RFC 8555 §7.1): the stored state plus the URLs under the
// provisioner's base, which depend on where the request arrived.
import type { AcmeAccount, AcmeAuthz, AcmeChallenge, AcmeOrder } from '../ledger/acme-store.js';
import type { Where } from './service.js';

const iso = (ms: number) => new Date(ms).toISOString();

export function accountView(a: AcmeAccount, w: Where): Record<string, unknown> {
  return { status: a.status, contact: a.contact, orders: `${w.base}/account/${a.id}/orders`, createdAt: iso(a.createdAt) };
}

export function orderView(o: AcmeOrder, w: Where): Record<string, unknown> {
  return {
    status: o.status, expires: iso(o.expiresAt), identifiers: o.identifiers,
    ...(o.notBefore ? { notBefore: o.notBefore } : {}), ...(o.notAfter ? { notAfter: o.notAfter } : {}),
    authorizations: o.authorizations.map((z) => `${w.base}/authz/${z}`),
    finalize: `${w.base}/order/${o.id}/finalize`,
    ...(o.certificateSerial ? { certificate: `${w.base}/certificate/${o.certificateSerial}` } : {}),
    ...(o.error ? { error: o.error } : {}),
  };
}

export function authzView(z: AcmeAuthz, w: Where): Record<string, unknown> {
  return {
    identifier: z.identifier, status: z.status, expires: iso(z.expiresAt), ...(z.wildcard ? { wildcard: true } : {}),
    challenges: z.challenges.map((c) => challengeView(z, c, w)),
  };
}

export function challengeView(z: AcmeAuthz, c: AcmeChallenge, w: Where): Record<string, unknown> {
  return {
    type: c.type, url: `${w.base}/challenge/${z.id}/${c.id}`, status: c.status, token: c.token,
    ...(c.validated ? { validated: c.validated } : {}), ...(c.error ? { error: c.error } : {}),
  };
}
