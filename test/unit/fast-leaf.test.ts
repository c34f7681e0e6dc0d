// The differential test that licenses the hand-written DER of src/authority/fast-leaf.ts: for
// randomized requests (seeded; FAST_LEAF_SEED and FAST_LEAF_CASES override) the fast leaf's
// TBSCertificate must be byte-identical to createLeafCertificate's (@peculiar/x509) with the same
// serial and times, its signature must verify, and openssl -x509_strict must accept a sample.
// Where the reference encodes something wrong the fast path refuses; the last tests pin both
// sides of each such case, so a library upgrade that changes either shows up here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AsnConvert } from '@peculiar/asn1-schema';
import * as asn1X509 from '@peculiar/asn1-x509';
import { x509 } from '../../src/pki/x509.ts';
import { toPem } from '../../src/pki/pem.ts';
import { canonicalIp, type San } from '../../src/pki/names.ts';
import { CaError } from '../../src/errors.ts';
import {
  createIntermediateCertificate, createLeafCertificate, createRenewedCertificate, createRootCertificate, makeIssuer, randomSerialHex,
  type Issuer, type LeafRequest,
} from '../../src/authority/profiles.ts';
import { LeafTemplate, buildLeafFast, type FastLeaf } from '../../src/authority/fast-leaf.ts';
import { Rand } from '../helpers/random.ts';
import { findExtensionValue } from '../../src/pki/der-reader.ts';
import { oid } from '../../src/pki/der.ts';
import { PROVISIONER_EXTENSION_OID } from '../../src/authority/provisioner-extension.ts';

const SEED = Number(process.env.FAST_LEAF_SEED ?? 20250611);
const CASES = Number(process.env.FAST_LEAF_CASES ?? 240);
const DAY = 86_400_000;
const YEAR = 365 * DAY;

// ---- keys and issuers -----------------------------------------------------------------------

type Kind = 'P-256' | 'P-384' | 'P-521' | 'RSA' | 'Ed25519';
function keyPair(kind: Kind): { privateKey: KeyObject; publicKey: KeyObject } {
  if (kind === 'RSA') return generateKeyPairSync('rsa', { modulusLength: 2048 });
  if (kind === 'Ed25519') return generateKeyPairSync('ed25519');
  return generateKeyPairSync('ec', { namedCurve: kind });
}

interface Chain { kind: Kind; root: x509.X509Certificate; inter: Issuer; template: LeafTemplate; publicKey: KeyObject }

async function chain(kind: Kind): Promise<Chain> {
  const notBefore = new Date(Date.now() - DAY);
  const notAfter = new Date(Date.now() + 10 * YEAR);
  const rk = keyPair(kind);
  const root = await createRootCertificate({ name: `Fast Leaf Root ${kind}`, key: rk.privateKey, notBefore, notAfter });
  const ik = keyPair(kind);
  const cert = await createIntermediateCertificate({ name: `Fast Leaf Intermediate ${kind}`, publicKey: ik.publicKey, issuer: await makeIssuer(root, rk.privateKey), notBefore, notAfter });
  const inter = await makeIssuer(cert, ik.privateKey);
  return { kind, root, inter, template: await LeafTemplate.create(inter), publicKey: ik.publicKey };
}

const setup = (async () => {
  const chains = await Promise.all((['P-256', 'P-384', 'RSA', 'Ed25519'] as const).map(chain));
  const leafKinds: Kind[] = ['P-256', 'P-256', 'P-384', 'P-521', 'RSA', 'RSA', 'Ed25519', 'Ed25519'];
  const leafKeys = leafKinds.map((kind) => ({
    kind,
    spki: new Uint8Array(keyPair(kind).publicKey.export({ type: 'spki', format: 'der' })).buffer as ArrayBuffer,
  }));
  return { chains, leafKeys };
})();

// ---- random requests ------------------------------------------------------------------------

