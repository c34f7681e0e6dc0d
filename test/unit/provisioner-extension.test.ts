// The provisioner extension is read by the strict DER reader on the renewal path; the schema
// parser (@peculiar/asn1-schema) stays the reference and the fallback. Every shape of ours and
// step-ca's must read the same both ways; shapes outside them must be left to the schema parser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseProvisionerValue, provisionerExtension, readProvisionerExtension, readProvisionerValue, PROVISIONER_EXTENSION_OID } from '../../src/authority/provisioner-extension.ts';
import { seq, tlv } from '../../src/pki/der.ts';
import { x509 } from '../../src/pki/x509.ts';

const enc = new TextEncoder();
const octets = (s: string) => tlv(0x04, Buffer.from(enc.encode(s)));
const int = (n: number) => tlv(0x02, Buffer.from(n < 0x80 ? [n] : [n >> 8, n & 0xff]));
const ab = (b: Uint8Array) => b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer;

test('our own extension and step-ca shapes read the same as the schema parser', async () => {
  const values: Uint8Array[] = [
    seq(int(1), octets('admin'), octets('kid-123')),
    seq(int(6), octets('acme'), octets('')),
    seq(int(7), octets('x5c-prov'), octets('é ünïcode ✓')),
    seq(int(1), octets('with-pairs'), octets('k'), seq(tlv(0x0c, Buffer.from('a')), tlv(0x0c, Buffer.from('b=c')))),
    seq(int(11), octets(''), octets(''), seq()),
    seq(int(1), octets('x'.repeat(300)), octets('y'.repeat(200))),
    new Uint8Array(provisionerExtension({ type: 1, name: 'admin', credentialId: 'abc' }).value),
  ];
  for (const v of values) {
    assert.ok(readProvisionerValue(v), 'read by the fast path');
    assert.deepEqual(readProvisionerValue(v), parseProvisionerValue(ab(v)));
  }
  // Through a real certificate, as renewal reads it.
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
  const keys = await crypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01', name: 'CN=ext', keys, signingAlgorithm: alg,
    extensions: [provisionerExtension({ type: 7, name: 'x5c', credentialId: 'cred' })],
  });
  assert.deepEqual(readProvisionerExtension(cert), { type: 7, name: 'x5c', credentialId: 'cred' });
  assert.equal(cert.getExtension(PROVISIONER_EXTENSION_OID) !== null, true);
});

test('shapes outside ours are left to the schema parser', () => {
  // A two-byte INTEGER type, pairs that are not UTF8Strings, a missing field, trailing bytes.
  for (const v of [
    seq(int(256), octets('a'), octets('b')),
    seq(int(1), octets('a'), octets('b'), seq(octets('c'))),
    seq(int(1), octets('a')),
    Buffer.concat([seq(int(1), octets('a'), octets('b')), Buffer.from([0])]),
  ]) assert.equal(readProvisionerValue(v), null);
});
