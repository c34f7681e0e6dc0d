// spki-policy.ts and its use by the CSR parser, fast path and library path alike (issue 12 item 3),
// and jws-canonical.ts (item 1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import { spkiProblem } from '../../src/pki/spki-policy.ts';
import { parseCsr, parseCsrWithLibrary } from '../../src/pki/csr.ts';
import { readCsrFast } from '../../src/pki/csr-fast.ts';
import { nonCanonicalJws, signedPartKey } from '../../src/provisioners/jws-canonical.ts';
import { makeOddCsrs } from '../fuzz/engine.ts';

const der = (pem: string) => new Uint8Array(Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64'));

test('canonical keys of every accepted type pass', () => {
  for (const pair of [
    generateKeyPairSync('ec', { namedCurve: 'P-256' }), generateKeyPairSync('ec', { namedCurve: 'P-384' }), generateKeyPairSync('ec', { namedCurve: 'P-521' }),
    generateKeyPairSync('rsa', { modulusLength: 2048 }), generateKeyPairSync('ed25519'),
  ]) assert.equal(spkiProblem(pair.publicKey.export({ type: 'spki', format: 'der' })), null);
});

test('non-canonical keys are named: explicit curve, RSA without NULL or with other parameters, Ed25519 with parameters, trailing bytes', () => {
  const rsa = AsnConvert.parse(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo);
  const withParams = (p: AlgorithmIdentifier) => { rsa.algorithm = p; return new Uint8Array(AsnConvert.serialize(rsa)); };
  assert.match(spkiProblem(withParams(new AlgorithmIdentifier({ algorithm: '1.2.840.113549.1.1.1' }))) ?? '', /lacks the NULL/);
  assert.match(spkiProblem(withParams(new AlgorithmIdentifier({ algorithm: '1.2.840.113549.1.1.1', parameters: new Uint8Array([4, 0]).buffer }))) ?? '', /other than NULL/);
  const ok = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' });
  assert.match(spkiProblem(Buffer.concat([ok, Buffer.from([0])])) ?? '', /not in DER|bytes after/);
  const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey.export({ type: 'spki', format: 'der' });
  assert.match(spkiProblem(k1) ?? '', /does not name P-256/);
});

test('the CSR parser refuses each odd CSR with its reason; the fast reader never takes one as canonical EC', async () => {
  const expected: Record<string, RegExp> = {
    'explicit EC parameters': /explicit curve parameters/, 'RSA without NULL': /lacks the NULL/,
    'compressed EC point': /uncompressed/, 'Ed25519 with parameters': /Ed25519 public key has algorithm parameters/,
  };
  const odd = makeOddCsrs();
  assert.deepEqual(odd.map((o) => o.what).sort(), Object.keys(expected).sort());
  for (const { what, csrPem } of odd) {
    assert.ok(!readCsrFast(der(csrPem))?.ec, `${what}: fast reader took it as an EC key`);
    await assert.rejects(parseCsr(csrPem), expected[what]!, what);
    await assert.rejects(parseCsrWithLibrary(csrPem), expected[what]!, what);
  }
});

test('JWS parts must be canonical base64url; the replay key is the signed part', () => {
  const good = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.AAA';
  assert.equal(nonCanonicalJws(good), null);
  assert.match(nonCanonicalJws('eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.AAB') ?? '', /signature is not in canonical/);
  assert.match(nonCanonicalJws('eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In1.AAA') ?? '', /payload is not in canonical/);
  assert.match(nonCanonicalJws('eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.A+A') ?? '', /not base64url/);
  assert.match(nonCanonicalJws('a.b') ?? '', /three/);
  assert.equal(signedPartKey(good), signedPartKey('eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.BBBB'));
});
