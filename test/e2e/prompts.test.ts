// Password prompts (issue 12 item 9): on a real pseudo-terminal each verb that needs a password
// and has no --password-file asks for it, hidden, twice when it protects a new key; without a
// terminal the clear usage error stays.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from '../helpers/ca.ts';
import { cliInPty, type PtyRun } from '../helpers/pty.ts';

const dir = mkdtempSync(join(tmpdir(), 'prompts-'));
const f = (name: string) => join(dir, name);
const openssl = (args: string[]) => spawnSync('openssl', args, { encoding: 'utf8' });
const running: PtyRun[] = [];
after(async () => {
  await Promise.all(running.map((r) => r.close()));
  rmSync(dir, { recursive: true, force: true });
});

const ENCRYPT = /Please enter the password to encrypt [^:]*: /;
const CONFIRM = /Please enter the same password again to confirm: /;
const DECRYPT = /Please enter the password to decrypt [^:]*: /;

/** Runs the CLI on a terminal, answering each prompt in turn; returns the exit status and transcript. */
async function answered(args: string[], answers: [RegExp, string][]): Promise<{ status: number | null; out: string }> {
  const run = cliInPty(args);
  running.push(run);
  let from = 0;
  for (const [prompt, answer] of answers) {
    const m = await run.waitFor(prompt, 60_000, from);
    from += m.index + m[0].length;
    run.typeLine(answer);
  }
  const status = await run.exited;
  return { status, out: run.output() };
}

test('offline verbs at a terminal: create and p12 ask twice, change-pass asks for both, input hidden', async () => {
  const pw = 'typed-Secret-1';
  const create = await answered(['certificate', 'create', 'Typed Root', f('root.crt'), f('root.key'), '--profile', 'root-ca'], [[ENCRYPT, pw], [CONFIRM, pw]]);
  assert.equal(create.status, 0, create.out);
  assert.ok(!create.out.includes(pw), 'the password is not echoed');
  assert.equal(openssl(['pkey', '-in', f('root.key'), '-passin', `pass:${pw}`, '-noout']).status, 0, 'the key opens with the typed password');

  const mismatch = await answered(['certificate', 'create', 'Other', f('other.crt'), f('other.key'), '--profile', 'root-ca'], [[ENCRYPT, pw], [CONFIRM, 'not-the-same']]);
  assert.equal(mismatch.status, 1);
  assert.match(mismatch.out, /error: the passwords do not match/);
  assert.ok(!existsSync(f('other.key')) && !existsSync(f('other.crt')), 'nothing written');

  // Signing with the encrypted CA key asks for its password (once).
  const leaf = await answered(['certificate', 'create', 'leaf.example.com', f('leaf.crt'), f('leaf.key'), '--ca', f('root.crt'), '--ca-key', f('root.key'),
    '--no-password', '--insecure'], [[DECRYPT, pw]]);
  assert.equal(leaf.status, 0, leaf.out);
  assert.equal(openssl(['verify', '-CAfile', f('root.crt'), f('leaf.crt')]).status, 0);

  const p12 = await answered(['certificate', 'p12', f('leaf.p12'), f('leaf.crt'), f('leaf.key')], [[ENCRYPT, 'p12-pass'], [CONFIRM, 'p12-pass']]);
  assert.equal(p12.status, 0, p12.out);
  assert.equal(openssl(['pkcs12', '-in', f('leaf.p12'), '-passin', 'pass:p12-pass', '-noout']).status, 0);

  const change = await answered(['crypto', 'change-pass', f('root.key')], [[DECRYPT, pw], [ENCRYPT, 'new-Secret-2'], [CONFIRM, 'new-Secret-2']]);
  assert.equal(change.status, 0, change.out);
  assert.ok(!change.out.includes('new-Secret-2'));
  assert.equal(openssl(['pkey', '-in', f('root.key'), '-passin', 'pass:new-Secret-2', '-noout']).status, 0);
});