const PRINTABLE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?";
const HOSTY = 'abcdefghijklmnopqrstuvwxyz0123456789-.*_';
const UNICODE = ['a', 'Z', '9', ' ', '.', 'é', 'ß', 'Ж', '日', '本', '🔐', '𝔘', '_', '@', '#', '&', '\n', '\t', '\u0000', '\u007f', '\u00a0', 'ﬁ', '\u200b'];
const LABEL = 'abcdefghijklmnopqrstuvwxyz0123456789-';

function commonName(r: Rand): string {
  const cn = commonNameRaw(r);
  return cn.startsWith('#') ? `x${cn}` : cn;
}

function commonNameRaw(r: Rand): string {
  const roll = r.float();
  if (roll < 0.15) return '';
  if (roll < 0.4) return r.str(PRINTABLE, r.int(1, 40));
  if (roll < 0.6) return r.str(HOSTY, r.int(1, 60));
  if (roll < 0.8) {
    // At most one '"' (two would be a quoted part), no '\', no leading '#': see the refusal tests.
    let s = r.str(UNICODE, r.int(1, 50));
    return r.chance(0.3) ? `${s}"` : s;
  }
  // Long names: DER lengths around the one-, two- and three-byte boundaries.
  const len = r.chance(0.03) ? r.int(65_530, 66_000) : r.pick([120, 126, 127, 128, 129, 200, 254, 255, 256, 257, 300, 1000, 4000]) + r.int(0, 2);
  return r.str(r.chance(0.5) ? PRINTABLE : UNICODE, len);
}

function dnsName(r: Rand): string {
  if (r.chance(0.02)) return '';
  const labels = Array.from({ length: r.int(1, 5) }, () => r.str(LABEL, r.chance(0.05) ? 63 : r.int(1, 15)));
  let name = labels.join('.');
  if (r.chance(0.2)) name = `*.${name}`;
  if (r.chance(0.1)) name = name.toUpperCase();
  return name;
}

function ipv6(r: Rand): string {
  const groups = Array.from({ length: 8 }, () => (r.chance(0.3) ? 0 : r.int(0, 0xffff)));
  if (r.chance(0.5)) {
    const start = r.int(0, 7);
    const len = r.int(1, 8 - start);
    for (let i = start; i < start + len; i++) groups[i] = 0;
  }
  const full = groups.map((g) => g.toString(16)).join(':');
  switch (r.int(0, 4)) {
    case 0: return full;
    case 1: return groups.map((g) => g.toString(16).padStart(4, '0')).join(':').toUpperCase();
    case 2: {
      // '::' over a random run of zero groups (not necessarily the longest).
      const zeros = groups.map((g, i) => (g === 0 ? i : -1)).filter((i) => i >= 0);
      if (!zeros.length) return full;
      const s = r.pick(zeros);
      let e = s;
      while (e + 1 < 8 && groups[e + 1] === 0 && r.chance(0.8)) e++;
      const hexes = groups.map((g) => g.toString(16));
      return `${hexes.slice(0, s).join(':')}::${hexes.slice(e + 1).join(':')}`;
    }
    case 3: return r.pick(['::', '::1', '1::', 'fe80::1', '2001:db8::', 'ff02::2']);
    default: {
      const c = canonicalIp(full);
      // canonicalIp turns an IPv4-mapped address into IPv4; that is fine here too.
      return c;
    }
  }
}

