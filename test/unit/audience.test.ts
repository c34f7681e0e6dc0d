// Token audiences (api.md §2.1): https://<dnsName>/[1.0/]op, port ignored on both sides,
// otherwise a plain string compare; the legacy literal for sign and revoke only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allowedAudiences, audienceMatches } from '../../src/provisioners/audience.ts';

const DNS = ['ca.example.com', '127.0.0.1', '::1'];
const sorted = (a: readonly string[]) => [...a].sort();

test('allowedAudiences for sign: four paths per name, IPv6 bracketed, plus the legacy literal', () => {
  assert.deepEqual(sorted(allowedAudiences(DNS, 'sign')), sorted([
    'https://ca.example.com/1.0/sign', 'https://ca.example.com/sign', 'https://ca.example.com/1.0/ssh/sign', 'https://ca.example.com/ssh/sign',
    'https://127.0.0.1/1.0/sign', 'https://127.0.0.1/sign', 'https://127.0.0.1/1.0/ssh/sign', 'https://127.0.0.1/ssh/sign',
    'https://[::1]/1.0/sign', 'https://[::1]/sign', 'https://[::1]/1.0/ssh/sign', 'https://[::1]/ssh/sign',
    'step-certificate-authority',
  ]));
});

test('allowedAudiences for revoke: two paths per name plus the legacy literal', () => {
  assert.deepEqual(sorted(allowedAudiences(DNS, 'revoke')), sorted([
    'https://ca.example.com/1.0/revoke', 'https://ca.example.com/revoke',
    'https://127.0.0.1/1.0/revoke', 'https://127.0.0.1/revoke',
    'https://[::1]/1.0/revoke', 'https://[::1]/revoke',
    'step-certificate-authority',
  ]));
});

test('allowedAudiences for renew: two paths per name and no legacy literal', () => {
  assert.deepEqual(sorted(allowedAudiences(DNS, 'renew')), sorted([
    'https://ca.example.com/1.0/renew', 'https://ca.example.com/renew',
    'https://127.0.0.1/1.0/renew', 'https://127.0.0.1/renew',
    'https://[::1]/1.0/renew', 'https://[::1]/renew',
  ]));
});

const sign = allowedAudiences(DNS, 'sign');
const revoke = allowedAudiences(DNS, 'revoke');
const renew = allowedAudiences(DNS, 'renew');

test('audienceMatches accepts what step-ca accepts for sign', () => {
  const ok = [
    'https://ca.example.com/1.0/sign',
    'https://ca.example.com:9000/1.0/sign', // the CLI's form, with the port
    'https://ca.example.com:443/sign',
    'https://ca.example.com/1.0/ssh/sign',
    'https://ca.example.com:8443/ssh/sign',
    'https://127.0.0.1:29443/1.0/sign',
    'https://[::1]:9000/1.0/sign',
    'https://[::1]/sign',
    'step-certificate-authority',
  ];
  for (const aud of ok) assert.equal(audienceMatches(aud, sign), true, aud);
});

test('audienceMatches takes a string or an array; any one good entry is enough', () => {
  assert.equal(audienceMatches(['https://other.example/1.0/sign', 'https://ca.example.com:9000/1.0/sign'], sign), true);
  assert.equal(audienceMatches(['https://other.example/1.0/sign', 'https://ca.example.com/1.0/revoke'], sign), false);
  assert.equal(audienceMatches([], sign), false);
  assert.equal(audienceMatches(undefined, sign), false);
});

test('audienceMatches ignores the port on the allowed side too', () => {
  assert.equal(audienceMatches('https://ca.example.com/1.0/sign', ['https://ca.example.com:8443/1.0/sign']), true);
  assert.equal(audienceMatches('https://ca.example.com:9000/1.0/sign', ['https://ca.example.com:8443/1.0/sign']), true);
  assert.equal(audienceMatches('https://[::1]/1.0/sign', ['https://[::1]:8443/1.0/sign']), true);
});

test('audienceMatches normalises the URL scheme\'s case, as Go\'s url.Parse does', () => {
  // step-ca compares stripPort(a) == stripPort(b), where stripPort is url.Parse + String();
  // url.Parse lower-cases the scheme, so an upper-case scheme with a port still matches.
  assert.equal(audienceMatches('HTTPS://ca.example.com:9000/1.0/sign', sign), true);
  assert.equal(audienceMatches('Https://ca.example.com/1.0/sign', sign), true);
});

test('audienceMatches refuses near misses', () => {
  const bad = [
    'http://ca.example.com/1.0/sign', // http
    'http://ca.example.com:9000/1.0/sign',
    'https://ca.example.com/1.0/sign/', // trailing slash
    'https://ca.example.com:9000/1.0/sign/',
    'https://ca.example.com/1.0/sign#jwk', // fragment
    'https://ca.example.com:9000/1.0/sign#x',
    'https://CA.EXAMPLE.COM/1.0/sign', // host case
    'https://Ca.example.com:9000/1.0/sign',
    'https://unknown.example.com/1.0/sign', // unknown host
    'https://ca.example.com.evil/1.0/sign',
    'https://ca.example.com/1.0/Sign', // path case
    'https://ca.example.com/2.0/sign',
    'https://ca.example.com/1.0/sign?x=1',
    'https://127.0.0.2/1.0/sign',
    'https://::1/1.0/sign', // an IPv6 host without brackets is not our name
    'ca.example.com/1.0/sign',
    'step-certificate-authority ',
    'Step-Certificate-Authority',
    '',
  ];
  for (const aud of bad) assert.equal(audienceMatches(aud, sign), false, aud);
});

test('audienceMatches ignores non-string entries in an array', () => {
  assert.equal(audienceMatches([42, null, {}] as unknown as string[], sign), false);
  assert.equal(audienceMatches([42, 'https://ca.example.com/1.0/sign'] as unknown as string[], sign), true);
});

test('legacy step-certificate-authority: sign and revoke, not renew', () => {
  assert.equal(audienceMatches('step-certificate-authority', sign), true);
  assert.equal(audienceMatches('step-certificate-authority', revoke), true);
  assert.equal(audienceMatches('step-certificate-authority', renew), false);
});

test('audiences are per operation', () => {
  assert.equal(audienceMatches('https://ca.example.com:9000/1.0/renew', sign), false);
  assert.equal(audienceMatches('https://ca.example.com/renew', sign), false);
  assert.equal(audienceMatches('https://ca.example.com/1.0/revoke', sign), false);
  assert.equal(audienceMatches('https://ca.example.com/1.0/sign', revoke), false);
  assert.equal(audienceMatches('https://ca.example.com/1.0/sign', renew), false);
  assert.equal(audienceMatches('https://ca.example.com/1.0/ssh/sign', revoke), false);
  assert.equal(audienceMatches('https://ca.example.com:9000/1.0/renew', renew), true);
  assert.equal(audienceMatches('https://ca.example.com/renew', renew), true);
  assert.equal(audienceMatches('https://ca.example.com:9000/revoke', revoke), true);
});
