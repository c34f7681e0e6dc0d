// Certificate validity (api.md §3.3 and the /sign failures of §1.9), with step-ca's default
// claims (min 5m, max 24h, default 24h) and a 1m backdate, at a fixed `now`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CaError } from '../../src/errors.ts';
import { resolveClaims } from '../../src/authority/claims.ts';
import { checkValidity, computeValidity } from '../../src/authority/validity.ts';

const claims = resolveClaims({ minTLSCertDuration: '5m', maxTLSCertDuration: '24h', defaultTLSCertDuration: '24h' });
const BACKDATE = 60_000;
const NOW = new Date('2030-06-01T12:00:00.000Z');
const M = 60_000;
const H = 60 * M;
const at = (ms: number) => new Date(NOW.getTime() + ms).toISOString();

function iso(v: { notBefore: Date; notAfter: Date }) {
  return { notBefore: v.notBefore.toISOString(), notAfter: v.notAfter.toISOString() };
}

function refused(fn: () => unknown, code: 'forbidden' | 'bad_request', publicMessage?: string | RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CaError, String(e));
    assert.equal(e.code, code);
    if (typeof publicMessage === 'string') assert.equal(e.publicMessage, publicMessage);
    else if (publicMessage) assert.match(e.publicMessage, publicMessage);
    return true;
  });
}

test('claims are step-ca\'s defaults', () => {
  assert.equal(claims.minTLSCertDuration, 5 * M);
  assert.equal(claims.maxTLSCertDuration, 24 * H);
  assert.equal(claims.defaultTLSCertDuration, 24 * H);
});

test('default: [now − 1m, now + 24h]', () => {
  assert.deepEqual(iso(computeValidity({}, NOW, claims, BACKDATE)), { notBefore: at(-M), notAfter: at(24 * H) });
  assert.deepEqual(iso(computeValidity({ notBefore: '', notAfter: '' }, NOW, claims, BACKDATE)), { notBefore: at(-M), notAfter: at(24 * H) });
});

test('the default duration comes from the claims', () => {
  const short = resolveClaims({ defaultTLSCertDuration: '2h' });
  assert.deepEqual(iso(computeValidity({}, NOW, short, BACKDATE)), { notBefore: at(-M), notAfter: at(2 * H) });
  assert.deepEqual(iso(computeValidity({}, NOW, claims, 0)), { notBefore: at(0), notAfter: at(24 * H) });
});

test('notAfter "1h": relative to the un-backdated now', () => {
  assert.deepEqual(iso(computeValidity({ notAfter: '1h' }, NOW, claims, BACKDATE)), { notBefore: at(-M), notAfter: at(H) });
});

test('notAfter "24h" (with the backdate minute, 24h1m) is just allowed', () => {
  assert.deepEqual(iso(computeValidity({ notAfter: '24h' }, NOW, claims, BACKDATE)), { notBefore: at(-M), notAfter: at(24 * H) });
});

test('notAfter "48h" is over the maximum, with step-ca\'s message', () => {
  refused(() => computeValidity({ notAfter: '48h' }, NOW, claims, BACKDATE), 'forbidden',
    'The request was forbidden by the certificate authority: requested duration of 48h1m0s is more than the authorized maximum certificate duration of 24h1m0s.');
});

test('notAfter "1m" is under the minimum, with step-ca\'s message', () => {
  refused(() => computeValidity({ notAfter: '1m' }, NOW, claims, BACKDATE), 'forbidden',
    'The request was forbidden by the certificate authority: requested duration of 2m0s is less than the authorized minimum certificate duration of 5m0s.');
});

test('notAfter "4m" (5m with the backdate) is exactly the minimum', () => {
  assert.deepEqual(iso(computeValidity({ notAfter: '4m' }, NOW, claims, BACKDATE)), { notBefore: at(-M), notAfter: at(4 * M) });
});

test('notBefore "2h" + notAfter "1h": notBefore is not backdated and notAfter is relative to it', () => {
  assert.deepEqual(iso(computeValidity({ notBefore: '2h', notAfter: '1h' }, NOW, claims, BACKDATE)), { notBefore: at(2 * H), notAfter: at(3 * H) });
});

test('notBefore alone: notAfter = notBefore + default', () => {
  assert.deepEqual(iso(computeValidity({ notBefore: '30m' }, NOW, claims, BACKDATE)), { notBefore: at(30 * M), notAfter: at(30 * M + 24 * H) });
});