function san(r: Rand): San {
  switch (r.int(0, 4)) {
    case 0: return { type: 'dns', value: dnsName(r) };
    case 1: {
      const parts = Array.from({ length: 4 }, () => r.int(0, 255));
      return { type: 'ip', value: r.chance(0.1) ? parts.map((p) => String(p).padStart(3, '0')).join('.') : parts.join('.') };
    }
    case 2: return { type: 'ip', value: ipv6(r) };
    case 3: return { type: 'email', value: `${r.str('abcdefghijklmnopqrstuvwxyz0123456789.+_-', r.int(1, 20))}@${dnsName(r) || 'example.com'}` };
    default: {
      const u = r.pick([
        () => `spiffe://${dnsName(r) || 'trust'}/ns/${r.str(LABEL, r.int(1, 10))}/sa/${r.str(LABEL, r.int(1, 10))}`,
        () => `https://${dnsName(r) || 'h'}:${r.int(1, 65535)}/${r.str('abcdef/%20?=&', r.int(0, 30))}#${r.str(LABEL, 3)}`,
        () => `urn:uuid:${r.hex(4)}-${r.hex(2)}-${r.hex(2)}-${r.hex(2)}-${r.hex(6)}`,
        () => `mailto:${r.str(LABEL, 5)}@example.com`,
      ]);
      return { type: 'url', value: u() };
    }
  }
}

function sans(r: Rand): San[] {
  const roll = r.float();
  const n = roll < 0.2 ? 0 : roll < 0.8 ? r.int(1, 4) : roll < 0.98 ? r.int(5, 40) : r.int(2000, 2600);
  return Array.from({ length: n }, () => san(r));
}

function serialHex(r: Rand): string {
  if (r.chance(0.5)) return randomSerialHex();
  let s = r.hex(r.int(1, 20));
  if (r.chance(0.2)) s = `00${s}`;
  if (r.chance(0.2)) s = `0000${s}`;
  if (r.chance(0.2)) s = `${r.pick(['8', 'f', 'a'])}${s.slice(1)}`;
  if (r.chance(0.2)) s = s.slice(1);
  if (r.chance(0.2)) s = s.toUpperCase();
  if (!/[1-9a-f]/i.test(s)) s += '1';
  return s;
}

const Y2050 = Date.UTC(2050, 0, 1);

function validity(r: Rand): { notBefore: Date; notAfter: Date } {
  const roll = r.float();
  let nb: number;
  if (roll < 0.6) nb = Date.now() - r.int(0, 5 * 365) * DAY + r.int(0, DAY);
  else if (roll < 0.75) nb = Date.UTC(1950, 0, 1) + Math.floor(r.float() * (Y2050 - Date.UTC(1950, 0, 1)));
  else if (roll < 0.9) nb = Y2050 + r.int(-2 * DAY, 2 * DAY);
  else nb = Y2050 + Math.floor(r.float() * 100 * YEAR);
  if (r.chance(0.7)) nb = nb - (nb % 1000) + r.int(1, 999); // milliseconds, which the library truncates
  const dur = r.pick([() => r.int(1, 600) * 1000, () => r.int(1, 72) * 3_600_000, () => r.int(1, 400) * DAY, () => r.int(1, 40) * YEAR])() + r.int(0, 999);
  let na = Math.min(nb + dur, Date.UTC(9999, 11, 31, 23, 59, 59));
  if (r.chance(0.05)) { nb = Y2050 - 1; na = Y2050; } // 2049-12-31T23:59:59.999 and 2050-01-01T00:00:00.000
  return { notBefore: new Date(nb), notAfter: new Date(na) };
}

function urls(r: Rand, path: string): string[] | undefined {
  const roll = r.float();
  if (roll < 0.5) return undefined;
  if (roll < 0.6) return [];
  return Array.from({ length: r.int(1, 3) }, () => `http://${dnsName(r) || 'ca'}${r.chance(0.5) ? `:${r.int(1, 65535)}` : ''}/${path}`);
}

function request(r: Rand, leafKeys: { kind: Kind; spki: ArrayBuffer }[]): LeafRequest {
  const key = r.pick(leafKeys);
  let cn = commonName(r);
  const s = sans(r);
  if (cn === '' && s.length === 0) cn = 'fallback'; // an empty subject needs SANs (refusal tests)
  return {
    serialHex: serialHex(r),
    commonName: cn,
    sans: s,
    spki: key.spki,
    ...validity(r),
    rsa: r.chance(0.85) ? key.kind === 'RSA' : r.chance(0.5),
    provisioner: r.chance(0.35) ? null : {
      type: r.chance(0.7) ? r.int(0, 11) : r.int(0, 2 ** 31 - 1),
      name: r.str(r.chance(0.7) ? PRINTABLE : UNICODE, r.chance(0.1) ? r.int(120, 300) : r.int(0, 40)),
      credentialId: r.str('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_', r.chance(0.1) ? r.int(120, 300) : r.int(0, 43)),
    },
    crlDistributionPoints: urls(r, 'crl'),
    ocspServers: urls(r, 'ocsp'),
  };
}

