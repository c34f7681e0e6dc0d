// Names come from the token; the CSR is only checked against them (api.md §2.3).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { webcrypto } from 'node:crypto';
import { CaError } from '../../src/errors.ts';
import { checkCsrAgainstToken, sansFromNames } from '../../src/authority/policy.ts';
import { parseCsr, type ParsedCsr } from '../../src/pki/csr.ts';
import { x509 } from '../../src/pki/x509.ts';

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
let keys: CryptoKeyPair;
const dir = mkdtempSync(join(tmpdir(), 'stepstone-policy-'));
after(() => rmSync(dir, { recursive: true, force: true }));

before(async () => {
  keys = (await webcrypto.subtle.generateKey(ALG, false, ['sign', 'verify'])) as CryptoKeyPair;
});

type Names = { dns?: string[]; ip?: string[]; email?: string[]; url?: string[] };

/** A real, signed CSR with this CN (none when '') and these SANs, parsed as the CA parses it. */
async function csr(cn: string, names: Names = {}): Promise<ParsedCsr> {
  const items: x509.JsonGeneralName[] = [
    ...(names.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(names.ip ?? []).map((value) => ({ type: 'ip' as const, value })),
    ...(names.email ?? []).map((value) => ({ type: 'email' as const, value })),
    ...(names.url ?? []).map((value) => ({ type: 'url' as const, value })),
  ];
  const req = await x509.Pkcs10CertificateRequestGenerator.create({
    name: cn ? `CN=${cn}` : '',
    keys,
    signingAlgorithm: ALG,
    extensions: items.length ? [new x509.SubjectAlternativeNameExtension(items)] : [],
  });
  return parseCsr(req.toString('pem'));
}

/** The same through openssl, for addresses @peculiar/x509 cannot encode (IPv4-mapped IPv6). */
let opensslN = 0;
async function opensslCsr(cn: string, san: string): Promise<ParsedCsr> {
  const out = join(dir, `r${++opensslN}.csr`);
  execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, `k${opensslN}.pem`),
    '-subj', `/CN=${cn}`, '-addext', `subjectAltName=${san}`, '-out', out], { stdio: 'pipe' });
  return parseCsr(readFileSync(out, 'utf8'));
}

/** Runs the check the way the sign path does: cert SANs are sansFromNames(token sans). */
function check(c: ParsedCsr, sub: string, sans: string[]): void {
  checkCsrAgainstToken(c, sub, sans, sansFromNames(sans));
}

function forbidden(fn: () => void, message: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CaError, String(e));
    assert.equal(e.code, 'forbidden');
    assert.equal(e.status, 403);
    assert.equal(e.publicMessage, `The request was forbidden by the certificate authority: ${message}`);
    return true;
  });
}

test('sansFromNames classifies IP, URI, email and DNS and orders them DNS, IP, email, URI', () => {
  assert.deepEqual(sansFromNames(['spiffe://example.org/ns/web', 'ops@example.com', '10.0.0.1', 'web.example.com', '2001:db8::1', 'urn:uuid:ddfe62ba-7e99-4bc1-83b3-8f57fe3e9959', 'api.example.com']), [
    { type: 'dns', value: 'web.example.com' },
    { type: 'dns', value: 'api.example.com' },
    { type: 'ip', value: '10.0.0.1' },
    { type: 'ip', value: '2001:db8::1' },
    { type: 'email', value: 'ops@example.com' },
    { type: 'url', value: 'spiffe://example.org/ns/web' },
    { type: 'url', value: 'urn:uuid:ddfe62ba-7e99-4bc1-83b3-8f57fe3e9959' },
  ]);
});

test('sansFromNames deduplicates, treating IPv6 spellings of one address as one', () => {
  assert.deepEqual(sansFromNames(['a.example.com', 'a.example.com', '::1', '0:0::1', '0:0:0:0:0:0:0:1', '10.0.0.1', '10.0.0.1', 'x@example.com', 'x@example.com']), [
    { type: 'dns', value: 'a.example.com' },
    { type: 'ip', value: '::1' },
    { type: 'ip', value: '10.0.0.1' },
    { type: 'email', value: 'x@example.com' },
  ]);
  // DNS names are compared as strings: case differences are kept
  assert.deepEqual(sansFromNames(['A.example.com', 'a.example.com']).map((s) => s.value), ['A.example.com', 'a.example.com']);
  assert.deepEqual(sansFromNames([]), []);
});

test('sansFromNames keeps distinct IPv4-mapped IPv6 addresses apart, as IPv4 like Go', () => {
  // ::ffff:1.2.3.4 and ::ffff:1.9.9.9 are different addresses; neither may be dropped. Go treats a
  // mapped address as its IPv4 address (and encodes it in 4 bytes), so the certificate gets that.
  assert.deepEqual(sansFromNames(['::ffff:1.2.3.4', '::ffff:1.9.9.9', '1.2.3.4']).map((s) => s.value), ['1.2.3.4', '1.9.9.9']);
});

test('CSR CN: empty, equal to sub, or one of the sans is accepted', async () => {
  check(await csr(''), 'web.example.com', ['web.example.com']);
  check(await csr('web.example.com', { dns: ['web.example.com'] }), 'web.example.com', ['web.example.com']);
  check(await csr('alt.example.com', { dns: ['web.example.com', 'alt.example.com'] }), 'web.example.com', ['web.example.com', 'alt.example.com']);
  check(await csr('10.0.0.1'), 'web.example.com', ['web.example.com', '10.0.0.1']);
});

