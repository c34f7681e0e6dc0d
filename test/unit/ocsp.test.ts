// respondOcsp against the real openssl: requests made by `openssl ocsp -reqout`, responses checked
// by `openssl ocsp -respin` (signature, status, reason, times, nonce). The ledger is a Map.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import {
  BasicOCSPResponse, CertID, OCSPRequest, OCSPResponse, OCSPResponseStatus, Request, TBSRequest, id_pkix_ocsp_basic,
} from '@peculiar/asn1-ocsp';
import {
  createIntermediateCertificate, createLeafCertificate, createRootCertificate, makeIssuer, randomSerialHex, type Issuer,
} from '../../src/authority/profiles.ts';
import { respondOcsp, ocspNextUpdate, type OcspDeps } from '../../src/authority/ocsp.ts';
import { serialToDecimal } from '../../src/pki/serial.ts';
import type { StoredCertificate } from '../../src/ledger/ledger.ts';

const dir = mkdtempSync(join(tmpdir(), 'stepstone-ocsp-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const f = (name: string) => join(dir, name);

const HOUR = 3600_000;
const now = () => new Date();

interface Chain { name: string; issuer: Issuer; leaves: Map<string, { serial: string; serialHex: string; key: KeyObject }> }

type KeyAlg = 'P-256' | 'P-384' | 'rsa' | 'ed25519';
function keyPair(alg: KeyAlg) {
  if (alg === 'rsa') return generateKeyPairSync('rsa', { modulusLength: 2048 });
  if (alg === 'ed25519') return generateKeyPairSync('ed25519');
  return generateKeyPairSync('ec', { namedCurve: alg });
}

/** root → intermediate (of `alg`) → the named leaves, all written as PEM files under `name`. */
async function chain(name: string, alg: KeyAlg, leafNames: string[]): Promise<Chain> {
  const notBefore = new Date(Date.now() - HOUR);
  const notAfter = new Date(Date.now() + 24 * HOUR);
  const rk = keyPair('P-256');
  const root = await createRootCertificate({ name: `${name} Root`, key: rk.privateKey, notBefore, notAfter });
  const ik = keyPair(alg);
  const inter = await createIntermediateCertificate({ name: `${name} Intermediate`, publicKey: ik.publicKey, issuer: await makeIssuer(root, rk.privateKey), notBefore, notAfter });
  const issuer = await makeIssuer(inter, ik.privateKey);
  writeFileSync(f(`${name}-root.pem`), root.toString('pem'));
  writeFileSync(f(`${name}-inter.pem`), inter.toString('pem'));
  const leaves: Chain['leaves'] = new Map();
  for (const leaf of leafNames) {
    const lk = keyPair('P-256');
    const serialHex = randomSerialHex();
    const spki = new Uint8Array(lk.publicKey.export({ type: 'spki', format: 'der' })).buffer;
    const cert = await createLeafCertificate({ serialHex, commonName: leaf, sans: [], spki, notBefore, notAfter, rsa: false, provisioner: null }, issuer);
    writeFileSync(f(`${name}-${leaf}.pem`), cert.toString('pem'));
    writeFileSync(f(`${name}-${leaf}.key`), lk.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    leaves.set(leaf, { serial: serialToDecimal(serialHex), serialHex, key: lk.privateKey });
  }
  return { name, issuer, leaves };
}

function stored(serial: string, revoked?: { at: Date; code: number }): StoredCertificate {
  const t = Date.now();
  return {
    serial, subject: 'x', sans: [], notBefore: new Date(t - HOUR), notAfter: new Date(t + 24 * HOUR), fingerprint: '00', provisioner: 'admin',
    pem: '', issuedAt: new Date(t - HOUR), method: 'sign', replaces: null,
    revokedAt: revoked?.at ?? null, revocationReasonCode: revoked?.code ?? null, revocationReason: revoked ? 'test' : null,
  };
}

function openssl(args: string[]): { status: number; out: string; err: string } {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  return { status: r.status ?? -1, out: r.stdout, err: r.stderr };
}

let n = 0;
/** `openssl ocsp … -reqout` → the request DER. */
function makeRequest(args: string[]): Uint8Array {
  const out = f(`req-${++n}.der`);
  const r = openssl(['ocsp', ...args, '-reqout', out]);
  assert.equal(r.status, 0, r.err);
  return readFileSync(out);
}

/** Writes the response and has openssl verify it against `c`'s root and print each status. */
function check(c: Chain, resp: Uint8Array, ids: string[], extra: string[] = []): { status: number; out: string; err: string; file: string } {
  const file = f(`resp-${++n}.der`);
  writeFileSync(file, resp);
  const r = openssl(['ocsp', '-respin', file, '-CAfile', f(`${c.name}-root.pem`), '-no_nonce', ...extra, '-issuer', f(`${c.name}-inter.pem`), ...ids]);
  return { ...r, file };
}

/** openssl's ASN1_TIME print format: "Jan  2 03:04:05 2026 GMT". */
function opensslTime(d: Date): string {
  const m = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][d.getUTCMonth()];
  const p = (x: number) => String(x).padStart(2, '0');
  return `${m} ${String(d.getUTCDate()).padStart(2, ' ')} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} ${d.getUTCFullYear()} GMT`;
}

function parseResponse(der: Uint8Array): { status: number; basic?: BasicOCSPResponse } {
  const resp = AsnConvert.parse(der, OCSPResponse);
  if (!resp.responseBytes) return { status: resp.responseStatus };
  assert.equal(resp.responseBytes.responseType, id_pkix_ocsp_basic);
  return { status: resp.responseStatus, basic: AsnConvert.parse(resp.responseBytes.response.buffer, BasicOCSPResponse) };
}

let main: Chain;
let other: Chain;
const ledger = new Map<string, StoredCertificate>();
const revokedAt = new Date(Math.floor((Date.now() - 2 * HOUR) / 1000) * 1000);
const deps = (over: Partial<OcspDeps> = {}): OcspDeps => ({ issuer: main.issuer, lookup: async (s) => ledger.get(s) ?? null, now: now(), ...over });
const ids = (c: Chain, ...leaves: string[]) => leaves.flatMap((l) => ['-cert', f(`${c.name}-${l}.pem`)]);

before(async () => {
  main = await chain('main', 'P-256', ['good', 'compromised', 'unspecified', 'unissued']);
  other = await chain('other', 'P-256', ['good']);
  const s = (l: string) => main.leaves.get(l)!.serial;
  ledger.set(s('good'), stored(s('good')));
  ledger.set(s('compromised'), stored(s('compromised'), { at: revokedAt, code: 1 }));
  ledger.set(s('unspecified'), stored(s('unspecified'), { at: revokedAt, code: 0 }));
  // The other CA's serial is in our ledger too: only the issuer hashes can keep it unknown.
  ledger.set(other.leaves.get('good')!.serial, stored(other.leaves.get('good')!.serial));
});

test('good, revoked with reason and time, revoked without reason, and unknown, in one request; signature verifies', async () => {
  const req = makeRequest(['-issuer', f('main-inter.pem'), ...ids(main, 'good', 'compromised', 'unspecified', 'unissued')]);
  const r = check(main, await respondOcsp(req, deps()), ids(main, 'good', 'compromised', 'unspecified', 'unissued'));
  assert.equal(r.status, 0, r.err);
  assert.match(r.err, /Response verify OK/);
  assert.match(r.out, /main-good\.pem: good\n/);
  const t = opensslTime(revokedAt);
  assert.match(r.out, new RegExp(`main-compromised\\.pem: revoked\\n(\\t.*\\n)*?\\tReason: keyCompromise\\n\\tRevocation Time: ${t}\\n`));
  assert.match(r.out, new RegExp(`main-unspecified\\.pem: revoked\\n\\tThis Update: .*\\n\\tNext Update: .*\\n\\tRevocation Time: ${t}\\n`));
  assert.match(r.out, /main-unissued\.pem: unknown\n/);
});

test('CertID of another issuer is unknown even when its serial is in the ledger', async () => {
  const otherSerial = `0x${other.leaves.get('good')!.serialHex}`;
  const req = makeRequest(['-issuer', f('other-inter.pem'), '-serial', otherSerial]);
  const file = f('other-resp.der');
  writeFileSync(file, await respondOcsp(req, deps()));
  // Our intermediate is not the other CA's issuer, so openssl only accepts it as an explicitly trusted responder.
  const r = openssl(['ocsp', '-respin', file, '-CAfile', f('main-root.pem'), '-VAfile', f('main-inter.pem'), '-no_nonce', '-issuer', f('other-inter.pem'), '-serial', otherSerial]);
  assert.equal(r.status, 0, r.err);
  assert.match(r.err, /Response verify OK/);
  assert.match(r.out, new RegExp(`${otherSerial}: unknown\\n`));
});

test('several issuers: the issuer the CertID names signs and answers; a serial another issuer owns is unknown under this one', async () => {
  const otherSerial = other.leaves.get('good')!.serial;
  const issuers = [
    { issuer: main.issuer, owns: (r: StoredCertificate) => r.serial !== otherSerial },
    { issuer: other.issuer, owns: (r: StoredCertificate) => r.serial === otherSerial },
  ];
  // The other issuer's certificate: answered good, signed by the other intermediate (verified against the other root).
  const r = check(other, await respondOcsp(makeRequest(['-issuer', f('other-inter.pem'), ...ids(other, 'good')]), deps({ issuers })), ids(other, 'good'));
  assert.equal(r.status, 0, r.err);
  assert.match(r.err, /Response verify OK/);
  assert.match(r.out, /other-good\.pem: good\n/);
  // The main issuer's certificates still answer as before, signed by main.
  const m = check(main, await respondOcsp(makeRequest(['-issuer', f('main-inter.pem'), ...ids(main, 'good', 'compromised')]), deps({ issuers })), ids(main, 'good', 'compromised'));
  assert.equal(m.status, 0, m.err);
  assert.match(m.out, /main-good\.pem: good\n/);
  assert.match(m.out, /main-compromised\.pem: revoked\n/);
  // The main issuer's serial asked about under the other issuer's name: not the other's to vouch for.
  const mainSerial = `0x${main.leaves.get('good')!.serialHex}`;
  const x = check(other, await respondOcsp(makeRequest(['-issuer', f('other-inter.pem'), '-serial', mainSerial]), deps({ issuers })), ['-serial', mainSerial]);
  assert.equal(x.status, 0, x.err);
  assert.match(x.out, new RegExp(`${mainSerial}: unknown\n`));
});

test('the nonce is echoed verbatim; no nonce in the request, none in the response', async () => {
  const reqFile = f('nonce-req.der');
  const req = makeRequest(['-issuer', f('main-inter.pem'), ...ids(main, 'good'), '-nonce']);
  writeFileSync(reqFile, req);
  const resp = await respondOcsp(req, deps());
  // -reqin makes openssl compare the request's nonce with the response's.
  const r = check(main, resp, [], ['-reqin', reqFile]);
  assert.equal(r.status, 0, r.err);
  assert.match(r.err, /Response verify OK/);
  assert.doesNotMatch(r.err, /no nonce in response|Nonce Verify error/);
  const nonce = AsnConvert.parse(req, OCSPRequest).tbsRequest.requestExtensions!.find((e) => e.extnID === '1.3.6.1.5.5.7.48.1.2')!;
  assert.ok(Buffer.from(resp).includes(Buffer.from(AsnConvert.serialize(nonce))));

  const plain = await respondOcsp(makeRequest(['-issuer', f('main-inter.pem'), ...ids(main, 'good'), '-no_nonce']), deps());
  assert.equal(parseResponse(plain).basic!.tbsResponseData.responseExtensions, undefined);
});

for (const digest of ['sha256', 'sha384', 'sha512']) {
  test(`CertIDs hashed with ${digest}`, async () => {
    const leafIds = ['-cert', f('main-good.pem'), '-cert', f('main-compromised.pem')];
    const req = makeRequest(['-issuer', f('main-inter.pem'), `-${digest}`, ...leafIds]);
    const r = check(main, await respondOcsp(req, deps()), [`-${digest}`, ...leafIds], ['-resp_text']);
    assert.equal(r.status, 0, r.err);
    assert.match(r.out, new RegExp(`Hash Algorithm: ${digest}\\n`));
    assert.match(r.out, /main-good\.pem: good\n/);
    assert.match(r.out, /main-compromised\.pem: revoked\n/);
  });
}

test('each CertID is echoed byte for byte, also one without NULL hash parameters', async () => {
  const req = makeRequest(['-issuer', f('main-inter.pem'), ...ids(main, 'good')]);
  const id = AsnConvert.parse(req, OCSPRequest).tbsRequest.requestList[0]!.reqCert;
  const idDer = Buffer.from(AsnConvert.serialize(id));
  assert.ok(Buffer.from(req).includes(idDer), 'the re-encoded CertID is the one openssl sent');
  assert.ok(Buffer.from(await respondOcsp(req, deps())).includes(idDer));

  // SHA-1 AlgorithmIdentifier with absent rather than NULL parameters (both are seen in the wild).
  const bare = new CertID({ ...id, hashAlgorithm: new AlgorithmIdentifier({ algorithm: '1.3.14.3.2.26' }) });
  const bareDer = Buffer.from(AsnConvert.serialize(bare));
  const bareReq = new OCSPRequest({ tbsRequest: new TBSRequest({ requestList: [new Request({ reqCert: bare })] }) });
  const resp = await respondOcsp(new Uint8Array(AsnConvert.serialize(bareReq)), deps());
  assert.ok(Buffer.from(resp).includes(bareDer));
  assert.ok(parseResponse(resp).basic!.tbsResponseData.responses[0]!.certStatus.good === null);
});

test('responderID byKey is the SHA-1 of the intermediate key bits; times and validity', async () => {
  const t = new Date(Math.floor(Date.now() / 1000) * 1000 + 123);
  const req = makeRequest(['-issuer', f('main-inter.pem'), ...ids(main, 'good')]);
  const resp = await respondOcsp(req, deps({ now: t, validityMs: 5 * 60_000 }));
  const data = parseResponse(resp).basic!.tbsResponseData;
  const keyHash = Buffer.from(AsnConvert.parse(req, OCSPRequest).tbsRequest.requestList[0]!.reqCert.issuerKeyHash.buffer);
  assert.deepEqual(Buffer.from(data.responderID.byKey!.buffer), keyHash);
  assert.equal(data.responderID.byName, undefined);
  const whole = Math.floor(t.getTime() / 1000) * 1000;
  assert.equal(data.producedAt.getTime(), whole);
  assert.equal(data.responses[0]!.thisUpdate.getTime(), whole);
  assert.equal(data.responses[0]!.nextUpdate!.getTime(), whole + 5 * 60_000);
  assert.equal(ocspNextUpdate(resp)!.getTime(), whole + 5 * 60_000);
  const def = parseResponse(await respondOcsp(req, deps({ now: t }))).basic!.tbsResponseData.responses[0]!;
  assert.equal(def.nextUpdate!.getTime() - def.thisUpdate.getTime(), HOUR);
  // v1 is the DEFAULT, so DER leaves it out; and the issuer signs, so no certs ride along.
  assert.equal(parseResponse(resp).basic!.certs, undefined);
  const r = check(main, resp, ids(main, 'good'), ['-resp_text']);
  assert.match(r.out, /Version: 1 \(0x0\)/);
  assert.match(r.out, new RegExp(`Responder Id: ${keyHash.toString('hex').toUpperCase()}\\n`));
});

test('a signed request is answered (its signature is not checked)', async () => {
  const req = makeRequest(['-issuer', f('main-inter.pem'), ...ids(main, 'good'), '-signer', f('main-good.pem'), '-signkey', f('main-good.key')]);
  assert.ok(AsnConvert.parse(req, OCSPRequest).optionalSignature, 'openssl signed the request');
  const r = check(main, await respondOcsp(req, deps()), ids(main, 'good'));
  assert.equal(r.status, 0, r.err);
  assert.match(r.out, /main-good\.pem: good\n/);
});

test('malformed input is a malformedRequest response, never an exception', async () => {
  const good = makeRequest(['-issuer', f('main-inter.pem'), ...ids(main, 'good')]);
  const cases: Array<[string, Uint8Array]> = [
    ['empty', new Uint8Array(0)],
    ['garbage', new Uint8Array(Buffer.from('this is not DER at all'))],
    ['random', new Uint8Array(createHash('sha512').update('x').digest())],
    ['truncated', good.subarray(0, good.length - 5)],
    ['a certificate', Buffer.from(readFileSync(f('main-good.pem'), 'utf8').replace(/-----[A-Z ]+-----|\s/g, ''), 'base64')],
    ['no requests', new Uint8Array(AsnConvert.serialize(new OCSPRequest({ tbsRequest: new TBSRequest({ requestList: [] }) })))],
    ['a DER SEQUENCE of something else', new Uint8Array(AsnConvert.serialize(new AlgorithmIdentifier({ algorithm: '1.2.3', parameters: null })))],
  ];
  for (const [what, der] of cases) {
    const resp = await respondOcsp(der, deps());
    const parsed = parseResponse(resp);
    assert.equal(parsed.status, OCSPResponseStatus.malformedRequest, what);
    assert.equal(parsed.basic, undefined, what);
  }
  const file = f('malformed.der');
  writeFileSync(file, await respondOcsp(new Uint8Array([0x30, 0x03, 0x02, 0x01]), deps()));
  assert.match(openssl(['ocsp', '-respin', file, '-resp_text', '-noverify']).out, /Responder Error: malformedrequest \(1\)/);
});

test('a failing lookup is an internalError response', async () => {
  const req = makeRequest(['-issuer', f('main-inter.pem'), ...ids(main, 'good')]);
  const resp = await respondOcsp(req, deps({ lookup: async () => { throw new Error('database is locked'); } }));
  assert.deepEqual(parseResponse(resp), { status: OCSPResponseStatus.internalError });
});

test('unknown hash algorithm and a negative serial are unknown, not errors', async () => {
  const req = makeRequest(['-issuer', f('main-inter.pem'), ...ids(main, 'good')]);
  const id = AsnConvert.parse(req, OCSPRequest).tbsRequest.requestList[0]!.reqCert;
  const md5 = new CertID({ ...id, hashAlgorithm: new AlgorithmIdentifier({ algorithm: '1.2.840.113549.2.5', parameters: null }) });
  const negative = new CertID({ ...id, serialNumber: new Uint8Array([0xff, 0x01]).buffer });
  const wrongLength = new CertID({ ...id, issuerNameHash: new OctetString(new Uint8Array(3)) });
  const der = AsnConvert.serialize(new OCSPRequest({ tbsRequest: new TBSRequest({ requestList: [md5, negative, wrongLength, id].map((reqCert) => new Request({ reqCert })) }) }));
  const { status, basic } = parseResponse(await respondOcsp(new Uint8Array(der), deps()));
  assert.equal(status, OCSPResponseStatus.successful);
  assert.deepEqual(basic!.tbsResponseData.responses.map((r) => (r.certStatus.good === null ? 'good' : r.certStatus.unknown === null ? 'unknown' : 'revoked')),
    ['unknown', 'unknown', 'unknown', 'good']);
});

for (const [alg, sigAlg] of [['P-384', 'ecdsa-with-SHA384'], ['rsa', 'sha256WithRSAEncryption'], ['ed25519', 'ED25519']] as const) {
  test(`a ${alg} intermediate signs verifiable responses (${sigAlg})`, async () => {
    const c = await chain(`alg-${alg}`, alg, ['good', 'revoked']);
    const map = new Map([
      [c.leaves.get('good')!.serial, stored(c.leaves.get('good')!.serial)],
      [c.leaves.get('revoked')!.serial, stored(c.leaves.get('revoked')!.serial, { at: revokedAt, code: 4 })],
    ]);
    const leafIds = ids(c, 'good', 'revoked');
    const req = makeRequest(['-issuer', f(`${c.name}-inter.pem`), ...leafIds, '-nonce']);
    const r = check(c, await respondOcsp(req, { issuer: c.issuer, lookup: async (s) => map.get(s) ?? null, now: now() }), leafIds, ['-resp_text']);
    assert.equal(r.status, 0, r.err);
    assert.match(r.err, /Response verify OK/);
    assert.match(r.out, new RegExp(`Signature Algorithm: ${sigAlg}\\n`));
    assert.match(r.out, /-good\.pem: good\n/);
    assert.match(r.out, /-revoked\.pem: revoked\n(\t.*\n)*?\tReason: superseded\n/);
  });
}