// ---- comparison -----------------------------------------------------------------------------

/** Certificate's first child, raw; read independently of src/pki/der.ts. */
function rawChildren(der: ArrayBuffer | Uint8Array): Buffer[] {
  const b = Buffer.from(der instanceof ArrayBuffer ? new Uint8Array(der) : der);
  const header = (at: number) => {
    const l = b[at + 1]!;
    if (l < 0x80) return { hl: 2, len: l };
    let len = 0;
    for (let i = 0; i < (l & 0x7f); i++) len = len * 256 + b[at + 2 + i]!;
    return { hl: 2 + (l & 0x7f), len };
  };
  const outer = header(0);
  assert.equal(outer.hl + outer.len, b.length, 'one Certificate, nothing after it');
  const out: Buffer[] = [];
  for (let at = outer.hl; at < b.length;) {
    const h = header(at);
    out.push(b.subarray(at, at + h.hl + h.len));
    at += h.hl + h.len;
  }
  return out;
}

function describe(req: LeafRequest): string {
  const short = (s: string) => (s.length > 80 ? `${s.slice(0, 80)}…(${s.length})` : s);
  return JSON.stringify({ ...req, spki: `${req.spki.byteLength} bytes`, commonName: short(req.commonName), sans: req.sans.length > 10 ? `${req.sans.length} SANs` : req.sans });
}

function firstDiff(a: Buffer, b: Buffer): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return `first difference at byte ${i} of ${a.length}/${b.length}: fast …${a.subarray(Math.max(0, i - 8), i + 24).toString('hex')} reference …${b.subarray(Math.max(0, i - 8), i + 24).toString('hex')}`;
}

async function compare(c: Chain, req: LeafRequest, label: string): Promise<Buffer> {
  let reference: x509.X509Certificate;
  let fast: FastLeaf;
  try {
    reference = await createLeafCertificate(req, c.inter);
    fast = c.template.build(req);
  } catch (e) {
    throw new Error(`${label}: ${(e as Error).message}\n${describe(req)}`, { cause: e });
  }
  const [fastTbs, fastAlg, fastSig] = rawChildren(fast.der);
  const [refTbs, refAlg] = rawChildren(reference.rawData);
  if (!fastTbs!.equals(refTbs!)) assert.fail(`${label}: TBSCertificate differs; ${firstDiff(fastTbs!, refTbs!)}\n${describe(req)}`);
  assert.ok(fastAlg!.equals(refAlg!), `${label}: signatureAlgorithm`);
  assert.equal(fastSig![0], 0x03, `${label}: signature is a BIT STRING`);
  // DER all the way down, as far as the library's own re-encoding can tell.
  assert.ok(Buffer.from(AsnConvert.serialize(AsnConvert.parse(fast.der, asn1X509.Certificate))).equals(fast.der), `${label}: re-encodes to itself`);
  const parsed = new x509.X509Certificate(fast.der);
  assert.equal(fast.serialHex, parsed.serialNumber, `${label}: serialHex`);
  assert.equal(fast.serialHex, reference.serialNumber, `${label}: serial as the reference reads it`);
  assert.equal(new X509Certificate(fast.der).verify(c.publicKey), true, `${label}: signature verifies`);
  return fast.der;
}

// ---- the tests ------------------------------------------------------------------------------

