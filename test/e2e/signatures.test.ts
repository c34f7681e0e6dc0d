// stepstone.signatures against a running CA: on the event loop and on libuv's pool alike, /sign
// issues a certificate that chains to the root, refuses a forged token (401) and a CSR whose
// signature is broken (400), and /renew over mTLS renews; the start-up line says where
// signatures run, and 'auto' (the default) follows this machine's cores.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import * as jose from 'jose';
import { startTestCa, request, type TestCa } from '../helpers/ca.ts';
import { mintToken, opensslCsr, provisionerKey } from '../helpers/tokens.ts';
import { resolveSignatures } from '../../src/pki/signature-work.ts';

function servingLine(ca: TestCa): { signatures?: string } {
  return JSON.parse(ca.logs.find((l) => l.includes('"msg":"Stepstone CA serving"'))!);
}

/** The CSR with one bit of its signature flipped (its last byte is inside the signature BIT STRING). */
function brokenSignature(csrPem: string): string {
  const der = Buffer.from(csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  der[der.length - 1]! ^= 0x01;
  return `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE REQUEST-----\n`;
}

async function exercise(ca: TestCa): Promise<void> {
  const admin = await provisionerKey(ca.configPath, ca.password);
  const aud = `${ca.url}/1.0/sign`;
  const cn = 'signatures.internal';
  const { csrPem, keyPem } = opensslCsr(cn, [cn]);

  const signed = await request(ca, 'POST', '/1.0/sign', { csr: csrPem, ott: await mintToken(admin, { aud, sub: cn, sans: [cn] }) });
  assert.equal(signed.status, 201, signed.body);
  const leaf = new X509Certificate(signed.json.crt);
  assert.ok(leaf.verify(new X509Certificate(signed.json.ca).publicKey), 'signed by the intermediate');
  assert.ok(new X509Certificate(signed.json.ca).verify(new X509Certificate(ca.rootPem).publicKey), 'which the root signed');

  const { privateKey } = await jose.generateKeyPair(admin.alg);
  const forged = await request(ca, 'POST', '/1.0/sign', { csr: csrPem, ott: await mintToken({ ...admin, key: privateKey }, { aud, sub: cn, sans: [cn] }) });
  assert.equal(forged.status, 401, forged.body);

  const broken = await request(ca, 'POST', '/1.0/sign', { csr: brokenSignature(csrPem), ott: await mintToken(admin, { aud, sub: cn, sans: [cn] }) });
  assert.equal(broken.status, 400, broken.body);
  assert.match(broken.json.message, /signature/i);

  const renewed = await request(ca, 'POST', '/1.0/renew', undefined, { cert: signed.json.crt, key: keyPem });
  assert.equal(renewed.status, 201, renewed.body);
  const next = new X509Certificate(renewed.json.crt);
  assert.notEqual(next.serialNumber, leaf.serialNumber);
  assert.ok(next.verify(new X509Certificate(signed.json.ca).publicKey));
}

for (const thread of ['loop', 'pool'] as const) {
  test(`"signatures": "${thread}": sign, refusals and renew work, and the start-up line says so`, async (t) => {
    const ca = await startTestCa({ configure: (c) => { c.stepstone = { ...c.stepstone, signatures: thread }; } });
    t.after(() => ca.cleanup());
    assert.equal(servingLine(ca).signatures, thread);
    await exercise(ca);
  });
}

test("by default ('auto') signatures run where this machine's cores put them", async (t) => {
  const ca = await startTestCa();
  t.after(() => ca.cleanup());
  assert.equal(servingLine(ca).signatures, resolveSignatures('auto', 1));
});

test("an RSA-keyed CA on 'auto' (its signatures stay on the pool): sign, refusals and renew work", async (t) => {
  const ca = await startTestCa({ kty: 'RSA' });
  t.after(() => ca.cleanup());
  assert.equal(new X509Certificate(ca.rootPem).publicKey.asymmetricKeyType, 'rsa');
  await exercise(ca);
});
