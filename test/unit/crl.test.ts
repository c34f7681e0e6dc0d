// The CRL builder against @peculiar/x509's X509CrlGenerator: the signed part must be the same
// bytes, and openssl must verify and read the result. The extensions and entries are compared
// with what openssl reads (asn1parse, crl -text, the issuer's SKI from x509): the generator is
// handed our own crlExtensions(), so only openssl is an independent reference for those.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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


const REASONS: Record<number, string | null> = {
  0: null, // unspecified: RFC 5280 says leave the extension out
  1: 'Key Compromise', 2: 'CA Compromise', 3: 'Affiliation Changed', 4: 'Superseded', 5: 'Cessation Of Operation',
  6: 'Certificate Hold', 8: 'Remove From CRL', 9: 'Privilege Withdrawn', 10: 'AA Compromise',
};

interface OpensslCrl {
  /** CRL extensions in order, as asn1parse names them, with their critical flag. */
  extensions: { name: string; critical: boolean }[];
  aki: string;
  number: number;
  idp: string | null;
  entries: { serial: string; revokedAt: number; reason: string | null }[];
}

/** The CRL as the openssl binary reads it. */
function opensslCrl(file: string): OpensslCrl {
  const parsed = execFileSync('openssl', ['asn1parse', '-inform', 'DER', '-in', file], { encoding: 'utf8' }).split('\n');
  const extensions: OpensslCrl['extensions'] = [];
  const start = parsed.findIndex((l) => /d=2 .*cont \[ 0 \]/.test(l));
  for (const line of start < 0 ? [] : parsed.slice(start + 1)) {
    if (/d=[01] /.test(line)) break;
    const oid = /d=5 .*prim: OBJECT\s+:(.+)$/.exec(line);
    if (oid) extensions.push({ name: oid[1]!.trim(), critical: false });
    if (/d=5 .*prim: BOOLEAN\s+:255/.test(line)) extensions.at(-1)!.critical = true;
  }
  const text = execFileSync('openssl', ['crl', '-inform', 'DER', '-in', file, '-noout', '-text'], { encoding: 'utf8' });
  const [head, revoked = ''] = text.split('Revoked Certificates:');
  const entries = [...revoked.matchAll(/Serial Number: ([0-9A-F]+)\n\s+Revocation Date: (.+)\n(?:\s+CRL entry extensions:\n\s+X509v3 CRL Reason Code: ?\n\s+(.+)\n)?/g)]
    .map((m) => ({ serial: BigInt(`0x${m[1]}`).toString(), revokedAt: new Date(m[2]!).getTime(), reason: m[3]?.trim() ?? null }));
  return {
    extensions,
    aki: /X509v3 Authority Key Identifier: ?\n\s+(?:keyid:)?([0-9A-F:]+)/.exec(head!)?.[1] ?? '',
    number: Number(/X509v3 CRL Number: ?\n\s+(\d+)/.exec(head!)?.[1]),
    idp: /Issuing Distribution Point: critical\n\s+Full Name:\n\s+URI:(\S+)/.exec(head!)?.[1] ?? null,
    entries,
  };
}

/** The issuer's subject key identifier, as openssl reads it from the certificate. */
function opensslSki(certPem: string, dir: string): string {
  writeFileSync(join(dir, 'issuer.pem'), certPem);
  return /Subject Key Identifier: ?\n\s+([0-9A-F:]+)/.exec(execFileSync('openssl', ['x509', '-in', join(dir, 'issuer.pem'), '-noout', '-ext', 'subjectKeyIdentifier'], { encoding: 'utf8' }))![1]!;
}

for (const kind of ['ec', 'rsa', 'ed25519'] as const) {
  test(`${kind}: the TBS is byte-identical to X509CrlGenerator's, openssl verifies it and reads the same extensions and entries`, async (t) => {
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
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'chain.pem'), toPem(inter.cert.rawData, 'CERTIFICATE') + toPem(root.rawData, 'CERTIFICATE'));
    writeFileSync(join(dir, 'crl.der'), Buffer.from(ours));
    const out = execFileSync('openssl', ['crl', '-inform', 'DER', '-in', join(dir, 'crl.der'), '-CAfile', join(dir, 'chain.pem'), '-noout', '-text'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.equal((out.match(/Serial Number: /g) ?? []).length, 25);
    const read = opensslCrl(join(dir, 'crl.der'));
    assert.deepEqual(read.extensions, [
      { name: 'X509v3 Authority Key Identifier', critical: false },
      { name: 'X509v3 CRL Number', critical: false },
      { name: 'X509v3 Issuing Distribution Point', critical: true },
    ]);
    assert.equal(read.aki, opensslSki(toPem(inter.cert.rawData, 'CERTIFICATE'), dir), 'AKI is the issuer\'s SKI');
    assert.equal(read.number, 7);
    assert.equal(read.idp, 'http://ca.internal/crl');
    assert.deepEqual(read.entries, list.map((e) => ({ serial: e.serial, revokedAt: e.revokedAt.getTime(), reason: REASONS[e.reasonCode] })));
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
  const dir = mkdtempSync(join(tmpdir(), 'crl-'));
  try {
    writeFileSync(join(dir, 'crl.der'), Buffer.from(crl.rawData));
    const read = opensslCrl(join(dir, 'crl.der'));
    assert.deepEqual(read.extensions, [{ name: 'X509v3 Authority Key Identifier', critical: false }, { name: 'X509v3 CRL Number', critical: false }]);
    assert.equal(read.aki, opensslSki(toPem(inter.cert.rawData, 'CERTIFICATE'), dir));
    assert.equal(read.number, 1);
    assert.deepEqual(read.entries, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
