// The CRL builder (authority/crl.ts) and reader (pki/crl-parts.ts) are hand-written DER, so they
// are held against independent references: @peculiar/x509's X509CrlGenerator and X509Crl on the
// same input must give the same bytes and the same entries, and `openssl crl` must verify the
// signature and read the same serials, dates and reasons.
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
import { buildCrl, crlExtensions, type CrlParams } from '../../src/authority/crl.ts';
import { readCrlParts, type CrlEntry } from '../../src/pki/crl-parts.ts';
import { readTlv } from '../../src/pki/der.ts';
import { verifyCrl } from '../../src/client/crl.ts';
import { createIntermediateCertificate, createRootCertificate, makeIssuer, type Issuer } from '../../src/authority/profiles.ts';
import type { RevokedEntry } from '../../src/ledger/ledger.ts';

const DAY = 86_400_000;
const REASONS = [0, 1, 2, 3, 4, 5, 6, 8, 9, 10];
const OPENSSL_REASON: Record<string, number> = {
  'Unspecified': 0, 'Key Compromise': 1, 'CA Compromise': 2, 'Affiliation Changed': 3, 'Superseded': 4,
  'Cessation Of Operation': 5, 'Certificate Hold': 6, 'Remove From CRL': 8, 'Privilege Withdrawn': 9, 'AA Compromise': 10,
};