test('CSR CN not in the token is forbidden, naming the CN', async () => {
  const c = await csr('other.example.com');
  forbidden(() => check(c, 'web.example.com', ['web.example.com']),
    'certificate request does not contain the valid common name - got other.example.com, want web.example.com.');
  // CN compare is exact (case-sensitive)
  const upper = await csr('WEB.example.com');
  assert.throws(() => check(upper, 'web.example.com', ['web.example.com']), (e: unknown) => e instanceof CaError && e.code === 'forbidden' && e.publicMessage.includes('WEB.example.com'));
});

test('CSR with an extra DNS name is forbidden, naming got and want', async () => {
  const c = await csr('', { dns: ['a.example.com', 'evil.example.com'] });
  forbidden(() => check(c, 'a.example.com', ['a.example.com']),
    'certificate request does not contain the valid DNS names - got [a.example.com evil.example.com], want [a.example.com].');
});

test('CSR with a subset of the token DNS names is forbidden', async () => {
  const c = await csr('', { dns: ['a.example.com'] });
  forbidden(() => check(c, 'a.example.com', ['a.example.com', 'b.example.com']),
    'certificate request does not contain the valid DNS names - got [a.example.com], want [a.example.com b.example.com].');
});

test('CSR DNS names: same set in another order with a duplicate is fine; case matters', async () => {
  check(await csr('', { dns: ['b.example.com', 'a.example.com', 'b.example.com'] }), 'a.example.com', ['a.example.com', 'b.example.com']);
  const c = await csr('', { dns: ['A.example.com'] });
  forbidden(() => check(c, 'a.example.com', ['a.example.com']),
    'certificate request does not contain the valid DNS names - got [A.example.com], want [a.example.com].');
});

test('CSR with only an IP SAN while the token has DNS and IP is accepted', async () => {
  check(await csr('', { ip: ['10.0.0.1'] }), 'web.example.com', ['web.example.com', '10.0.0.1']);
});

test('CSR IPs compare by address, not spelling', async () => {
  check(await csr('', { ip: ['::1'] }), 'web.example.com', ['web.example.com', '0:0::1']);
  check(await csr('', { ip: ['2001:db8::1', '10.0.0.1'] }), 'web.example.com', ['10.0.0.1', '2001:0db8:0:0:0:0:0:1']);
});

test('CSR IP not in the token is forbidden with step-ca\'s message', async () => {
  const c = await csr('', { ip: ['10.0.0.2'] });
  // step-ca (authority/provisioner/sign_options.go ipAddressesValidator): "valid IP addresses"
  forbidden(() => check(c, 'web.example.com', ['web.example.com', '10.0.0.1']),
    'certificate request does not contain the valid IP addresses - got [10.0.0.2], want [10.0.0.1].');
});

test('CSR IPv4-mapped IPv6 address equal to the token\'s is accepted', async () => {
  const c = await opensslCsr('web.example.com', 'IP:::ffff:1.9.9.9');
  assert.equal(c.sans.ip.length, 1);
  check(c, 'web.example.com', ['web.example.com', '::ffff:1.9.9.9']);
});

test('CSR IPv4-mapped IPv6 address different from the token\'s is forbidden', async () => {
  const c = await opensslCsr('web.example.com', 'IP:::ffff:1.9.9.9');
  assert.throws(() => check(c, 'web.example.com', ['web.example.com', '::ffff:1.2.3.4']), (e: unknown) => e instanceof CaError && e.code === 'forbidden');
});

test('CSR with no SANs at all is accepted', async () => {
  check(await csr(''), 'web.example.com', ['web.example.com', '10.0.0.1', 'ops@example.com', 'spiffe://example.org/web']);
  check(await csr('web.example.com'), 'web.example.com', ['web.example.com', '10.0.0.1', 'ops@example.com', 'spiffe://example.org/web']);
});

test('CSR email addresses must equal the token\'s as a set', async () => {
  const sans = ['web.example.com', 'ops@example.com', 'dev@example.com'];
  check(await csr('', { email: ['dev@example.com', 'ops@example.com'] }), 'web.example.com', sans);
  const c = await csr('', { email: ['ops@example.com', 'root@example.com'] });
  forbidden(() => check(c, 'web.example.com', sans),
    'certificate request does not contain the valid email addresses - got [ops@example.com root@example.com], want [ops@example.com dev@example.com].');
});

test('CSR URIs must equal the token\'s as a set', async () => {
  const sans = ['web.example.com', 'spiffe://example.org/ns/web'];
  check(await csr('', { url: ['spiffe://example.org/ns/web'] }), 'web.example.com', sans);
  check(await csr('', { dns: ['web.example.com'], url: ['spiffe://example.org/ns/web'] }), 'web.example.com', sans);
  const c = await csr('', { url: ['spiffe://example.org/ns/admin'] });
  forbidden(() => check(c, 'web.example.com', sans),
    'certificate request does not contain the valid URIs - got [spiffe://example.org/ns/admin], want [spiffe://example.org/ns/web].');
  // a URI the token does not have at all
  const d = await csr('', { url: ['spiffe://example.org/ns/web'] });
  assert.throws(() => check(d, 'web.example.com', ['web.example.com']), (e: unknown) => e instanceof CaError && e.code === 'forbidden');
});
