// Offline tools' flags (issues 12 and 19) through the real CLI, judged by openssl: one --path-len
// check for `certificate create` and `certificate sign`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
