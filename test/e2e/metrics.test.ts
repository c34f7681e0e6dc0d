// Prometheus metrics end to end: a real CA with metricsAddress over mTLS, real traffic (sign,
// renew, rekey, revoke, refusals, OCSP through openssl, the CRL), then the counters read back
// from a real scrape, which `promtool check metrics` must accept.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate, randomBytes } from 'node:crypto';
import https from 'node:https';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request, startTestCa, type TestCa } from '../helpers/ca.ts';
import { mintToken, opensslCsr, provisionerKey, type ProvisionerKey } from '../helpers/tokens.ts';
import { waitForLog } from '../helpers/logs.ts';
import { parseScrape, sample } from '../helpers/prometheus.ts';

let ca: TestCa;
let prov: ProvisionerKey;
let work: string;
let metricsPort: number;
let scraper: { cert: string; key: string; serial: string };
let revokedScraper: { cert: string; key: string; serial: string };
const PER_IP = 40;

before(async () => {
  ca = await startTestCa({
    configure: (c) => {
      c.metricsAddress = '127.0.0.1:0';
      c.stepstone = { ...c.stepstone, metrics: { mtls: true, statsInterval: '1s' }, rateLimit: { perIp: { max: PER_IP, window: '1m' } } };
    },
  });
  prov = await provisionerKey(ca.configPath, ca.password);
  work = mkdtempSync(join(tmpdir(), 'stepstone-metrics-e2e-'));
  metricsPort = Number((await waitForLog(ca.logs, /"metricsAddress":"127\.0\.0\.1:(\d+)"/, 10_000))[1]);
  scraper = await issue('prometheus.internal');
  revokedScraper = await issue('revoked-scraper.internal');
  const ott = await mintToken(prov, { aud: `${ca.url}/1.0/revoke`, sub: revokedScraper.serial, sans: undefined });
  assert.equal((await request(ca, 'POST', '/revoke', { serial: revokedScraper.serial, ott, reasonCode: 4 })).status, 200);
});
after(async () => {
  await ca?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

async function issue(cn: string): Promise<{ cert: string; key: string; serial: string; ca: string }> {
  const { csrPem, keyPem } = opensslCsr(cn, [cn]);
  const r = await request(ca, 'POST', '/sign', { csr: csrPem, ott: await mintToken(prov, { aud: `${ca.url}/1.0/sign`, sub: cn, sans: [cn] }) });
  assert.equal(r.status, 201, r.body);
  return { cert: r.json.crt, key: keyPem, ca: r.json.ca, serial: BigInt(`0x${new X509Certificate(r.json.crt).serialNumber}`).toString() };
}

function scrape(client?: { cert: string; key: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const identity = client ? { cert: client.cert, key: client.key } : {};
    const req = https.get({ host: '127.0.0.1', port: metricsPort, path: '/metrics', ca: ca.rootPem, servername: 'localhost', agent: false, ...identity }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

test('traffic of every kind shows up in the counters, and promtool accepts the scrape', async () => {
  // Sign: three issued. A token used twice and a forged one: refused, with their reasons.
  const issued = [await issue('a.internal'), await issue('b.internal'), await issue('c.internal')];
  const { csrPem } = opensslCsr('d.internal', ['d.internal']);
  const ott = await mintToken(prov, { aud: `${ca.url}/1.0/sign`, sub: 'd.internal', sans: ['d.internal'] });
  assert.equal((await request(ca, 'POST', '/sign', { csr: csrPem, ott })).status, 201);
  assert.equal((await request(ca, 'POST', '/sign', { csr: csrPem, ott })).status, 401);
  const forged = `${ott.slice(0, -8)}AAAAAAAA`;
  assert.equal((await request(ca, 'POST', '/sign', { csr: csrPem, ott: forged })).status, 401);

  // Renew and rekey over mTLS; revoke one by token; renewing the revoked one is refused.
  const mtls = { cert: `${issued[0]!.cert}${issued[0]!.ca}`, key: issued[0]!.key };
  assert.equal((await request(ca, 'POST', '/renew', undefined, mtls)).status, 201);
  const rekeyCsr = opensslCsr('b.internal', ['b.internal']).csrPem;
  assert.equal((await request(ca, 'POST', '/rekey', { csr: rekeyCsr }, { cert: issued[1]!.cert, key: issued[1]!.key })).status, 201);
  const revokeOtt = await mintToken(prov, { aud: `${ca.url}/1.0/revoke`, sub: issued[2]!.serial, sans: undefined });
  assert.equal((await request(ca, 'POST', '/revoke', { serial: issued[2]!.serial, ott: revokeOtt, reasonCode: 1 })).status, 200);
  assert.equal((await request(ca, 'POST', '/renew', undefined, { cert: issued[2]!.cert, key: issued[2]!.key })).status, 401);

  // OCSP through openssl: good, revoked, unknown. The CRL.
  const inter = join(work, 'inter.pem');
  writeFileSync(inter, issued[0]!.ca);
  const cert = (i: number) => { const f = join(work, `c${i}.pem`); writeFileSync(f, issued[i]!.cert); return f; };
  const never = `0x${randomBytes(16).toString('hex').replace(/^[89a-f]/, '1')}`;
  const o = spawnSync('openssl', ['ocsp', '-issuer', inter, '-cert', cert(1), '-cert', cert(2), '-serial', never, '-url', `${ca.url}/ocsp`, '-CAfile', ca.rootFile], { encoding: 'utf8' });
  assert.equal(o.status, 0, o.stderr);
  assert.match(o.stdout, /good[\s\S]*revoked[\s\S]*unknown/);
  assert.equal((await request(ca, 'POST', '/ocsp', undefined, { raw: 'not DER', headers: { 'content-type': 'application/ocsp-request' } })).status, 200);
  const crl = await request(ca, 'GET', '/crl');
  assert.equal(crl.status, 200);

  // The per-IP limit at the door, last: everything after it from this address is refused.
  let limited = 0;
  for (let i = 0; i < PER_IP && !limited; i++) if ((await request(ca, 'GET', '/health')).status === 429) limited++;
  assert.equal(limited, 1, 'the per-IP limit was never reached');

  // The ledger gauges are recounted every second here; wait for a count that includes the revocation.
  let m = parseScrape('');
  const deadline = Date.now() + 10_000;
  for (;;) {
    const s = await scrape(scraper);
    assert.equal(s.status, 200, s.body);
    m = parseScrape(s.body);
    if (sample(m, 'stepstone_certificates', { state: 'revoked' }) === 2 || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const body = (await scrape(scraper)).body;
  const check = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
  assert.equal(check.status, 0, `promtool check metrics: ${check.stdout}${check.stderr}`);

  const v = (name: string, labels: Record<string, string> = {}) => sample(m, name, labels);
  assert.equal(v('stepstone_issuances_total', { provisioner: 'admin', method: 'sign', outcome: 'issued' }), 6); // two scrapers, a, b, c, d
  assert.equal(v('stepstone_issuances_total', { provisioner: 'admin', method: 'renew', outcome: 'issued' }), 1);
  assert.equal(v('stepstone_issuances_total', { provisioner: 'admin', method: 'rekey', outcome: 'issued' }), 1);
  assert.equal(v('stepstone_issuances_total', { provisioner: 'admin', method: 'sign', outcome: 'refused' }), 1); // the spent token, after it verified
  assert.equal(v('stepstone_issuances_total', { provisioner: 'none', method: 'sign', outcome: 'refused' }), 1); // the forged one: no provisioner is named
  assert.equal(v('stepstone_refusals_total', { operation: 'sign', reason: 'token_used' }), 1);
  assert.equal(v('stepstone_refusals_total', { operation: 'sign', reason: 'token_invalid' }), 1);
  assert.equal(v('stepstone_refusals_total', { operation: 'renew', reason: 'certificate_invalid' }), 1);
  assert.equal(v('stepstone_refusals_total', { operation: 'request', reason: 'rate_limited' }), 1);
  assert.equal(v('stepstone_revocations_total', { credential: 'token' }), 2);
  assert.equal(v('stepstone_ocsp_responses_total', { status: 'good' }), 1);
  assert.equal(v('stepstone_ocsp_responses_total', { status: 'revoked' }), 1);
  assert.equal(v('stepstone_ocsp_responses_total', { status: 'unknown' }), 1);
  assert.equal(v('stepstone_ocsp_responses_total', { status: 'malformed_request' }), 1);
  assert.equal(v('stepstone_http_request_duration_seconds_count', { route: '/sign', method: 'POST', status_class: '2xx' }), 6);
  assert.equal(v('stepstone_http_request_duration_seconds_count', { route: '/sign', method: 'POST', status_class: '4xx' }), 2);
  assert.equal(v('stepstone_http_request_duration_seconds_count', { route: '/crl', method: 'GET', status_class: '2xx' }), 1);
  assert.ok(v('stepstone_ledger_commit_batch_size_count') >= 8, 'every issuance went through a group commit');
  // From the ledger: 8 certificates (6 signed, a renewal, a rekey; the CA's serving one apart), 2 revoked.
  assert.equal(v('stepstone_certificates', { state: 'revoked' }), 2);
  assert.equal(v('stepstone_certificates', { state: 'valid' }), 6);
  assert.equal(v('stepstone_certificates', { state: 'expiring_7d' }), 6);
  assert.equal(v('stepstone_certificates', { state: 'expiring_unrenewed' }), 0);
  assert.ok(v('stepstone_ledger_size_bytes') > 0);
  // The CA's own certificates and the CRL.
  const now = Date.now() / 1000;
  assert.ok(v('stepstone_ca_certificate_not_after_seconds', { role: 'root' }) > now + 300 * 86400);
  assert.ok(v('stepstone_ca_certificate_not_after_seconds', { role: 'intermediate' }) > now + 300 * 86400);
  assert.ok(Math.abs(v('stepstone_ca_certificate_not_after_seconds', { role: 'serving' }) - (now + 86400)) < 120);
  assert.ok(v('stepstone_crl_number') >= 2, 'the revocation regenerated the CRL');
  assert.equal(v('stepstone_crl_entries'), 2);
  assert.ok(v('stepstone_crl_age_seconds') >= 0 && v('stepstone_crl_age_seconds') < 60);
  assert.ok(v('process_cpu_seconds_total') > 0);
  // No label anywhere carries a serial, a subject or an address.
  for (const leak of [...issued.map((c) => c.serial), 'a.internal', '127.0.0.1']) assert.ok(!body.includes(leak), `the scrape leaks ${leak}`);
});

test('the metrics listener wants a client certificate from this CA, not revoked', async () => {
  await assert.rejects(scrape(), /certificate|handshake|socket hang up|ECONNRESET/i);
  // A self-signed certificate: the handshake refuses it.
  const [keyFile, certFile] = [join(work, 'stranger.key'), join(work, 'stranger.crt')];
  const other = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=stranger', '-days', '1', '-keyout', keyFile, '-out', certFile], { encoding: 'utf8' });
  assert.equal(other.status, 0, other.stderr);
  await assert.rejects(scrape({ cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') }));
  assert.equal((await scrape(revokedScraper)).status, 403);
  assert.equal((await scrape(scraper)).status, 200);
});
