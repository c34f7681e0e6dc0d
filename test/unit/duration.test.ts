// Go-style durations and the time-or-duration form of notBefore/notAfter (api.md §1.9, §6.3).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, parseDuration, parseTimeOrDuration } from '../../src/util/duration.ts';

const S = 1000;
const M = 60 * S;
const H = 60 * M;

test('parseDuration reads Go durations into milliseconds', () => {
  const cases: [string, number][] = [
    ['1h30m', H + 30 * M],
    ['-5m', -5 * M],
    ['300ms', 300],
    ['1.5h', 90 * M],
    ['24h0m0s', 24 * H],
    ['0', 0],
    ['5m', 5 * M],
    ['2h45m30.5s', 2 * H + 45 * M + 30_500],
    ['+10s', 10 * S],
    ['.5s', 500],
    ['1500us', 2], // 1.5 ms rounds to 2
    ['1500µs', 2],
    ['90s', 90 * S],
  ];
  for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, text);
});

test('parseDuration: a signed zero is zero, as in Go', () => {
  // Go's time.ParseDuration strips the sign before its special case for "0".
  assert.equal(parseDuration('+0'), 0);
  assert.equal(Math.abs(parseDuration('-0') ?? NaN), 0);
});

test('parseDuration: surrounding whitespace is not part of Go\'s grammar', () => {
  // time.ParseDuration(" 5m") fails in Go, so step-ca answers 400 to notAfter " 5m".
  for (const text of [' 5m', '5m ', '\t1h', '1h\n']) assert.equal(parseDuration(text), null, JSON.stringify(text));
});

test('parseDuration refuses what is not a Go duration', () => {
  for (const text of ['', '5', 'garbage', 'h', '1d', '5 m', '1h 30m', '--5m', '1m-5s', 'm5', '1.2.3s', 'NaN', 'Infinity', '-']) {
    assert.equal(parseDuration(text), null, JSON.stringify(text));
  }
});

test('formatDuration matches Go time.Duration.String()', () => {
  const cases: [number, string][] = [
    [48 * H + M, '48h1m0s'],
    [2 * M, '2m0s'],
    [5 * M, '5m0s'],
    [24 * H + M, '24h1m0s'],
    [24 * H, '24h0m0s'],
    [H, '1h0m0s'],
    [0, '0s'],
    [1500, '1.5s'],
    [M + 500, '1m0.5s'],
    [1234, '1.234s'],
    [300, '300ms'],
    [-5 * M, '-5m0s'],
    [H + 30 * M + 5 * S, '1h30m5s'],
  ];
  for (const [ms, text] of cases) assert.equal(formatDuration(ms), text, String(ms));
});

test('formatDuration output parses back to the same value', () => {
  for (const ms of [48 * H + M, 2 * M, 1500, 300, 24 * H + 59 * M + 59 * S]) {
    assert.equal(parseDuration(formatDuration(ms)), ms);
  }
});

const base = new Date('2030-06-01T12:00:00.000Z');

test('parseTimeOrDuration: RFC 3339 with Z and with offsets', () => {
  assert.equal(parseTimeOrDuration('2026-11-24T10:00:00Z', base)?.toISOString(), '2026-11-24T10:00:00.000Z');
  assert.equal(parseTimeOrDuration('2026-11-24T12:00:00+02:00', base)?.toISOString(), '2026-11-24T10:00:00.000Z');
  assert.equal(parseTimeOrDuration('2026-11-24T05:30:00-04:30', base)?.toISOString(), '2026-11-24T10:00:00.000Z');
  assert.equal(parseTimeOrDuration('2026-11-24T10:00:00.250Z', base)?.toISOString(), '2026-11-24T10:00:00.250Z');
});

test('parseTimeOrDuration: a duration is relative to the base', () => {
  assert.equal(parseTimeOrDuration('2h', base)?.toISOString(), '2030-06-01T14:00:00.000Z');
  assert.equal(parseTimeOrDuration('-5m', base)?.toISOString(), '2030-06-01T11:55:00.000Z');
  assert.equal(parseTimeOrDuration('1h30m', base)?.toISOString(), '2030-06-01T13:30:00.000Z');
  assert.equal(parseTimeOrDuration('0', base)?.toISOString(), base.toISOString());
});

test('parseTimeOrDuration: an impossible calendar date is refused, not rolled over', () => {
  // Go's time.Parse(RFC3339) (what step-ca uses) fails with "day out of range" / "hour out of range";
  // JavaScript's Date silently turns Feb 30 into Mar 2 and 24:00 into the next midnight.
  for (const text of ['2026-02-30T10:00:00Z', '2026-04-31T10:00:00Z', '2026-11-24T24:00:00Z']) {
    assert.throws(() => parseTimeOrDuration(text, base), (e: unknown) => e instanceof Error && e.message.includes(`'${text}'`), text);
  }
});

test('parseTimeOrDuration: the empty string is unset', () => {
  assert.equal(parseTimeOrDuration('', base), null);
});

test('parseTimeOrDuration: anything else throws', () => {
  for (const text of ['garbage', '5', 'tomorrow', '2026-11-24', '2026-11-24T10:00:00', '2026-11-24 10:00:00Z', '2026-13-40T10:00:00Z', '1d']) {
    assert.throws(() => parseTimeOrDuration(text, base), (e: unknown) => e instanceof Error && e.message.includes(`'${text}'`), text);
  }
});
