// parseCsr on CSRs made by openssl (api.md §1.9 "invalid csr", §2.3 public key policy).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CsrError, parseCsr } from '../../src/pki/csr.ts';

const dir = mkdtempSync(join(tmpdir(), 'stepstone-csr-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** `openssl req -newkey <spec>` with a subject and optional SANs; returns the PEM CSR. */
function opensslCsr(newkey: string[], subj: string, san?: string): string {
  const i = ++n;
  const out = join(dir, `${i}.csr`);
  execFileSync('openssl', ['req', '-new', ...newkey, '-nodes', '-keyout', join(dir, `${i}.key`), '-subj', subj,
    ...(san ? ['-addext', `subjectAltName=${san}`] : []), '-out', out], { stdio: 'pipe' });
  return readFileSync(out, 'utf8');
}

const SAN = 'DNS:web.example.com,DNS:api.example.com,IP:10.0.0.1,IP:2001:db8::1,email:ops@example.com,URI:spiffe://example.org/ns/web';
const P256 = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];

function isCsrError(pattern: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof CsrError, `expected a CsrError, got ${String(e)}`);
    assert.match(e.message, pattern);
    return true;
  };
}

test('P-256 CSR: key type, CN and SANs by type', async () => {
  const c = await parseCsr(opensslCsr(P256, '/CN=web.example.com/O=Example', SAN));
  assert.equal(c.keyType, 'ec');
  assert.equal(c.commonName, 'web.example.com');
  assert.deepEqual(c.sans, {
    dns: ['web.example.com', 'api.example.com'],
    ip: ['10.0.0.1', '2001:db8::1'],
    email: ['ops@example.com'],
    url: ['spiffe://example.org/ns/web'],
  });
  assert.equal(c.spki.byteLength, 91); // P-256 SubjectPublicKeyInfo
});

test('P-384 CSR', async () => {
  const c = await parseCsr(opensslCsr(['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-sha384'], '/CN=p384.example.com', 'DNS:p384.example.com'));
  assert.equal(c.keyType, 'ec');
  assert.equal(c.commonName, 'p384.example.com');
  assert.deepEqual(c.sans, { dns: ['p384.example.com'], ip: [], email: [], url: [] });
  assert.equal(c.spki.byteLength, 120);
});

test('RSA-2048 CSR', async () => {
  const c = await parseCsr(opensslCsr(['-newkey', 'rsa:2048'], '/CN=rsa.example.com', 'DNS:rsa.example.com,IP:192.168.1.7'));
  assert.equal(c.keyType, 'rsa');
  assert.equal(c.commonName, 'rsa.example.com');
  assert.deepEqual(c.sans, { dns: ['rsa.example.com'], ip: ['192.168.1.7'], email: [], url: [] });
});

test('Ed25519 CSR', async () => {
  const c = await parseCsr(opensslCsr(['-newkey', 'ed25519'], '/CN=ed.example.com', 'email:me@example.com,URI:urn:example:ed'));
  assert.equal(c.keyType, 'ed25519');
  assert.equal(c.commonName, 'ed.example.com');
  assert.deepEqual(c.sans, { dns: [], ip: [], email: ['me@example.com'], url: ['urn:example:ed'] });
  assert.equal(c.spki.byteLength, 44);
});

test('a CSR without CN or SANs parses to empty values', async () => {
  const c = await parseCsr(opensslCsr(P256, '/O=Example Only'));
  assert.equal(c.commonName, '');
  assert.deepEqual(c.sans, { dns: [], ip: [], email: [], url: [] });
});

test('the DER is the PEM body', async () => {
  const pem = opensslCsr(P256, '/CN=der.example.com');
  const c = await parseCsr(pem);
  const body = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  assert.equal(Buffer.from(c.der).toString('base64'), body);
});

test('RSA-1024 is refused, naming the 2048-bit minimum', async () => {
  await assert.rejects(parseCsr(opensslCsr(['-newkey', 'rsa:1024'], '/CN=weak.example.com')), isCsrError(/2048/));
});

test('a CSR with a flipped signature byte is refused', async () => {
  const pem = opensslCsr(P256, '/CN=flip.example.com', 'DNS:flip.example.com');
  const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  der[der.length - 1]! ^= 0x01; // last byte of the signature's s
  const bad = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE REQUEST-----\n`;
  await assert.rejects(parseCsr(bad), isCsrError(/does not verify/));
});

test('a CSR whose subject was changed after signing is refused', async () => {
  const pem = opensslCsr(P256, '/CN=aaaa.example.com');
  const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const at = der.indexOf('aaaa.example.com');
  assert.ok(at > 0);
  der.write('bbbb', at);
  const bad = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  await assert.rejects(parseCsr(bad), isCsrError(/does not verify/));
});

test('a PEM of the wrong type (CERTIFICATE) is refused', async () => {
  const cert = join(dir, 'self.crt');
  execFileSync('openssl', ['req', '-x509', ...P256, '-nodes', '-keyout', join(dir, 'self.key'), '-subj', '/CN=self', '-days', '1', '-out', cert], { stdio: 'pipe' });
  await assert.rejects(parseCsr(readFileSync(cert, 'utf8')), isCsrError(/CERTIFICATE REQUEST/));
});

test('garbage is refused', async () => {
  await assert.rejects(parseCsr('-----BEGIN CERTIFICATE REQUEST-----\nAAAAAAAAAAAA\n-----END CERTIFICATE REQUEST-----\n'), isCsrError(/invalid csr/));
  await assert.rejects(parseCsr(`-----BEGIN CERTIFICATE REQUEST-----\n${Buffer.from('hello, world').toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`), isCsrError(/invalid csr/));
  await assert.rejects(parseCsr('-----BEGIN CERTIFICATE REQUEST-----\n!!! not base64 !!!\n-----END CERTIFICATE REQUEST-----\n'), isCsrError(/csr/));
  await assert.rejects(parseCsr(''), isCsrError(/CERTIFICATE REQUEST/));
  await assert.rejects(parseCsr('hello'), isCsrError(/CERTIFICATE REQUEST/));
});

test('two CSR blocks are refused', async () => {
  const a = opensslCsr(P256, '/CN=a.example.com');
  const b = opensslCsr(P256, '/CN=b.example.com');
  await assert.rejects(parseCsr(a + b), isCsrError(/one PEM block/));
  await assert.rejects(parseCsr(a + a), isCsrError(/one PEM block/));
});
