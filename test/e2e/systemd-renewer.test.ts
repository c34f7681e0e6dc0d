// The generated cert-renewer@.service, run the way systemd runs it: ExecCondition, then
// ExecStart, then ExecStartPost, with %i substituted and the unit's environment, against a real
// CA. (No systemd PID 1 here; the units' syntax is checked by systemd-analyze in the unit tests.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate, createPublicKey } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, request, startTestCa } from '../helpers/ca.ts';
import { mintToken, opensslCsr, provisionerKey } from '../helpers/tokens.ts';

test('a timer run renews a due certificate, reloads, and the next run is skipped by ExecCondition', async (t) => {
  const ca = await startTestCa({ configure: (c) => { c.authority.claims.minTLSCertDuration = '10s'; } });
  t.after(() => ca.cleanup());
  const home = join(ca.dir, 'client');
  const units = join(ca.dir, 'units');
  mkdirSync(units);
  assert.equal(cli(['ca', 'bootstrap', '--ca-url', ca.url, '--fingerprint', ca.fingerprint, '--home', home]).status, 0);

  // A 60 s certificate that started 45 s ago: past 2/3 of its life, with 15 s to spare for a busy
  // machine to get to the renewal before it expires.
  const prov = await provisionerKey(ca.configPath, ca.password);
  const { csrPem, keyPem } = opensslCsr('web', ['web']);
  const ott = await mintToken(prov, { aud: `${ca.url}/1.0/sign`, sub: 'web' });
  const signed = await request(ca, 'POST', '/sign', { csr: csrPem, ott, notBefore: '-45s', notAfter: '60s' });
  assert.equal(signed.status, 201, signed.body);
  const crt = join(home, 'certs', 'web.crt');
  writeFileSync(crt, signed.json.certChain.join(''), { mode: 0o600 });
  writeFileSync(join(home, 'certs', 'web.key'), keyPem, { mode: 0o600 });

  const marker = join(ca.dir, 'reloaded');
  const hookLog = join(ca.dir, 'hooks.log');
  const hook = join(ca.dir, 'hook.sh');
  writeFileSync(hook, `#!/bin/sh\necho "$1" >> ${hookLog}\n`, { mode: 0o755 });
  const gen = cli(['systemd', 'renewer', '--home', home, '--output-dir', units, '--systemctl', '/bin/true', '--exec-post', `touch ${marker}`,
    '--exec-post', `${hook} first`, '--exec-post', `${hook} second`]);
  assert.equal(gen.status, 0, gen.stderr);
  const unit = readFileSync(join(units, 'cert-renewer@.service'), 'utf8');
  const instance = (v: string) => v.replace(/%[iI]/g, 'web').replace(/%%/g, '%');
  const env: Record<string, string> = Object.fromEntries([...unit.matchAll(/^Environment=(\w+)=(\S+)$/gm)].map((m) => [m[1], instance(m[2]!)]));
  assert.equal(env.STEPPATH, home);
  assert.equal(env.CERT_LOCATION, crt);
  // As systemd does: split on spaces, then each ${NAME} becomes one word from the unit's environment.
  const lines = (key: string) => [...unit.matchAll(new RegExp(`^${key}=(.+)$`, 'gm'))]
    .map((m) => instance(m[1]!).split(/\s+/).map((w) => w.replace(/^\$\{(\w+)\}$/, (_, name: string) => env[name] ?? assert.fail(`unset ${name}`))));
  const run = (argv: string[]) => spawnSync(argv[0]!, argv.slice(1), { env: { ...process.env, ...env }, encoding: 'utf8' });

  const [condition] = lines('ExecCondition');
  assert.equal(run(condition!).status, 0, 'due: the condition lets the run go ahead');
  const [start] = lines('ExecStart');
  const renewed = run(start!);
  assert.equal(renewed.status, 0, renewed.stderr);
  for (const post of lines('ExecStartPost')) assert.equal(run(post).status, 0, post.join(' '));
  assert.ok(existsSync(marker), 'the reload hook ran');
  assert.equal(readFileSync(hookLog, 'utf8'), 'first\nsecond\n', 'every --exec-post hook ran, in order');

  const before = new X509Certificate(signed.json.crt);
  const after_ = new X509Certificate(readFileSync(crt, 'utf8'));
  assert.notEqual(after_.serialNumber, before.serialNumber);
  assert.ok(after_.publicKey.equals(createPublicKey(keyPem)));
  const life = new Date(after_.validTo).getTime() - new Date(after_.validFrom).getTime();
  assert.equal(life, 60_000, 'same total lifetime');
  assert.ok(new Date(after_.validTo).getTime() > Date.now() + 20_000, 'a short certificate is not renewed already expired');
  assert.equal(run(condition!).status, 1, 'fresh again: the next timer run is skipped');
});