test(`${CASES} randomized requests: TBS byte-identical to createLeafCertificate, signature valid (seed ${SEED})`, async () => {
  const { chains, leafKeys } = await setup;
  const r = new Rand(SEED);
  for (let i = 0; i < CASES; i++) {
    const c = chains[i % chains.length]!;
    await compare(c, request(r, leafKeys), `case ${i} (issuer ${c.kind}, seed ${SEED})`);
  }
});

test(`renewal: for randomized leaves, template.renew is byte-identical to createRenewedCertificate, rekey and a rotated issuer included (seed ${SEED})`, async () => {
  const { chains, leafKeys } = await setup;
  const r = new Rand(SEED + 7);
  let done = 0;
  for (let i = 0; i < CASES / 2; i++) {
    const c = chains[i % chains.length]!;
    const req = request(r, leafKeys);
    let leafDer: Buffer<ArrayBuffer>;
    try {
      leafDer = c.template.build(req).der;
    } catch {
      continue; // requests the fast leaf refuses are the other test's business
    }
    // The DER walk that finds an extension agrees with the library's extension list.
    const parsed = new x509.X509Certificate(leafDer);
    for (const id of [PROVISIONER_EXTENSION_OID, '2.5.29.17', '2.5.29.31', '1.2.3.4']) {
      const lib = parsed.getExtension(id);
      const found = findExtensionValue(leafDer, oid(id).subarray(2));
      assert.deepEqual(found && Buffer.from(found), lib ? Buffer.from(lib.value) : null, `extension ${id} of leaf ${i}`);
    }
    // Renewed by the same issuer, or by another one (the intermediate was rotated).
    const by = r.chance(0.3) ? chains[(i + 1) % chains.length]! : c;
    const o = {
      serialHex: r.hex(r.int(1, 20)).replace(/^0+/, '') || '01',
      notBefore: new Date(Date.UTC(2026, r.int(0, 11), r.int(1, 28), r.int(0, 23), r.int(0, 59), r.int(0, 59))),
      notAfter: new Date(Date.UTC(r.pick([2027, 2049, 2050, 2060]), r.int(0, 11), r.int(1, 28))),
      newSpki: r.chance(0.3) ? r.pick(leafKeys).spki : undefined,
    };
    const label = `renewal ${i} (issuer ${c.kind} -> ${by.kind}, rekey ${!!o.newSpki})`;
    const reference = await createRenewedCertificate(new x509.X509Certificate(leafDer), o, by.inter);
    const fast = by.template.renew(leafDer, o);
    assert.ok(fast, `${label}: our own leaf takes the fast path`);
    const [fastTbs] = rawChildren(fast.der);
    const [refTbs] = rawChildren(reference.rawData);
    if (!fastTbs!.equals(refTbs!)) assert.fail(`${label}: TBSCertificate differs; ${firstDiff(fastTbs!, refTbs!)}\n${describe(req)}`);
    assert.equal(fast.serialHex, reference.serialNumber, `${label}: serial`);
    assert.equal(new X509Certificate(fast.der).verify(by.publicKey), true, `${label}: signature verifies`);
    const offLoop = await by.template.renewAsync(leafDer, o);
    assert.ok(offLoop && rawChildren(offLoop.der)[0]!.equals(fastTbs!), `${label}: renewAsync's TBS is renew's`);
    assert.equal(new X509Certificate(offLoop.der).verify(by.publicKey), true, `${label}: renewAsync's signature verifies`);
    done++;
  }
  assert.ok(done > CASES / 4, `only ${done} renewals compared`);
});

