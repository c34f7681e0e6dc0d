// The CRL builder against @peculiar/x509's X509CrlGenerator: the signed part must be the same
// bytes, and openssl must verify and read the result.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AsnConvert } from '@peculiar/asn1-schema';
import * as asn1X509 from '@peculiar/asn1-x509';
import { x509 } from '../../src/pki/x509.ts';
import { toPem } from '../../src/pki/pem.ts';
import { buildCrl, crlExtensions } from '../../src/authority/crl.ts';
import { createIntermediateCertificate, createRootCertificate, makeIssuer, type Issuer } from '../../src/authority/profiles.ts';
import type { RevokedEntry } from '../../src/ledger/ledger.ts';

const DAY = 86_400_000;

async function issuers(kind: 'ec' | 'rsa' | 'ed25519'): Promise<{ root: x509.X509Certificate; inter: Issuer }> {
  const gen = () => (kind === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : kind === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ed25519'));
  const now = new Date();
  const rk = gen();
  const root = await createRootCertificate({ name: `Root ${kind}`, key: rk.privateKey, notBefore: now, notAfter: new Date(now.getTime() + DAY) });
  const ik = gen();
  const cert = await createIntermediateCertificate({ name: `Inter ${kind}`, publicKey: ik.publicKey, issuer: await makeIssuer(root, rk.privateKey), notBefore: now, notAfter: new Date(now.getTime() + DAY) });
  return { root, inter: await makeIssuer(cert, ik.privateKey) };
}

function entries(n: number): RevokedEntry[] {
  const reasons = [0, 1, 2, 3, 4, 5, 6, 8, 9, 10];
  return Array.from({ length: n }, (_, i) => ({
    serial: BigInt(`0x${randomBytes(16).toString('hex')}`).toString(),
    revokedAt: new Date(Math.floor((Date.now() - i * 60_000) / 1000) * 1000),
    reasonCode: reasons[i % reasons.length]!,
    notAfter: new Date(Date.now() + DAY),
  }));
}

for (const kind of ['ec', 'rsa', 'ed25519'] as const) {
  test(`${kind}: the TBS is byte-identical to X509CrlGenerator's, and openssl verifies it`, async () => {
    const { root, inter } = await issuers(kind);
    const list = entries(25);
    const thisUpdate = new Date(Math.floor(Date.now() / 1000) * 1000);
    const nextUpdate = new Date(thisUpdate.getTime() + DAY);
    const params = { issuer: inter, number: 7, thisUpdate, nextUpdate, entries: list, idpUrl: 'http://ca.internal/crl' };
    const ours = await buildCrl(params);
    const reference = await x509.X509CrlGenerator.create({
      issuer: inter.cert.subjectName, thisUpdate, nextUpdate, extensions: crlExtensions(params),
      entries: list.map((e) => ({ serialNumber: BigInt(e.serial).toString(16), revocationDate: e.revokedAt, reason: e.reasonCode as x509.X509CrlReason })),
      signingKey: inter.key.privateKey, signingAlgorithm: inter.key.signAlg,
    });
    const tbs = (der: ArrayBuffer) => Buffer.from(AsnConvert.serialize(AsnConvert.parse(der, asn1X509.CertificateList).tbsCertList));
    assert.ok(tbs(ours).equals(tbs(reference.rawData)), 'same TBSCertList bytes');
    const crl = new x509.X509Crl(ours);
    assert.equal(await crl.verify({ publicKey: inter.cert.publicKey }), true);
    assert.equal(crl.entries.length, 25);

    const dir = mkdtempSync(join(tmpdir(), 'crl-'));
    writeFileSync(join(dir, 'chain.pem'), toPem(inter.cert.rawData, 'CERTIFICATE') + toPem(root.rawData, 'CERTIFICATE'));
    writeFileSync(join(dir, 'crl.der'), Buffer.from(ours));
    const out = execFileSync('openssl', ['crl', '-inform', 'DER', '-in', join(dir, 'crl.der'), '-CAfile', join(dir, 'chain.pem'), '-noout', '-text'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.match(out, /X509v3 CRL Number: \n\s+7\n/);
    assert.match(out, /Issuing Distribution Point: critical/);
    assert.equal((out.match(/Serial Number: /g) ?? []).length, 25);
    assert.match(out, /Key Compromise/);
    const v = spawnSync('openssl', ['crl', '-inform', 'DER', '-in', join(dir, 'crl.der'), '-CAfile', join(dir, 'chain.pem'), '-noout'], { encoding: 'utf8' });
    assert.equal(v.status, 0, v.stderr);
    assert.match(v.stderr, /verify OK/);
  });
}

test('an empty CRL has no revokedCertificates and no IDP unless asked', async () => {
  const { inter } = await issuers('ec');
  const crl = new x509.X509Crl(await buildCrl({ issuer: inter, number: 1, thisUpdate: new Date(), nextUpdate: new Date(Date.now() + DAY), entries: [] }));
  assert.equal(crl.entries.length, 0);
  assert.equal(crl.extensions.some((e) => e.type === asn1X509.id_ce_issuingDistributionPoint), false);
  assert.equal(await crl.verify({ publicKey: inter.cert.publicKey }), true);
});
