// `certificate verify` is real path validation (issue 19 item 7): each case is one openssl refuses
// (or accepts), and our verdict must be openssl's. Fixtures are made by openssl itself, so the
// odd ones (a CA without keyCertSign, a client-only leaf) are not limited to what our tools make.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from '../helpers/ca.ts';

const dir = mkdtempSync(join(tmpdir(), 'verify-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const f = (name: string) => join(dir, name);

function openssl(args: string[]): { status: number | null; out: string } {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const CA = 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid';
const LEAF = (dns: string, eku = 'serverAuth,clientAuth') => `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=${eku}\nsubjectAltName=DNS:${dns}\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid`;

/** A P-256 certificate NAME.crt/NAME.key with `ext`, signed by `issuer` (or itself). */
function mk(name: string, ext: string, issuer?: string): string {
  writeFileSync(f(`${name}.ext`), `${ext}\n`);
  const key = openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', f(`${name}.key`)]);
  assert.equal(key.status, 0, key.out);
  const req = openssl(['req', '-new', '-key', f(`${name}.key`), '-subj', `/CN=${name}`, '-out', f(`${name}.csr`)]);
  assert.equal(req.status, 0, req.out);
  const signer = issuer ? ['-CA', f(`${issuer}.crt`), '-CAkey', f(`${issuer}.key`)] : ['-key', f(`${name}.key`)];
  const x = openssl(['x509', '-req', '-in', f(`${name}.csr`), ...signer, '-days', '2', '-sha256', '-extfile', f(`${name}.ext`), '-out', f(`${name}.crt`)]);
  assert.equal(x.status, 0, x.out);
  return f(`${name}.crt`);
}

/** openssl's verdict and ours, for LEAF with UNTRUSTED intermediates under ROOT. */
function verdicts(root: string, untrusted: string[], leaf: string, purpose: 'sslserver' | 'sslclient' = 'sslserver') {
  const chain = f(`chain-${Math.random().toString(36).slice(2)}.pem`);
  writeFileSync(chain, [leaf, ...untrusted].map((p) => readFileSync(p, 'utf8')).join(''));
  const bundle = f(`untrusted-${Math.random().toString(36).slice(2)}.pem`);
  writeFileSync(bundle, untrusted.map((p) => readFileSync(p, 'utf8')).join(''));
  const ours = cli(['certificate', 'verify', chain, '--roots', root, '--purpose', purpose === 'sslserver' ? 'serverAuth' : 'clientAuth']);
  const theirs = openssl(['verify', '-purpose', purpose, '-CAfile', root, ...(untrusted.length ? ['-untrusted', bundle] : []), leaf]);
  return { ours, theirs };
}

mk('root', CA);
mk('int', CA, 'root');

test('a good chain: openssl and we say ok', () => {
  const { ours, theirs } = verdicts(f('root.crt'), [f('int.crt')], mk('good', LEAF('good.example.com'), 'int'));
  assert.equal(theirs.status, 0, theirs.out);
  assert.equal(ours.status, 0, ours.stderr);
  assert.equal(ours.stdout, 'ok\n');
});

test('a leaf outside its issuer\'s name constraint is refused, as openssl refuses it', () => {
  mk('team', `${CA}\nnameConstraints=critical,permitted;DNS:team.example.com`, 'root');
  const inside = verdicts(f('root.crt'), [f('team.crt')], mk('in', LEAF('api.team.example.com'), 'team'));
  assert.equal(inside.theirs.status, 0, inside.theirs.out);
  assert.equal(inside.ours.status, 0, inside.ours.stderr);
  const outside = verdicts(f('root.crt'), [f('team.crt')], mk('out', LEAF('api.other.example.org'), 'team'));
  assert.match(outside.theirs.out, /permitted subtree violation/);
  assert.equal(outside.ours.status, 1);
  assert.match(outside.ours.stderr, /name constraint/);
});

test('a path longer than a CA\'s pathlen allows is refused, as openssl refuses it', () => {
  mk('root0', `${CA}\nbasicConstraints=critical,CA:TRUE,pathlen:0`);
  mk('int0', CA, 'root0');
  const { ours, theirs } = verdicts(f('root0.crt'), [f('int0.crt')], mk('deep', LEAF('deep.example.com'), 'int0'));
  assert.match(theirs.out, /path length constraint exceeded/);
  assert.equal(ours.status, 1);
  assert.match(ours.stderr, /path length constraint 0 exceeded/);
});

test('an intermediate that is a CA but lacks keyCertSign is refused, as openssl refuses it', () => {
  mk('nosign', 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid', 'root');
  const { ours, theirs } = verdicts(f('root.crt'), [f('nosign.crt')], mk('under-nosign', LEAF('x.example.com'), 'nosign'));
  assert.notEqual(theirs.status, 0, theirs.out);
  assert.match(theirs.out, /invalid CA certificate|key usage/i);
  assert.equal(ours.status, 1);
  assert.match(ours.stderr, /not a CA certificate|keyCertSign/);
});

test('a client-only leaf is refused for serverAuth and accepted for clientAuth, as openssl -purpose decides', () => {
  const leaf = mk('client-only', LEAF('c.example.com', 'clientAuth'), 'int');
  const server = verdicts(f('root.crt'), [f('int.crt')], leaf, 'sslserver');
  assert.match(server.theirs.out, /(unsupported|unsuitable) certificate purpose/);
  assert.equal(server.ours.status, 1);
  assert.match(server.ours.stderr, /extended key usage does not allow serverAuth/);
  const client = verdicts(f('root.crt'), [f('int.crt')], leaf, 'sslclient');
  assert.equal(client.theirs.status, 0, client.theirs.out);
  assert.equal(client.ours.status, 0, client.ours.stderr);
});

test('an intermediate signed by another root with the same name is refused, as openssl refuses it', () => {
  // Same subject as "root", different key: names chain, signatures do not.
  mk('impostor', CA, undefined);
  const other = f('root-other.crt');
  const r = openssl(['req', '-x509', '-new', '-key', f('impostor.key'), '-subj', '/CN=root', '-days', '2', '-out', other,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  assert.equal(r.status, 0, r.out);
  const { ours, theirs } = verdicts(other, [f('int.crt')], f('good.crt'));
  assert.notEqual(theirs.status, 0, theirs.out);
  assert.equal(ours.status, 1, ours.stdout);
});