test('renewal: shapes our leaves never have go to the library (null)', async () => {
  const { chains } = await setup;
  const c = chains[0]!;
  const o = { serialHex: '0a', notBefore: new Date('2026-01-01T00:00:00Z'), notAfter: new Date('2027-01-01T00:00:00Z') };
  assert.equal(c.template.renew(Buffer.from('3000', 'hex'), o), null);
  assert.equal(c.template.renew(Buffer.from(c.root.rawData).subarray(0, 50), o), null);
  // The leaf with its version field made v1 (a0 03 02 01 00): not our shape.
  const leaf = Buffer.from(c.template.build({ serialHex: '01', commonName: 'x', sans: [], spki: c.root.publicKey.rawData, notBefore: o.notBefore, notAfter: o.notAfter, rsa: false, provisioner: null }).der);
  const at = leaf.indexOf(Buffer.from([0xa0, 0x03, 0x02, 0x01, 0x02]));
  leaf[at + 4] = 0;
  assert.equal(c.template.renew(leaf, o), null);
  assert.equal(c.template.renewAsync(leaf, o), null);
});

test('every SAN type, CN lengths across the DER length boundaries, every issuer', async () => {
  const { chains, leafKeys } = await setup;
  const all: San[] = [
    { type: 'url', value: 'spiffe://example.org/ns/a/sa/b' }, { type: 'dns', value: '*.example.com' },
    { type: 'ip', value: '192.0.2.1' }, { type: 'ip', value: '2001:db8::8a2e:370:7334' }, { type: 'ip', value: '::' },
    { type: 'email', value: 'ops@example.com' }, { type: 'dns', value: 'example.com' },
  ];
  for (const c of chains) {
    for (const len of [0, 1, 64, 127, 128, 255, 256, 65_535, 65_536]) {
      for (const key of leafKeys) {
        await compare(c, {
          serialHex: randomSerialHex(), commonName: 'c'.repeat(len), sans: all, spki: key.spki,
          notBefore: new Date('2049-12-31T23:59:59.999Z'), notAfter: new Date('2050-01-01T00:00:00.000Z'),
          rsa: key.kind === 'RSA', provisioner: { type: 1, name: 'admin@example.com', credentialId: 'kid' },
          crlDistributionPoints: ['http://ca.example/crl'], ocspServers: ['http://ca.example/ocsp'],
        }, `${c.kind} cn ${len} leaf ${key.kind}`);
        if (len > 256) break;
      }
    }
    // Lone surrogates in the provisioner extension become U+FFFD on both sides.
    await compare(c, {
      serialHex: 'ff', commonName: 'x', sans: [], spki: leafKeys[0]!.spki, notBefore: new Date(), notAfter: new Date(Date.now() + DAY),
      rsa: false, provisioner: { type: 128, name: 'a\ud800b', credentialId: '\udc00' },
    }, `${c.kind} provisioner with lone surrogates`);
  }
});

test('buildAsync and buildLeafFast give the same TBS as build', async () => {
  const { chains, leafKeys } = await setup;
  const r = new Rand(SEED + 1);
  for (const c of chains) {
    const req = request(r, leafKeys);
    const a = c.template.build(req);
    const b = await c.template.buildAsync(req);
    const f = await buildLeafFast(req, c.inter);
    assert.ok(rawChildren(a.der)[0]!.equals(rawChildren(b.der)[0]!));
    assert.ok(rawChildren(a.der)[0]!.equals(rawChildren(f.der)[0]!));
    assert.equal(new X509Certificate(b.der).verify(c.publicKey), true);
    assert.equal(a.serialHex, b.serialHex);
  }
});

test('a non-DER SubjectPublicKeyInfo is canonicalized as the library does', async () => {
  const { chains } = await setup;
  const der = Buffer.from(keyPair('P-256').publicKey.export({ type: 'spki', format: 'der' }));
  assert.equal(der[1], 0x59);
  // Outer length in long form (30 81 59): BER, not DER.
  const ber = Buffer.concat([Buffer.from([0x30, 0x81]), der.subarray(1)]);
  const req: LeafRequest = {
    serialHex: '0a', commonName: 'ber', sans: [], spki: new Uint8Array(ber).buffer as ArrayBuffer,
    notBefore: new Date(), notAfter: new Date(Date.now() + DAY), rsa: false, provisioner: null,
  };
  await compare(chains[0]!, req, 'BER SPKI');
  const junk = { ...req, spki: new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]).buffer as ArrayBuffer };
  await assert.rejects(createLeafCertificate(junk, chains[0]!.inter));
  assert.throws(() => chains[0]!.template.build(junk), (e) => e instanceof CaError && e.code === 'bad_request');
});