async function issuers(kind: 'ec' | 'rsa' | 'ed25519'): Promise<{ root: x509.X509Certificate; inter: Issuer }> {
  const gen = () => (kind === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : kind === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ed25519'));
  const now = new Date();
  const rk = gen();
  const root = await createRootCertificate({ name: `Root ${kind}`, key: rk.privateKey, notBefore: now, notAfter: new Date(now.getTime() + DAY) });
  const ik = gen();
  const cert = await createIntermediateCertificate({ name: `Inter ${kind}`, publicKey: ik.publicKey, issuer: await makeIssuer(root, rk.privateKey), notBefore: now, notAfter: new Date(now.getTime() + DAY) });
  return { root, inter: await makeIssuer(cert, ik.privateKey) };
}

/** Random serials and dates plus the edges: tiny, high-bit and 20-octet serials, dates past 2049, milliseconds. */
function entries(n: number, reasons = REASONS): RevokedEntry[] {
  const edges = ['1', '127', '128', '255', '32768', BigInt(`0x7f${'ff'.repeat(19)}`).toString(), BigInt(`0x80${'00'.repeat(18)}01`).toString()];
  const dates = [new Date('2051-03-04T05:06:07Z'), new Date('1999-12-31T23:59:59.999Z'), new Date('2049-12-31T23:59:59Z'), new Date('2050-01-01T00:00:00Z')];
  return Array.from({ length: n }, (_, i) => ({
    serial: edges[i] ?? BigInt(`0x${randomBytes(1 + (i % 20)).toString('hex')}`).toString(),
    revokedAt: dates[i % 11] ?? new Date(Date.now() - i * 60_123),
    reasonCode: reasons[i % reasons.length]!,
    notAfter: new Date(Date.now() + DAY),
  })).filter(((seen) => (e: RevokedEntry) => !seen.has(e.serial) && !!seen.add(e.serial))(new Set<string>()));
}

function reference(p: CrlParams): Promise<x509.X509Crl> {
  return x509.X509CrlGenerator.create({
    issuer: p.issuer.cert.subjectName, thisUpdate: p.thisUpdate, nextUpdate: p.nextUpdate, extensions: crlExtensions(p),
    entries: p.entries.map((e) => ({ serialNumber: BigInt(e.serial).toString(16), revocationDate: e.revokedAt, reason: e.reasonCode as x509.X509CrlReason })),
    signingKey: p.issuer.key.privateKey, signingAlgorithm: p.issuer.key.signAlg,
  });
}

const whole = (der: ArrayBuffer | Uint8Array) => AsnConvert.parse(der instanceof Uint8Array ? der.buffer.slice(der.byteOffset, der.byteOffset + der.byteLength) as ArrayBuffer : der, asn1X509.CertificateList);
/** The TBSCertList exactly as encoded (asn1js would refuse a list past 10 000 nodes). */
function tbsOf(der: ArrayBuffer | Uint8Array): Buffer {
  const b = Buffer.from(der instanceof Uint8Array ? der : new Uint8Array(der));
  const inner = readTlv(b, readTlv(b, 0)!.start)!;
  return b.subarray(readTlv(b, 0)!.start, inner.end);
}
const norm = (hex: string) => hex.toLowerCase().replace(/^(00)+/, '') || '0';

interface OpensslCrl {
  /** CRL extensions in order, as asn1parse names them, with their critical flag. */
  extensions: { name: string; critical: boolean }[];
  aki: string;
  number: number;
  idp: string | null;
  entries: { serial: string; revokedAt: number; reason: string | null }[];
}

/** The CRL's extensions as `openssl asn1parse` and `crl -text` read them (an independent reference: the generator is handed our own crlExtensions()). */
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

/** `openssl crl -text`'s entries, and that openssl verified the signature against the chain. */
function openssl(der: Uint8Array, chain: x509.X509Certificate[]): { entries: CrlEntry[]; text: string } {
  const dir = mkdtempSync(join(tmpdir(), 'crl-'));
  try {
    writeFileSync(join(dir, 'chain.pem'), chain.map((c) => toPem(c.rawData, 'CERTIFICATE')).join(''));
    writeFileSync(join(dir, 'crl.der'), der);
    const v = spawnSync('openssl', ['crl', '-inform', 'DER', '-in', join(dir, 'crl.der'), '-CAfile', join(dir, 'chain.pem'), '-noout'], { encoding: 'utf8' });
    assert.equal(v.status, 0, v.stderr);
    assert.match(v.stderr, /verify OK/);
    const text = execFileSync('openssl', ['crl', '-inform', 'DER', '-in', join(dir, 'crl.der'), '-noout', '-text'], { encoding: 'utf8', maxBuffer: 1 << 30 });
    const list: CrlEntry[] = [];
    for (const block of text.split(/\n\s+Serial Number: /).slice(1)) {
      const serial = /^([0-9A-F]+)\n/.exec(block)![1]!;
      const date = /Revocation Date: (.+ GMT)/.exec(block)![1]!;
      const reason = /CRL Reason Code: *\n\s+(.+)/.exec(block)?.[1];
      list.push({ serialHex: norm(serial), revocationDate: new Date(date), reason: reason === undefined ? null : OPENSSL_REASON[reason]! });
    }
    return { entries: list, text };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Equal entry lists, without deepEqual's diff of 100 000 objects on a failure. */
function sameEntries(actual: CrlEntry[], wanted: CrlEntry[], who: string): void {
  assert.equal(actual.length, wanted.length, `${who}: entry count`);
  const key = (e: CrlEntry) => `${e.serialHex} ${e.revocationDate.toISOString()} ${e.reason}`;
  const i = actual.findIndex((e, j) => key(e) !== key(wanted[j]!));
  assert.equal(i, -1, i < 0 ? '' : `${who}: entry ${i} is ${key(actual[i]!)}, expected ${key(wanted[i]!)}`);
}

/** What a RevokedEntry must come back as: whole seconds, reason 0 left out. */
function expected(e: RevokedEntry): CrlEntry {
  return { serialHex: norm(BigInt(e.serial).toString(16).padStart(2, '0').replace(/^(.(..)*)$/, '0$1')), revocationDate: new Date(Math.floor(e.revokedAt.getTime() / 1000) * 1000), reason: e.reasonCode || null };
}

/**
 * X509CrlGenerator writes an empty crlEntryExtensions SEQUENCE for an entry without a reason,
 * which RFC 5280 forbids (Extensions is SIZE (1..MAX)); we leave the field out. So the byte
 * comparison uses entries that all state a reason, and reason 0 is checked by reading back.
 */
const STATED = REASONS.filter((r) => r !== 0);

for (const kind of ['ec', 'rsa', 'ed25519'] as const) {
  test(`${kind}: the same bytes as X509CrlGenerator, the same entries read back by the library, our reader and openssl, which verifies it`, async (t) => {
    const { root, inter } = await issuers(kind);
    const thisUpdate = new Date(Math.floor(Date.now() / 1000) * 1000);
    const base = { issuer: inter, number: 7, thisUpdate, nextUpdate: new Date(thisUpdate.getTime() + DAY), idpUrl: 'http://ca.internal/crl' };
    const stated: CrlParams = { ...base, entries: entries(300, STATED) };
    const ours = await buildCrl(stated);
    const ref = await reference(stated);
    assert.ok(tbsOf(ours).equals(tbsOf(ref.rawData)), 'same TBSCertList bytes');
    if (kind === 'ec') {
      // ECDSA signatures are randomised: all but the signature must agree.
      assert.deepEqual(Buffer.from(AsnConvert.serialize(whole(ours).signatureAlgorithm)), Buffer.from(AsnConvert.serialize(whole(ref.rawData).signatureAlgorithm)));
    } else {
      assert.ok(Buffer.from(ours).equals(Buffer.from(ref.rawData)), 'deterministic signatures: the same CRL, byte for byte');
    }

    const list = entries(300);
    const der = await buildCrl({ ...base, entries: list });
    const want = list.map(expected);
    const parts = readCrlParts(der);
    assert.ok(parts, 'our reader reads our CRL');
    sameEntries(parts.entries(), want, 'our reader');
    assert.equal(parts.entryCount, list.length);
    const lib = new x509.X509Crl(Buffer.from(der));
    sameEntries(lib.entries.map((e) => ({ serialHex: norm(e.serialNumber), revocationDate: e.revocationDate, reason: e.reason ?? null })), want, '@peculiar/x509');
    assert.equal(await lib.verify({ publicKey: inter.cert.publicKey }), true);
    const skeleton = new x509.X509Crl(Buffer.from(parts.skeleton));
    assert.equal(skeleton.issuer, lib.issuer);
    assert.deepEqual([skeleton.thisUpdate, skeleton.nextUpdate], [lib.thisUpdate, lib.nextUpdate]);
    assert.deepEqual(skeleton.extensions.map((e) => Buffer.from(e.rawData)), lib.extensions.map((e) => Buffer.from(e.rawData)));

    const o = openssl(der, [inter.cert, root]);
    sameEntries(o.entries, want, 'openssl');
    const dir = mkdtempSync(join(tmpdir(), 'crl-ext-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'crl.der'), der);
    const read = opensslCrl(join(dir, 'crl.der'));
    assert.deepEqual(read.extensions, [
      { name: 'X509v3 Authority Key Identifier', critical: false },
      { name: 'X509v3 CRL Number', critical: false },
      { name: 'X509v3 Issuing Distribution Point', critical: true },
    ]);
    assert.equal(read.aki, opensslSki(toPem(inter.cert.rawData, 'CERTIFICATE'), dir), 'AKI is the issuer\'s SKI');
    assert.equal(read.number, 7);
    assert.equal(read.idp, 'http://ca.internal/crl');

    const summary = await verifyCrl(der, [inter.cert], [root]);
    assert.equal(summary.entries, list.length);
    assert.equal(summary.number, 7);
  });
}

test('2 000 entries: the same TBS bytes as X509CrlGenerator (past asn1js\'s default node limit)', async () => {
  const { inter } = await issuers('ec');
  const now = new Date(Math.floor(Date.now() / 1000) * 1000);
  const params: CrlParams = { issuer: inter, number: 2, thisUpdate: now, nextUpdate: new Date(now.getTime() + DAY), entries: entries(2000, STATED) };
  assert.ok(tbsOf(await buildCrl(params)).equals(tbsOf((await reference(params)).rawData)));
});

test('100 000 entries: built, verified by openssl and by ca crl\'s checks, every entry read back', async () => {
  const { root, inter } = await issuers('ec');
  const now = new Date(Math.floor(Date.now() / 1000) * 1000);
  const list = entries(100_000);
  const der = await buildCrl({ issuer: inter, number: 3, thisUpdate: now, nextUpdate: new Date(now.getTime() + DAY), entries: list });
  assert.ok(der.length > 1_000_000, 'a multi-megabyte CRL');
  const o = openssl(der, [inter.cert, root]);
  const want = list.map(expected);
  sameEntries(o.entries, want, 'openssl');
  sameEntries(readCrlParts(der)!.entries(), want, 'our reader');
  const summary = await verifyCrl(der, [inter.cert], [root]);
  assert.ok(list.length > 90_000);
  assert.equal(summary.entries, list.length);
  const tampered = Buffer.from(der);
  tampered[der.length >> 1]! ^= 0x01; // a byte inside the revoked list
  await assert.rejects(verifyCrl(tampered, [inter.cert], [root]), /not a DER CRL|does not verify/);
});

test('an empty CRL has no revokedCertificates and no IDP unless asked, and reads back', async () => {
  const { root, inter } = await issuers('ec');
  const der = await buildCrl({ issuer: inter, number: 1, thisUpdate: new Date(), nextUpdate: new Date(Date.now() + DAY), entries: [] });
  const crl = new x509.X509Crl(Buffer.from(der));
  assert.equal(crl.entries.length, 0);
  assert.equal(crl.extensions.some((e) => e.type === asn1X509.id_ce_issuingDistributionPoint), false);
  assert.equal(await crl.verify({ publicKey: inter.cert.publicKey }), true);
  assert.deepEqual(readCrlParts(der)!.entries(), []);
  assert.equal((await verifyCrl(der, [inter.cert], [root])).entries, 0);
});

test('a CRL our reader does not know (another entry extension) is verified through the library instead', async () => {
  const { root, inter } = await issuers('ec');
  const now = new Date();
  const crl = await x509.X509CrlGenerator.create({
    issuer: inter.cert.subjectName, thisUpdate: now, nextUpdate: new Date(now.getTime() + DAY),
    entries: [{ serialNumber: '0a', revocationDate: now, reason: x509.X509CrlReason.keyCompromise, invalidity: now }],
    signingKey: inter.key.privateKey, signingAlgorithm: inter.key.signAlg,
  });
  const der = new Uint8Array(crl.rawData);
  assert.equal(readCrlParts(der), null);
  assert.equal((await verifyCrl(der, [inter.cert], [root])).entries, 1);
  const forged = der.slice();
  forged[forged.length - 1]! ^= 0x01;
  await assert.rejects(verifyCrl(forged, [inter.cert], [root]), /signature does not verify/);
});

test('the reader refuses what it cannot vouch for, so the library reads it instead: a negative serial, month 13, a letter in the seconds', async () => {
  const { inter } = await issuers('ec');
  const now = new Date(Math.floor(Date.now() / 1000) * 1000);
  const der = Buffer.from(await buildCrl({ issuer: inter, number: 1, thisUpdate: now, nextUpdate: new Date(now.getTime() + DAY), entries: [{ serial: '85', revokedAt: now, reasonCode: 1, notAfter: now }] }));
  assert.equal(readCrlParts(der)!.entryCount, 1);
  const at = der.indexOf(Buffer.from([0x02, 0x01, 0x55])); // the entry's serial, 85
  assert.ok(at > 0);
  const negative = Buffer.from(der);
  negative[at + 2] = 0x85;
  assert.equal(readCrlParts(negative), null);
  const date = der.indexOf(Buffer.from([0x17, 0x0d]), at);
  const badMonth = Buffer.from(der);
  badMonth[date + 4] = 0x31; // month 1x
  badMonth[date + 5] = 0x33; // month 13
  assert.equal(readCrlParts(badMonth), null);
  const letter = Buffer.from(der);
  letter[date + 12] = 0x41; // 'A' among the seconds' digits
  assert.equal(readCrlParts(letter), null);
});
