// The hot paths' DER writer (src/pki/der.ts) against asn1js on every length form: short, and
// long with one to four length bytes at each boundary; several parts written in order; a view
// into a larger buffer contributes only its own bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import * as asn1js from 'asn1js';
import { seq, tlv } from '../../src/pki/der.ts';

const reference = (value: Uint8Array) => Buffer.from(new asn1js.OctetString({ valueHex: value }).toBER());

test('tlv gives asn1js\'s encoding at every length boundary, one part or several', () => {
  for (const n of [0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffff, 0x1000000]) {
    const value = crypto.randomBytes(n);
    assert.ok(tlv(0x04, value).equals(reference(value)), `${n} bytes`);
    const cut = Math.floor(n / 3);
    assert.ok(tlv(0x04, value.subarray(0, cut), value.subarray(cut, 2 * cut), value.subarray(2 * cut)).equals(reference(value)), `${n} bytes in three parts`);
  }
  const pool = crypto.randomBytes(300);
  assert.ok(tlv(0x04, pool.subarray(100, 200)).equals(reference(pool.subarray(100, 200))));
  assert.ok(tlv(0x04).equals(Buffer.from([0x04, 0x00])));
  const nested = seq(tlv(0x04, Buffer.from('ab')), seq());
  assert.ok(nested.equals(Buffer.from([0x30, 0x06, 0x04, 0x02, 0x61, 0x62, 0x30, 0x00])));
});