test('without a terminal: the same verbs name the flag they need, exit 2, nothing written', () => {
  // serve reads ca.json before it asks (it may name issuers with their own password files), so it
  // needs a CA that exists.
  writeFileSync(f('serve-pw.txt'), 'serve-Secret-1\n', { mode: 0o600 });
  const made = cli(['init', '--name', 'S', '--dns', 'localhost', '--address', '127.0.0.1:0', '--home', f('no-tty-serve'), '--password-file', f('serve-pw.txt')]);
  assert.equal(made.status, 0, made.stderr);
  const cases: [string[], RegExp][] = [
    [['certificate', 'create', 'X', f('x.crt'), f('x.key'), '--profile', 'root-ca'], /^error: --password-file is required to encrypt the new key \(or --no-password --insecure to leave it unencrypted\); stdin is not a terminal to prompt on\n$/],
    [['certificate', 'p12', f('x.p12'), f('leaf.crt'), f('leaf.key')], /^error: --password-file is required to encrypt the bundle/],
    [['crypto', 'change-pass', f('leaf.key')], /^error: --new-password-file is required to encrypt the key/],
    [['init', '--name', 'T', '--dns', 'localhost', '--home', f('no-tty-ca')], /^error: --password-file is required to encrypt the CA keys and the provisioner key; stdin is not a terminal/],
    [['serve', '--home', f('no-tty-serve')], /^error: --password-file is required to decrypt the intermediate CA key; stdin is not a terminal/],
    [['ca', 'token', 'x', '--ca-url', 'https://127.0.0.1:1', '--root', f('root.crt')], /^error: --password-file is required to decrypt the provisioner key; stdin is not a terminal/],
    [['ca', 'certificate', 'x', f('x.crt'), f('x.key'), '--ca-url', 'https://127.0.0.1:1', '--root', f('root.crt')], /^error: --password-file is required to decrypt the provisioner key/],
    [['ca', 'revoke', '123', '--ca-url', 'https://127.0.0.1:1', '--root', f('root.crt')], /^error: say how to authenticate: --cert and --key, --token, or --provisioner with --password-file\n$/],
  ];
  for (const [args, message] of cases) {
    const r = cli(args, { input: '' });
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
  assert.ok(!existsSync(f('x.key')) && !existsSync(f('x.p12')) && !existsSync(f('no-tty-ca')));
  const encrypted = cli(['certificate', 'create', 'y', f('y.crt'), f('y.key'), '--ca', f('root.crt'), '--ca-key', f('root.key'), '--no-password', '--insecure']);
  assert.equal(encrypted.status, 2);
  assert.match(encrypted.stderr, /^error: --ca-password-file is required to decrypt .*root\.key; stdin is not a terminal/);
});

test('init, serve, ca token, ca certificate and ca revoke at a terminal: the typed passwords work end to end', async () => {
  const home = f('ca');
  const caPw = 'ca-Typed-3';
  const init = await answered(['init', '--name', 'Typed', '--dns', 'localhost,127.0.0.1', '--address', '127.0.0.1:0', '--home', home], [[ENCRYPT, caPw], [CONFIRM, caPw]]);
  assert.equal(init.status, 0, init.out);
  assert.ok(!init.out.includes(caPw));
  const fingerprint = /Root fingerprint: ([0-9a-f]{64})/.exec(init.out)![1]!;

  const server = cliInPty(['serve', '--home', home]);
  running.push(server);
  await server.waitFor(DECRYPT);
  server.typeLine(caPw);
  const port = Number((await server.waitFor(/"address":"127\.0\.0\.1:(\d+)"/))[1]);
  const url = `https://127.0.0.1:${port}`;
  const client = f('client');
  const boot = cli(['ca', 'bootstrap', '--ca-url', url, '--fingerprint', fingerprint, '--home', client]);
  assert.equal(boot.status, 0, boot.stderr);

  const token = await answered(['ca', 'token', 'tok.example.com', '--home', client], [[DECRYPT, caPw]]);
  assert.equal(token.status, 0, token.out);
  assert.match(token.out, /\beyJ[\w-]+\.[\w-]+\.[\w-]+/, 'a token is printed');

  const cert = await answered(['ca', 'certificate', 'web.example.com', f('web.crt'), f('web.key'), '--home', client], [[DECRYPT, caPw]]);
  assert.equal(cert.status, 0, cert.out);
  const leaf = new X509Certificate(readFileSync(f('web.crt')));
  assert.match(leaf.subjectAltName ?? '', /DNS:web\.example\.com/);

  const serial = BigInt(`0x${leaf.serialNumber}`).toString();
  const revoke = await answered(['ca', 'revoke', serial, '--home', client], [[DECRYPT, caPw]]);
  assert.equal(revoke.status, 0, revoke.out);
  assert.match(revoke.out, new RegExp(`Serial Number ${serial} has been revoked`));

  const wrong = await answered(['ca', 'token', 'x', '--home', client], [[DECRYPT, 'wrong-password']]);
  assert.notEqual(wrong.status, 0);
  await server.close();
});