test('openssl verify -x509_strict accepts a sample of fast leaves from every issuer', async () => {
  const { chains, leafKeys } = await setup;
  const r = new Rand(SEED + 2);
  const dir = mkdtempSync(join(tmpdir(), 'fast-leaf-'));
  try {
    for (let i = 0; i < 12; i++) {
      const c = chains[i % chains.length]!;
      const req = request(r, leafKeys);
      // openssl checks validity against the clock.
      req.notBefore = new Date(Date.now() - r.int(1000, DAY));
      req.notAfter = new Date(Date.now() + r.pick([3_600_000, 30 * DAY, 40 * YEAR]));
      if (req.sans.length > 50) req.sans = req.sans.slice(0, 50);
      const der = await compare(c, req, `openssl case ${i}`);
      writeFileSync(join(dir, 'root.pem'), toPem(c.root.rawData, 'CERTIFICATE'));
      writeFileSync(join(dir, 'inter.pem'), toPem(c.inter.cert.rawData, 'CERTIFICATE'));
      writeFileSync(join(dir, 'leaf.pem'), toPem(der, 'CERTIFICATE'));
      const v = spawnSync('openssl', ['verify', '-x509_strict', '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'inter.pem'), join(dir, 'leaf.pem')], { encoding: 'utf8' });
      assert.equal(v.status, 0, `openssl case ${i} (${c.kind}): ${v.stdout}${v.stderr}\n${describe(req)}`);
      assert.match(v.stdout, /leaf\.pem: OK/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---- refusals -------------------------------------------------------------------------------

const isBadRequest = (e: unknown) => e instanceof CaError && e.code === 'bad_request';

test('where the reference encodes something wrong, the fast path refuses (and the reference still does it)', async () => {
  const { chains, leafKeys } = await setup;
  const c = chains[0]!;
  const base: LeafRequest = {
    serialHex: '1234', commonName: 'x', sans: [], spki: leafKeys[0]!.spki,
    notBefore: new Date('2030-01-01T00:00:00Z'), notAfter: new Date('2031-01-01T00:00:00Z'), rsa: false, provisioner: null,
  };
  const sanOf = async (req: LeafRequest) => new x509.SubjectAlternativeNameExtension((await createLeafCertificate(req, c.inter)).getExtension('2.5.29.17')!.rawData).names.items.map((n) => n.value);
  const cnOf = async (req: LeafRequest) => (await createLeafCertificate(req, c.inter)).subjectName.getField('CN')[0];

  // IA5String keeps only the low byte of each UTF-16 unit: '日本.jp' becomes 'å,.jp'; and even
  // Latin-1 ('ü' as the byte FC) is not IA5 (7-bit) any more.
  for (const type of ['dns', 'email', 'url'] as const) {
    const req = { ...base, sans: [{ type, value: type === 'dns' ? '日本.jp' : type === 'email' ? '日本@example.com' : 'https://日本.example/' }] };
    assert.equal((await sanOf(req))[0], req.sans[0]!.value.replace('日本', '\u00e5,'));
    assert.throws(() => c.template.build(req), isBadRequest, type);
    const latin1 = { ...base, sans: [{ type, value: 'ü' }] };
    assert.ok(Buffer.from((await createLeafCertificate(latin1, c.inter)).getExtension('2.5.29.17')!.value).includes(0xfc));
    assert.throws(() => c.template.build(latin1), isBadRequest, type);
  }
  const cdp = { ...base, crlDistributionPoints: ['http://é.example/crl'] };
  await createLeafCertificate(cdp, c.inter);
  assert.throws(() => c.template.build(cdp), isBadRequest);

  // A CN that looks like DN-string syntax ('#' hex DER, quotes, backslashes) is encoded literally
  // by both builders: profiles.ts builds the Name from asn1-x509 classes, not from a DN string.
  for (const commonName of ['#0c03616263', 'a "b" c', 'a\\b', '""']) {
    const req = { ...base, commonName };
    assert.equal(await cnOf(req), commonName);
    assert.ok(rawChildren(Buffer.from((await createLeafCertificate(req, c.inter)).rawData))[0]!.equals(rawChildren(c.template.build(req).der)[0]!), commonName);
  }

  // IPv6 with an embedded IPv4 or a zone is silently mis-encoded.
  assert.equal((await sanOf({ ...base, sans: [{ type: 'ip', value: '::ffff:1.2.3.4' }] }))[0], '::ffff:1'); // ::ffff:0.0.0.1
  assert.equal((await sanOf({ ...base, sans: [{ type: 'ip', value: 'fe80::1%eth0' }] }))[0], 'fe80::1');
  for (const value of ['::ffff:1.2.3.4', 'fe80::1%eth0', '0x1::1']) {
    assert.throws(() => c.template.build({ ...base, sans: [{ type: 'ip', value }] }), isBadRequest, value);
  }

  // RFC 5280 §4.1.2.5: before 1950 needs GeneralizedTime; the library writes UTCTime '49…' (= 2049).
  const old = { ...base, notBefore: new Date('1949-06-01T00:00:00Z') };
  assert.equal((await createLeafCertificate(old, c.inter)).notBefore.getUTCFullYear(), 2049);
  assert.throws(() => c.template.build(old), isBadRequest);
  for (const d of [new Date('+010000-01-01T00:00:00Z'), new Date(NaN)]) {
    await createLeafCertificate({ ...base, notAfter: d }, c.inter);
    assert.throws(() => c.template.build({ ...base, notAfter: d }), isBadRequest);
  }

  // RFC 5280 §4.1.2.6: an empty subject needs a critical SAN; the library issues one without any.
  const anonymous = { ...base, commonName: '' };
  assert.equal((await createLeafCertificate(anonymous, c.inter)).getExtension('2.5.29.17'), null);
  assert.throws(() => c.template.build(anonymous), isBadRequest);

  // A zero serial: the library silently substitutes a random one.
  assert.notEqual((await createLeafCertificate({ ...base, serialHex: '00' }, c.inter)).serialNumber, '00');
  assert.throws(() => c.template.build({ ...base, serialHex: '00' }), (e) => e instanceof CaError && e.code === 'internal');
});

test('what both builders refuse', async () => {
  const { chains, leafKeys } = await setup;
  const c = chains[0]!;
  const base: LeafRequest = {
    serialHex: '1234', commonName: 'x', sans: [], spki: leafKeys[0]!.spki,
    notBefore: new Date('2030-01-01T00:00:00Z'), notAfter: new Date('2031-01-01T00:00:00Z'), rsa: false, provisioner: null,
  };
  const cases: [string, Partial<LeafRequest>][] = [
    ['bad IPv4', { sans: [{ type: 'ip', value: '1.2.3.256' }] }],
    ['not an IP', { sans: [{ type: 'ip', value: 'example.com' }] }],
    ['nine groups', { sans: [{ type: 'ip', value: '1:2:3:4:5:6:7:8:9' }] }],
    ['two ::', { sans: [{ type: 'ip', value: '1::2::3' }] }],
    ['empty group', { sans: [{ type: 'ip', value: ':1:2:3:4:5:6:7' }] }],
    ['lone surrogate CN', { commonName: 'a\ud800b' }],
    ['serial not hex', { serialHex: 'xyz' }],
  ];
  for (const [label, over] of cases) {
    await assert.rejects(createLeafCertificate({ ...base, ...over }, c.inter), label);
    assert.throws(() => c.template.build({ ...base, ...over }), (e) => e instanceof CaError, label);
  }
});
