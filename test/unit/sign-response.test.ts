// The chain read from a /sign, /renew or /rekey answer: one function for `ca certificate` and
// `ca renew|rekey`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chainFromResponse } from '../../src/client/sign-response.ts';

function selfSigned(cn: string): string {
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', '/dev/null', '-subj', `/CN=${cn}`, '-days', '1'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

test('certChain is preferred, else [crt, ca]; each block comes back as clean PEM', () => {
  const leaf = selfSigned('leaf');
  const ca = selfSigned('ca');
  assert.deepEqual(chainFromResponse({ certChain: [`junk\n${leaf}`, ca], crt: 'ignored' }, '/sign'), [leaf, ca]);
  assert.deepEqual(chainFromResponse({ crt: leaf, ca }, '/renew'), [leaf, ca]);
  assert.deepEqual(chainFromResponse({ certChain: [], crt: leaf }, '/rekey'), [leaf]);
});

test('an answer without certificates names the endpoint', () => {
  assert.throws(() => chainFromResponse({}, '/renew'), /the CA answered \/renew without a certificate/);
  assert.throws(() => chainFromResponse({ crt: 'not pem' }, '/sign'), /the CA answered \/sign without a PEM certificate/);
  assert.throws(() => chainFromResponse({ certChain: [42] }, '/rekey'), /\/rekey without a PEM certificate/);
});