test('a caller notBefore gets no backdate, but max still allows the backdate minute', () => {
  // d = 24h1m with a caller notBefore: allowed (step-ca's "good enough" max + backdate)
  assert.deepEqual(iso(computeValidity({ notBefore: '1h', notAfter: '24h1m' }, NOW, claims, BACKDATE)), { notBefore: at(H), notAfter: at(25 * H + M) });
  refused(() => computeValidity({ notBefore: '1h', notAfter: '24h2m' }, NOW, claims, BACKDATE), 'forbidden',
    /requested duration of 24h2m0s is more than the authorized maximum certificate duration of 24h1m0s\.$/);
});

test('absolute RFC 3339 times are taken as given', () => {
  const v = computeValidity({ notBefore: '2030-06-01T13:00:00Z', notAfter: '2030-06-01T19:30:00+02:00' }, NOW, claims, BACKDATE);
  assert.deepEqual(iso(v), { notBefore: '2030-06-01T13:00:00.000Z', notAfter: '2030-06-01T17:30:00.000Z' });
  const w = computeValidity({ notAfter: '2030-06-02T00:00:00Z' }, NOW, claims, BACKDATE);
  assert.deepEqual(iso(w), { notBefore: at(-M), notAfter: '2030-06-02T00:00:00.000Z' });
  // an absolute notBefore with a duration notAfter: relative to that notBefore
  const x = computeValidity({ notBefore: '2030-06-01T15:00:00Z', notAfter: '6h' }, NOW, claims, BACKDATE);
  assert.deepEqual(iso(x), { notBefore: '2030-06-01T15:00:00.000Z', notAfter: '2030-06-01T21:00:00.000Z' });
});

// step-ca's validityValidator answers these with 400, not 403.
test('notAfter in the past is a bad request', () => {
  refused(() => computeValidity({ notAfter: '2030-06-01T11:00:00Z' }, NOW, claims, BACKDATE), 'bad_request', /past/);
  refused(() => computeValidity({ notAfter: '-5m' }, NOW, claims, BACKDATE), 'bad_request', /past/);
  refused(() => computeValidity({ notBefore: '-2h', notAfter: '30m' }, NOW, claims, BACKDATE), 'bad_request', /past/);
});

test('notAfter before notBefore is a bad request', () => {
  refused(() => computeValidity({ notBefore: '2h', notAfter: '-1h' }, NOW, claims, BACKDATE), 'bad_request', /before notBefore/);
});

test('a string that is neither time nor duration is a bad request', () => {
  refused(() => computeValidity({ notAfter: 'tomorrow' }, NOW, claims, BACKDATE), 'bad_request', /tomorrow/);
  refused(() => computeValidity({ notBefore: '5' }, NOW, claims, BACKDATE), 'bad_request', /'5'/);
  refused(() => computeValidity({ notBefore: '2030-06-01', notAfter: '1h' }, NOW, claims, BACKDATE), 'bad_request');
});

test('checkValidity truncates to whole seconds', () => {
  // [now+0.1s, now+5m0.9s] truncates to [now, now+5m]: exactly the 5m minimum, so it passes
  const nb = new Date(NOW.getTime() + 100);
  const na = new Date(NOW.getTime() + 5 * M + 900);
  checkValidity({ notBefore: nb, notAfter: na }, NOW, claims, BACKDATE);
  // and 5m − 1s is refused
  refused(() => checkValidity({ notBefore: NOW, notAfter: new Date(NOW.getTime() + 5 * M - 1000) }, NOW, claims, BACKDATE), 'forbidden',
    /requested duration of 4m59s is less than the authorized minimum certificate duration of 5m0s\.$/);
});

test('a backdated notBefore is clamped to the issuer\'s notBefore (issue 12 item 13); one asked for is not', () => {
  const issuerStart = new Date(NOW.getTime() - 20_000);
  assert.deepEqual(iso(computeValidity({}, NOW, claims, BACKDATE, issuerStart)), { notBefore: at(-20_000), notAfter: at(24 * H) });
  assert.equal(computeValidity({ notBefore: at(-H) }, NOW, claims, BACKDATE, issuerStart).notBefore.toISOString(), at(-H));
  // An issuer older than the backdate changes nothing.
  assert.deepEqual(iso(computeValidity({}, NOW, claims, BACKDATE, new Date(NOW.getTime() - H))), { notBefore: at(-M), notAfter: at(24 * H) });
});
