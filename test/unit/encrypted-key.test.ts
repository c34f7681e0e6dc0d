// Keys at rest: PBES2 with a strong PBKDF2 count, readable by openssl, refused with a wrong password.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encryptPrivateKey } from '../../src/pki/encrypted-key.ts';
import { loadPrivateKey } from '../../src/pki/keys.ts';

test('encrypted keys are DER PBES2 / PBKDF2-HMAC-SHA256 600000 / AES-256-CBC that openssl opens', async () => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = await encryptPrivateKey(privateKey, 'correct horse');
  assert.match(pem, /^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
  const file = join(mkdtempSync(join(tmpdir(), 'ek-')), 'k.pem');
  writeFileSync(file, pem);
  const parsed = execFileSync('openssl', ['asn1parse', '-in', file], { encoding: 'utf8' });
  assert.match(parsed, /:PBES2\n/);
  assert.match(parsed, /:PBKDF2\n/);
  assert.match(parsed, /INTEGER\s+:0927C0\n/, '600000 iterations');
  assert.match(parsed, /:hmacWithSHA256\n/);
  assert.match(parsed, /:aes-256-cbc\n/);
  assert.doesNotMatch(parsed, /cons: OCTET STRING/, 'DER, not BER constructed strings');
  const ok = spawnSync('openssl', ['pkey', '-in', file, '-passin', 'pass:correct horse', '-pubout'], { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(ok.stdout, createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }) as string);
  const bad = spawnSync('openssl', ['pkey', '-in', file, '-passin', 'pass:wrong', '-noout']);
  assert.notEqual(bad.status, 0);
});

test('loadPrivateKey: right password opens it, wrong or missing password is one clear error', async () => {
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = await encryptPrivateKey(privateKey, 'pw', 1000);
  assert.equal(loadPrivateKey(pem, 'pw').asymmetricKeyType, 'ed25519');
  assert.throws(() => loadPrivateKey(pem, 'nope'), /wrong password or corrupt key file/);
  assert.throws(() => loadPrivateKey(pem), /encrypted and no password was given/);
  await assert.rejects(encryptPrivateKey(privateKey, ''), /empty password/);
});
