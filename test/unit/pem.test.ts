// toPem is the issuance path's own base64 (see src/pki/pem.ts): held to @peculiar/x509's
// PemConverter on every length around the 48-byte line boundary and on real DER, and read back
// by pemBlocks and by openssl.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { x509 } from '../../src/pki/x509.ts';
import { pemBlocks, toPem } from '../../src/pki/pem.ts';

const reference = (der: ArrayBuffer, label: string) => `${x509.PemConverter.encode(der, label)}\n`;

test('toPem gives PemConverter\'s text for every length 0–400 and for large blocks, from ArrayBuffers and from Buffer views', () => {
  const lengths = [...Array.from({ length: 401 }, (_, i) => i), 1023, 1024, 4095, 65_537];
  for (const n of lengths) {
    const der = crypto.randomBytes(n);
    const ab = der.buffer.slice(der.byteOffset, der.byteOffset + n) as ArrayBuffer;
    for (const label of ['CERTIFICATE', 'X509 CRL', 'certificate request']) {
      assert.equal(toPem(ab, label), reference(ab, label), `${n} bytes, ${label}`);
    }
    // A view into a larger pool: only its own bytes are encoded.
    const pool = Buffer.concat([crypto.randomBytes(7), der, crypto.randomBytes(5)]);
    assert.equal(toPem(pool.subarray(7, 7 + n), 'CERTIFICATE'), reference(ab, 'CERTIFICATE'));
    assert.deepEqual(Buffer.from(pemBlocks(toPem(ab, 'CERTIFICATE'), 'CERTIFICATE')[0] ?? new ArrayBuffer(0)), der);
  }
});

test('a certificate encoded by toPem is the one openssl reads', async () => {
  const keys = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: '01', name: 'CN=pem', keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } });
  const pem = toPem(cert.rawData, 'CERTIFICATE');
  assert.equal(pem, reference(cert.rawData, 'CERTIFICATE'));
  const out = spawnSync('openssl', ['x509', '-noout', '-fingerprint', '-sha256'], { input: pem, encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  const fp = crypto.createHash('sha256').update(Buffer.from(cert.rawData)).digest('hex').toUpperCase().match(/../g)!.join(':');
  assert.match(out.stdout, new RegExp(fp));
});
