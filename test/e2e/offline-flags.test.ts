// Offline tools' flags (issues 12 and 19) through the real CLI, judged by openssl: one --path-len
// check for `certificate create` and `certificate sign`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from '../helpers/ca.ts';
import { opensslCsr } from '../helpers/tokens.ts';

const dir = mkdtempSync(join(tmpdir(), 'offline-flags-'));
const f = (name: string) => join(dir, name);
const openssl = (args: string[], input?: string) => spawnSync('openssl', args, { encoding: 'utf8', input });
const ok = (args: string[]) => {
  const r = cli(args);
  assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
  return r;
};
const plain = ['--no-password', '--insecure'];

before(() => {
  ok(['certificate', 'create', 'Flags Root', f('root.crt'), f('root.key'), '--profile', 'root-ca', ...plain]);
  writeFileSync(f('sub.csr'), opensslCsr('Sub CA').csrPem);
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('--path-len: create and sign refuse the same bad values, exit 2, nothing written', () => {
  for (const bad of ['abc', '-1', '1.5', '', '0x1', '1e3']) {
    const sign = cli(['certificate', 'sign', f('sub.csr'), f('root.crt'), f('root.key'), '--profile', 'intermediate-ca', '--path-len', bad]);
    assert.equal(sign.status, 2, `sign --path-len '${bad}': ${sign.stdout}`);
    assert.equal(sign.stdout, '', 'no certificate printed');
    assert.equal(sign.stderr, `error: --path-len must be a non-negative integer, not ${bad}\n`);
    const create = cli(['certificate', 'create', 'Sub', f('c.crt'), f('c.key'), '--profile', 'intermediate-ca', '--ca', f('root.crt'), '--ca-key', f('root.key'), '--path-len', bad, ...plain]);
    assert.equal(create.status, 2);
    assert.equal(create.stderr, sign.stderr, 'one message for both verbs');
    assert.ok(!existsSync(f('c.crt')));
  }
});

test('--path-len 2 on sign: openssl reads pathlen:2', () => {
  const r = ok(['certificate', 'sign', f('sub.csr'), f('root.crt'), f('root.key'), '--profile', 'intermediate-ca', '--path-len', '2']);
  const text = openssl(['x509', '-noout', '-text'], r.stdout);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /CA:TRUE, pathlen:2/);
});

test('pki: --pki-directory on the group (wmctl\'s order) or on the verb; gen-config refuses to overwrite without --force', () => {
  const pki = f('pki');
  ok(['pki', '--pki-directory', pki, 'init', '--name', 'Cluster']);
  ok(['pki', '--pki-directory', pki, 'issue', '--name', 'etcd-1', '--san', 'etcd-1.internal']);
  ok(['pki', 'issue', '--pki-directory', pki, '--name', 'etcd-2']);
  for (const node of ['etcd-1', 'etcd-2']) {
    const v = openssl(['verify', '-x509_strict', '-CAfile', join(pki, 'ca', 'ca.crt'), join(pki, 'nodes', node, 'tls.crt')]);
    assert.equal(v.status, 0, v.stdout + v.stderr);
  }
  const missing = cli(['pki', 'issue', '--name', 'etcd-3']);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /^error: .*--pki-directory <dir> is required\n$/);

  const out = f('client.json');
  ok(['pki', '--pki-directory', pki, 'gen-config', '--server', 'ca.internal:9000', '--output', out]);
  writeFileSync(out, 'keep me');
  const again = cli(['pki', '--pki-directory', pki, 'gen-config', '--server', 'other:9000', '--output', out]);
  assert.equal(again.status, 1);
  assert.equal(again.stderr, `error: ${out} already exists; pass --force to overwrite it\n`);
  assert.equal(readFileSync(out, 'utf8'), 'keep me', 'untouched');
  ok(['pki', 'gen-config', '--pki-directory', pki, '--server', 'other:9000', '--output', out, '--force']);
  assert.equal(JSON.parse(readFileSync(out, 'utf8'))['ca-url'], 'https://other:9000');
});

