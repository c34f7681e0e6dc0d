// Where signatures are worked (stepstone.signatures): what 'auto' picks for a core count, that
// the event loop and libuv's pool give the same answers, good and bad, with the loop's made before
// the call returns and the pool's only after the event loop turns, and that 'auto' keeps the dear
// keys' operations (RSA signing, P-384) on the pool.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { placeSignatures, resolveSignatures, signaturesThread, signBytes, verifySignature, type SignatureThread } from '../../src/pki/signature-work.ts';

test("'auto' puts signatures on the pool only where each serving process has three cores or more", () => {
  const cases: [processes: number, cores: number, want: SignatureThread][] = [
    [1, 1, 'loop'], [1, 2, 'loop'], [1, 3, 'pool'], [1, 8, 'pool'],
    [2, 4, 'loop'], [2, 5, 'loop'], [2, 6, 'pool'], [4, 8, 'loop'], [4, 12, 'pool'],
  ];
  for (const [processes, cores, want] of cases) assert.equal(resolveSignatures('auto', processes, cores), want, `${processes} process(es) on ${cores} cores`);
  assert.equal(resolveSignatures('loop', 1, 64), 'loop');
  assert.equal(resolveSignatures('pool', 8, 2), 'pool');
});

const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ed = generateKeyPairSync('ed25519');
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const data = Buffer.from('the signed part');
const ecSig = sign('sha256', data, ec.privateKey);

/** Settles `p` against a microtask: 'now' when it had settled before the call returned. */
async function settledAt(p: Promise<unknown>): Promise<'now' | 'later'> {
  const r = await Promise.race([p.then(() => 'now' as const, () => 'now' as const), Promise.resolve().then(() => 'later' as const)]);
  await p.catch(() => undefined);
  return r;
}

for (const thread of ['loop', 'pool'] as const) {
  test(`signatures on the ${thread}: the same answers as node:crypto, made ${thread === 'loop' ? 'before the call returns' : 'after the event loop turns'}`, async (t) => {
    const before = signaturesThread();
    placeSignatures(thread);
    t.after(() => placeSignatures(before));
    assert.equal(signaturesThread(), thread);

    assert.equal(await verifySignature('sha256', data, ec.publicKey, ecSig), true);
    assert.equal(await verifySignature('sha256', Buffer.from('another part'), ec.publicKey, ecSig), false, 'other data');
    assert.equal(await verifySignature('sha256', data, ec.publicKey, Buffer.from([0x30, 0x03, 0x02, 0x01])), false, 'a malformed signature');
    assert.equal(await verifySignature('sha256', data, ed.publicKey, ecSig), false, 'a key of another type');
    assert.equal(await verifySignature('no-such-digest', data, ec.publicKey, ecSig), false, 'an unknown digest');
    assert.equal(await verifySignature('sha256', data, rsa.publicKey, sign('sha256', data, rsa.privateKey)), true, 'RSA');

    for (const [hash, key, pub] of [['sha256', ec.privateKey, ec.publicKey], [null, ed.privateKey, ed.publicKey], ['sha384', rsa.privateKey, rsa.publicKey]] as const) {
      const sig = await signBytes(hash, data, key);
      assert.ok(verify(hash, data, pub, sig), `${key.asymmetricKeyType}: its signature verifies`);
    }
    await assert.rejects(signBytes('sha256', data, ec.publicKey), 'a public key cannot sign');
    await assert.rejects(signBytes('no-such-digest', data, ec.privateKey));

    const want = thread === 'loop' ? 'now' : 'later';
    assert.equal(await settledAt(verifySignature('sha256', data, ec.publicKey, ecSig)), want);
    assert.equal(await settledAt(signBytes('sha256', data, ec.privateKey)), want);
  });
}

test("'auto' on the loop runs only cheap keys' operations there; dear ones stay on the pool", async (t) => {
  const before = signaturesThread();
  t.after(() => placeSignatures(before));
  const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  const p384Sig = sign('sha384', data, p384.privateKey);
  const edSig = sign(null, data, ed.privateKey);
  const rsaSig = sign('sha256', data, rsa.privateKey);

  placeSignatures('auto', 1, 2);
  assert.equal(signaturesThread(), 'loop');
  const cases: [string, () => Promise<unknown>, 'now' | 'later'][] = [
    ['P-256 verify', () => verifySignature('sha256', data, ec.publicKey, ecSig), 'now'],
    ['P-256 verify, a JWS key form', () => verifySignature('sha256', data, { key: ec.publicKey, dsaEncoding: 'der' }, ecSig), 'now'],
    ['P-256 sign', () => signBytes('sha256', data, ec.privateKey), 'now'],
    ['Ed25519 verify', () => verifySignature(null, data, ed.publicKey, edSig), 'now'],
    ['Ed25519 sign', () => signBytes(null, data, ed.privateKey), 'now'],
    ['RSA verify', () => verifySignature('sha256', data, rsa.publicKey, rsaSig), 'now'],
    ['RSA sign', () => signBytes('sha256', data, rsa.privateKey), 'later'],
    ['P-384 verify', () => verifySignature('sha384', data, p384.publicKey, p384Sig), 'later'],
    ['P-384 sign', () => signBytes('sha384', data, p384.privateKey), 'later'],
    ['a key as PEM text', () => verifySignature('sha256', data, ec.publicKey.export({ type: 'spki', format: 'pem' }), ecSig), 'later'],
  ];
  for (const [what, op, want] of cases) assert.equal(await settledAt(op()), want, what);
  assert.equal(await verifySignature('sha384', data, p384.publicKey, p384Sig), true);
  assert.equal(await verifySignature('sha256', data, rsa.publicKey, rsaSig), true);

  placeSignatures('loop');
  for (const [what, op] of cases) assert.equal(await settledAt(op()), 'now', `"loop" chosen: ${what}`);
  placeSignatures('auto', 1, 4);
  assert.equal(signaturesThread(), 'pool');
  for (const [what, op] of cases) assert.equal(await settledAt(op()), 'later', `'auto' on 4 cores: ${what}`);
});
