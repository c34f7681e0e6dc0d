// name-rules.ts: which names a certificate may carry (issue 12 items 4 and 5).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { commonNameProblem, dnsNameProblem, hasZoneId, sanProblem } from '../../src/authority/name-rules.ts';
import { classifySan } from '../../src/pki/names.ts';

const san = (s: string) => sanProblem(classifySan(s));

test('DNS names: LDH labels, leading "*." only, A-labels, length bounds', () => {
  const longest = `${`${'a'.repeat(62)}.`.repeat(4)}a`;
  assert.equal(longest.length, 253);
  for (const ok of ['localhost', 'a.b', 'A-1.example', '*.example.com', 'xn--bcher-kva.example', `${'a'.repeat(63)}.x`, longest]) {
    assert.equal(dnsNameProblem(ok), null, ok);
  }
  assert.match(dnsNameProblem(`${longest}a`) ?? '', /254 characters long/);
  const bad: [string, RegExp][] = [
    ['*', /bare wildcard/], ['*.', /empty label/], ['a.*.b', /wildcard other/], ['*a.b', /wildcard other/], ['**.b', /wildcard other/],
    ['-a.b', /inner hyphens/], ['a-.b', /inner hyphens/], ['a_b.c', /inner hyphens/], ['a..b', /empty label/], ['a.b.', /empty label/],
    [`${'a'.repeat(64)}.b`, /label of 64/], [`${'a.'.repeat(127)}ab`, /at most 253/], ['xn--zz.b', /A-label/], ['bücher.de', /punycode/],
  ];
  for (const [name, why] of bad) assert.match(dnsNameProblem(name) ?? '', why, name);
});

test('every SAN kind: control and bidi characters, zone ids, URIs, emails', () => {
  for (const ok of ['10.0.0.1', '::1', 'a@b.example', '"a b"@b.example', 'spiffe://td/x', 'https://a.example/p?q=1#f', 'urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66']) {
    assert.equal(san(ok), null, ok);
  }
  const bad: [string, RegExp][] = [
    ['a\u0000.b', /control character/], ['a\u007f.b', /control character/], ['x\u0085@a.b', /control character/], ['https://a\u202e.b', /bidirectional/],
    ['fe80::1%eth0', /zone id/], ['fe80::1%25eth0', /zone id/], ['https://a b', /cannot hold/], ['https://a/%zz', /cannot hold/],
    ['a@b@c.d', /not an email/], ['@b.c', /not an email/], [`${'a'.repeat(65)}@b.c`, /local part of 65/], ['a@b_c.d', /domain that/],
  ];
  for (const [name, why] of bad) assert.match(san(name) ?? '', why, JSON.stringify(name));
  assert.ok(hasZoneId('fe80::1%1'));
  assert.ok(!hasZoneId('a%b'));
});

test('common names: at most 64 characters (not bytes), no control, bidi or lone surrogates', () => {
  assert.equal(commonNameProblem('日'.repeat(64)), null);
  assert.equal(commonNameProblem('My Service (prod)'), null);
  assert.match(commonNameProblem('x'.repeat(65)) ?? '', /65 characters long/);
  assert.match(commonNameProblem('a\u200fb') ?? '', /bidirectional/);
  assert.match(commonNameProblem('a\rb') ?? '', /"a\\rb" has a control character/);
  assert.match(commonNameProblem('a\ud800') ?? '', /not valid Unicode/);
});