test('crypto key format: SEC1 → PKCS#8 PEM/DER and back, public keys from certificates, as openssl reads them', () => {
  // A SEC1 key as step writes it, made by openssl.
  assert.equal(openssl(['ecparam', '-genkey', '-name', 'prime256v1', '-noout', '-out', f('sec1.pem')]).status, 0);
  const pubOf = (args: string[]) => openssl(['pkey', ...args, '-pubout']).stdout;
  const reference = pubOf(['-in', f('sec1.pem')]);

  ok(['crypto', 'key', 'format', f('sec1.pem'), '--pkcs8', '--pem', '--out', f('p8.pem'), ...plain]);
  assert.match(readFileSync(f('p8.pem'), 'utf8'), /^-----BEGIN PRIVATE KEY-----\n/);
  assert.equal(statSync(f('p8.pem')).mode & 0o777, 0o600);
  assert.equal(pubOf(['-in', f('p8.pem')]), reference, 'the same key');
  // openssl's own PKCS#8 of the same key is byte-identical.
  assert.equal(readFileSync(f('p8.pem'), 'utf8'), openssl(['pkcs8', '-topk8', '-nocrypt', '-in', f('sec1.pem')]).stdout);

  ok(['crypto', 'key', 'format', f('sec1.pem'), '--pkcs8', '--der', '--out', f('p8.der'), ...plain]);
  assert.equal(pubOf(['-inform', 'DER', '-in', f('p8.der')]), reference);
  assert.match(openssl(['asn1parse', '-inform', 'DER', '-in', f('p8.der')]).stdout, /OBJECT\s+:id-ecPublicKey/, 'PKCS#8 names the algorithm');

  // No flag: PEM in → DER out (SEC1), DER in → PEM out (SEC1), as step switches.
  ok(['crypto', 'key', 'format', f('sec1.pem'), '--out', f('sec1.der'), ...plain]);
  assert.equal(openssl(['ec', '-inform', 'DER', '-in', f('sec1.der'), '-noout']).status, 0);
  assert.doesNotMatch(openssl(['asn1parse', '-inform', 'DER', '-in', f('sec1.der')]).stdout, /id-ecPublicKey/, 'SEC1, not PKCS#8');
  const back = ok(['crypto', 'key', 'format', f('sec1.der'), ...plain]).stdout;
  assert.equal(back, readFileSync(f('sec1.pem'), 'utf8'));

  // Encrypted output: PEM PKCS#8 that openssl opens with the password; read back with --password-file.
  writeFileSync(f('kpw'), 'key-pass\n');
  ok(['crypto', 'key', 'format', f('sec1.pem'), '--pem', '--new-password-file', f('kpw'), '--out', f('enc.pem')]);
  assert.match(readFileSync(f('enc.pem'), 'utf8'), /^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
  assert.equal(pubOf(['-in', f('enc.pem'), '-passin', 'pass:key-pass']), reference);
  const clear = ok(['crypto', 'key', 'format', f('enc.pem'), '--pkcs8', '--pem', '--password-file', f('kpw'), ...plain]).stdout;
  assert.equal(clear, readFileSync(f('p8.pem'), 'utf8'));

  // A certificate gives its public key (SPKI), PEM or DER.
  const pub = ok(['crypto', 'key', 'format', f('root.crt'), '--pem']).stdout;
  assert.equal(pub, openssl(['x509', '-in', f('root.crt'), '-noout', '-pubkey']).stdout);

  // Refusals: a private key in the clear needs both flags; encrypted needs its password; no overwrite.
  const noFlags = cli(['crypto', 'key', 'format', f('sec1.pem'), '--pkcs8', '--pem']);
  assert.equal(noFlags.status, 2);
  assert.match(noFlags.stderr, /^error: --new-password-file is required to encrypt the private key \(or --no-password --insecure/);
  const locked = cli(['crypto', 'key', 'format', f('enc.pem'), '--pem', ...plain]);
  assert.equal(locked.status, 1);
  assert.match(locked.stderr, /encrypted: give its password with --password-file/);
  const again = cli(['crypto', 'key', 'format', f('sec1.pem'), '--pkcs8', '--pem', '--out', f('p8.pem'), ...plain]);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /already exists; pass --force/);
  const junk = cli(['crypto', 'key', 'format', f('sub.csr')]);
  assert.equal(junk.status, 1);
  assert.match(junk.stderr, /no PEM private key, public key or certificate/);
});

test('certificate inspect --short: step\'s form for root, intermediate, leaf (RSA, IP SAN) and CSR, fields as openssl reads them', () => {
  ok(['certificate', 'create', 'Flags Intermediate', f('int.crt'), f('int.key'), '--profile', 'intermediate-ca', '--ca', f('root.crt'), '--ca-key', f('root.key'), ...plain]);
  ok(['certificate', 'create', 'svc.example.com', f('svc.crt'), f('svc.key'), '--ca', f('int.crt'), '--ca-key', f('int.key'), '--kty', 'RSA',
    '--san', 'svc.example.com', '--san', 'alt.example.com', '--san', '10.1.2.3', '--san', '2001:db8:0:0:0:0:0:1', ...plain]);
  const field = (crt: string, flag: string) => openssl(['x509', '-in', crt, '-noout', flag]).stdout.trim().replace(/^[^=]+=/, '');
  const serial = (crt: string) => BigInt(`0x${field(crt, '-serial')}`).toString(10);
  const abbr = (s: string) => (s.length <= 8 ? s : `${s.slice(0, 4)}...${s.slice(-4)}`);
  const utc = (crt: string, flag: string) => new Date(field(crt, flag)).toISOString().replace(/\.000Z$/, 'Z');
  const expect = (crt: string, head: string, names: string[], issuer: string) => [
    `${head} [Serial: ${abbr(serial(crt))}]`,
    `  Subject:     ${names[0]}`, ...names.slice(1).map((n) => `               ${n}`),
    `  Issuer:      ${issuer}`,
    `  Valid from:  ${utc(crt, '-startdate')}`,
    `          to:  ${utc(crt, '-enddate')}`,
    '',
  ].join('\n');
  const short = (file: string) => ok(['certificate', 'inspect', file, '--short']).stdout;
  assert.equal(short(f('root.crt')), expect(f('root.crt'), 'X.509v3 Root CA Certificate (ECDSA P-256)', ['Flags Root'], 'Flags Root'));
  assert.equal(short(f('int.crt')), expect(f('int.crt'), 'X.509v3 Intermediate CA Certificate (ECDSA P-256)', ['Flags Intermediate'], 'Flags Root'));
  assert.equal(short(f('svc.crt')), expect(f('svc.crt'), 'X.509v3 TLS Certificate (RSA 2048)',
    ['svc.example.com', 'alt.example.com', '10.1.2.3', '2001:db8::1'], 'Flags Intermediate'));
  writeFileSync(f('two.csr'), opensslCsr('two.example.com', ['two.example.com', 'www.two.example.com']).csrPem);
  assert.equal(short(f('two.csr')), 'X.509v3 Certificate Signing Request (ECDSA P-256)\n  Subject:     two.example.com\n               www.two.example.com\n');
});
