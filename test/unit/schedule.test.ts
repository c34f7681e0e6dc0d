// When renewal is due, the daemon's schedule (api.md §3.6), its retry backoff, and --exec splitting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { needsRenewal, nextRenewalDelay, retryDelay, splitExec, RETRY_FLOOR_MS } from '../../src/client/schedule.ts';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const T0 = Date.parse('2026-01-01T00:00:00Z');
/** A certificate valid for `life` ms from T0, looked at `elapsed` ms into its life. */
const cert = (life: number) => ({ notBefore: new Date(T0), notAfter: new Date(T0 + life) });
const at = (ms: number) => new Date(T0 + ms);

test('needsRenewal: due once 2/3 of the lifetime has passed, exactly at the boundary', () => {
  const c = cert(30 * H); // threshold: 10 h remaining, i.e. 20 h in
  assert.equal(needsRenewal(c, at(0)), false);
  assert.equal(needsRenewal(c, at(20 * H - 1)), false);
  assert.equal(needsRenewal(c, at(20 * H)), true);
  assert.equal(needsRenewal(c, at(29 * H)), true);
  assert.equal(needsRenewal(c, at(31 * H)), true, 'an expired certificate is due');
});

test('needsRenewal: --expires-in replaces the 1/3 threshold', () => {
  const c = cert(24 * H);
  assert.equal(needsRenewal(c, at(23 * H - 1), 1 * H), false);
  assert.equal(needsRenewal(c, at(23 * H), 1 * H), true);
  assert.equal(needsRenewal(c, at(1 * H), 23 * H), true);
  assert.equal(needsRenewal(c, at(23 * H), 0), false, '0: only once expired');
  assert.equal(needsRenewal(c, at(24 * H), 0), true);
});

test('nextRenewalDelay: far from the threshold it waits d minus up to L/20 of jitter', () => {
  const L = 24 * H;
  const c = cert(L);
  const d = 16 * H; // from T0: remaining 24 h, threshold 8 h
  assert.equal(nextRenewalDelay(c, at(0), {}, () => 0), d);
  assert.equal(nextRenewalDelay(c, at(0), {}, () => 0.999), Math.floor(d - 0.999 * (L / 20)));
  assert.ok(nextRenewalDelay(c, at(0), {}, () => 0.999) > d - L / 20);
});

test('nextRenewalDelay: within L/20 of the threshold the whole wait is random in [0, d)', () => {
  const L = 20 * H; // L/20 = 1 h; threshold 20h/3
  const c = cert(L);
  const now = at(L - L / 3 - 30 * M); // d = 30 min < 1 h
  assert.equal(nextRenewalDelay(c, now, {}, () => 0), 0);
  assert.equal(nextRenewalDelay(c, now, {}, () => 0.5), 15 * M);
  assert.equal(nextRenewalDelay(c, now, {}, () => 0.999), Math.floor(0.999 * 30 * M));
});

test('nextRenewalDelay: at or past the threshold, and after expiry, it renews now', () => {
  const c = cert(9 * H);
  assert.equal(nextRenewalDelay(c, at(6 * H), {}, () => 0.999), 0);
  assert.equal(nextRenewalDelay(c, at(7 * H), {}, () => 0.999), 0);
  assert.equal(nextRenewalDelay(c, at(10 * H), {}, () => 0.999), 0);
});

test('nextRenewalDelay: --expires-in sets the threshold', () => {
  const c = cert(24 * H);
  assert.equal(nextRenewalDelay(c, at(0), { expiresIn: 1 * H }, () => 0), 23 * H);
  assert.equal(nextRenewalDelay(c, at(0), { expiresIn: 1 * H }, () => 0.5), 23 * H - 0.5 * (24 * H / 20));
});

test('nextRenewalDelay: --renew-period renews every P, at once when less than P remains', () => {
  const c = cert(24 * H);
  assert.equal(nextRenewalDelay(c, at(0), { renewPeriod: 1 * H }, () => 0.999), 1 * H);
  assert.equal(nextRenewalDelay(c, at(22 * H), { renewPeriod: 1 * H }, () => 0.999), 1 * H);
  assert.equal(nextRenewalDelay(c, at(23 * H), { renewPeriod: 1 * H }, () => 0.999), 0);
  assert.equal(nextRenewalDelay(c, at(23.5 * H), { renewPeriod: 1 * H }, () => 0), 0);
  assert.equal(nextRenewalDelay(c, at(0), { renewPeriod: 1 * H, expiresIn: 23.9 * H }, () => 0), 1 * H, 'the period wins over --expires-in');
});

test('retryDelay: one minute, doubling, capped at ten; never waits past most of what is left', () => {
  const c = cert(30 * 24 * H);
  assert.deepEqual([1, 2, 3, 4, 5, 9].map((n) => retryDelay(n, c, at(0))), [1 * M, 2 * M, 4 * M, 8 * M, 10 * M, 10 * M]);
  assert.equal(retryDelay(3, c, at(30 * 24 * H - 3 * M)), 90 * S, 'half of the 3 min left');
  assert.equal(retryDelay(1, c, at(30 * 24 * H - 2 * S)), RETRY_FLOOR_MS, 'not a busy loop just before expiry');
  assert.equal(retryDelay(9, c, at(31 * 24 * H)), 10 * M, 'expired: plain backoff (renew after expiry may be allowed)');
});

test('splitExec: words, quotes and escapes without a shell', () => {
  const cases: [string, string[]][] = [
    ['systemctl reload nginx', ['systemctl', 'reload', 'nginx']],
    ['  a   b\tc\n', ['a', 'b', 'c']],
    [`echo 'hello world'`, ['echo', 'hello world']],
    [`echo "it's \\"quoted\\""`, ['echo', `it's "quoted"`]],
    [`printf '%s\\n' "a b"`, ['printf', '%s\\n', 'a b']],
    ['a\\ b c', ['a b', 'c']],
    [`x"y z"'w'`, ['xy zw']],
    [`cmd "" ''`, ['cmd', '', '']],
    [`sh -c 'echo $HOME; ls'`, ['sh', '-c', 'echo $HOME; ls']],
    ['a;b |c', ['a;b', '|c']],
    [`"C:\\dir" "\\n"`, ['C:\\dir', '\\n']],
    ['', []],
    ['   ', []],
  ];
  for (const [input, argv] of cases) assert.deepEqual(splitExec(input), argv, input);
});

test('splitExec: unbalanced quotes and a trailing backslash are errors', () => {
  assert.throws(() => splitExec(`echo 'oops`), /unbalanced single quote/);
  assert.throws(() => splitExec('echo "oops'), /unbalanced double quote/);
  assert.throws(() => splitExec('echo \\'), /lone backslash/);
});
