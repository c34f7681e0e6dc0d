// Replacing certificate and key files: atomic, mode-keeping, and for a rekey all-or-nothing even
// when a rename fails halfway. Plus the x5cInsecure renew token's exact shape.
import { after, afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, createPublicKey, type KeyObject } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as jose from 'jose';
import { CliError } from '../../src/cli/common.ts';
import { assertPair, loadCertFile, loadKeyFile, pairHooks, replaceFile, replacePair } from '../../src/client/files.ts';
import { mintRenewToken, renewTokenAlg } from '../../src/client/renew-token.ts';
import { toWebKeyPair } from '../../src/pki/keys.ts';
import { certToPem } from '../../src/pki/pem.ts';
import { x509 } from '../../src/pki/x509.ts';

const work = mkdtempSync(join(tmpdir(), 'stepstone-files-'));
after(() => rmSync(work, { recursive: true, force: true }));
afterEach(() => {
  pairHooks.rename = renameSync;
});

let n = 0;
function dirWith(files: Record<string, [string, number]>): string {
  const dir = join(work, `d${n++}`);
  mkdirSync(dir);
  for (const [name, [text, mode]] of Object.entries(files)) {
    writeFileSync(join(dir, name), text);
    chmodSync(join(dir, name), mode);
  }
  return dir;
}
const mode = (f: string) => statSync(f).mode & 0o777;

test('replaceFile keeps the old mode, uses 0600 for a new file, and leaves no temp file', () => {
  const dir = dirWith({ 'a.crt': ['old', 0o644] });
  replaceFile(join(dir, 'a.crt'), 'new');
  assert.equal(readFileSync(join(dir, 'a.crt'), 'utf8'), 'new');
  assert.equal(mode(join(dir, 'a.crt')), 0o644);
  replaceFile(join(dir, 'b.crt'), 'fresh');
  assert.equal(mode(join(dir, 'b.crt')), 0o600);
  assert.deepEqual(readdirSync(dir).sort(), ['a.crt', 'b.crt']);
  assert.throws(() => replaceFile(join(dir, 'no-such-dir', 'c.crt'), 'x'), CliError);
  assert.deepEqual(readdirSync(dir).sort(), ['a.crt', 'b.crt']);
});

test('replacePair replaces both files, keeping each mode', () => {
  const dir = dirWith({ 'k.pem': ['old key', 0o640], 'c.crt': ['old crt', 0o644] });
  replacePair({ path: join(dir, 'k.pem'), data: 'new key' }, { path: join(dir, 'c.crt'), data: 'new crt' });
  assert.equal(readFileSync(join(dir, 'k.pem'), 'utf8'), 'new key');
  assert.equal(readFileSync(join(dir, 'c.crt'), 'utf8'), 'new crt');
  assert.equal(mode(join(dir, 'k.pem')), 0o640);
  assert.equal(mode(join(dir, 'c.crt')), 0o644);
  assert.deepEqual(readdirSync(dir).sort(), ['c.crt', 'k.pem']);
});

for (const failing of [1, 2]) {
  test(`replacePair: when rename #${failing} fails, both old files are back byte for byte and nothing is left over`, () => {
    const dir = dirWith({ 'k.pem': ['old key', 0o600], 'c.crt': ['old crt', 0o644] });
    let calls = 0;
    pairHooks.rename = (from, to) => {
      if (++calls === failing) throw Object.assign(new Error('simulated'), { code: 'EIO' });
      renameSync(from, to);
    };
    assert.throws(() => replacePair({ path: join(dir, 'k.pem'), data: 'new key' }, { path: join(dir, 'c.crt'), data: 'new crt' }),
      failing === 2 ? /previous key was put back/ : /cannot replace .*k\.pem: EIO/);
    assert.equal(readFileSync(join(dir, 'k.pem'), 'utf8'), 'old key');
    assert.equal(readFileSync(join(dir, 'c.crt'), 'utf8'), 'old crt');
    assert.equal(mode(join(dir, 'k.pem')), 0o600);
    assert.deepEqual(readdirSync(dir).sort(), ['c.crt', 'k.pem']);
  });
}

async function selfSigned(key: { privateKey: KeyObject }, cn: string): Promise<x509.X509Certificate> {
  const keys = await toWebKeyPair(key.privateKey);
  return x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01', name: `CN=${cn}`, notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 3_600_000),
    keys: { privateKey: keys.privateKey, publicKey: keys.publicKey }, signingAlgorithm: keys.signAlg,
  });
}

test('loadKeyFile and assertPair: encrypted keys and mismatched pairs are one-line errors', async () => {
  const a = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const b = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const cert = await selfSigned(a, 'pair.example');
  const dir = dirWith({
    'c.crt': [certToPem(cert), 0o644],
    'a.key': [a.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, 0o600],
    'b.key': [b.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, 0o600],
    'enc.key': [a.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' }) as string, 0o600],
  });
  const crt = loadCertFile(join(dir, 'c.crt'));
  assertPair(crt, loadKeyFile(join(dir, 'a.key')));
  assert.throws(() => assertPair(crt, loadKeyFile(join(dir, 'b.key'))), /is not the key of the certificate/);
  assert.throws(() => loadKeyFile(join(dir, 'enc.key')), /encrypted key/);
  assert.throws(() => loadCertFile(join(dir, 'a.key')), /holds no PEM certificate/);
});

test('renew token: alg by key type, kid = RFC 7638 thumbprint, x5cInsecure = std base64 DER, step claims', async () => {
  const cases: [Parameters<typeof generateKeyPairSync>, string][] = [
    [['ec', { namedCurve: 'P-256' }] as never, 'ES256'],
    [['ec', { namedCurve: 'P-384' }] as never, 'ES384'],
    [['ec', { namedCurve: 'P-521' }] as never, 'ES512'],
    [['rsa', { modulusLength: 2048 }] as never, 'RS256'],
    [['ed25519'] as never, 'EdDSA'],
  ];
  for (const [args, alg] of cases) {
    const pair = (generateKeyPairSync as (...a: unknown[]) => { privateKey: KeyObject; publicKey: KeyObject })(...args);
    assert.equal(renewTokenAlg(pair.privateKey), alg);
    const leaf = await selfSigned(pair, `${alg}.example`);
    const token = await mintRenewToken({ chain: [leaf, leaf], key: pair.privateKey, audience: 'https://ca.example:9000/1.0/renew' });
    const header = jose.decodeProtectedHeader(token);
    assert.equal(header.alg, alg);
    assert.equal(header.typ, 'JWT');
    assert.equal(header.kid, await jose.calculateJwkThumbprint(await jose.exportJWK(createPublicKey(pair.privateKey))));
    assert.deepEqual(header.x5cInsecure, [Buffer.from(leaf.rawData).toString('base64'), Buffer.from(leaf.rawData).toString('base64')]);
    const { payload } = await jose.jwtVerify(token, pair.publicKey, { audience: 'https://ca.example:9000/1.0/renew', issuer: 'step-ca-client/1.0', subject: `${alg}.example` });
    assert.match(String(payload.jti), /^[0-9a-f]{64}$/);
    assert.equal(payload.exp! - payload.iat!, 300);
    assert.equal(payload.nbf, payload.iat);
  }
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const leaf = await selfSigned(generateKeyPairSync('ec', { namedCurve: 'P-256' }), 'x.example');
  await assert.rejects(mintRenewToken({ chain: [leaf], key: other.privateKey, audience: 'https://ca/1.0/renew' }), /does not belong/);
});
