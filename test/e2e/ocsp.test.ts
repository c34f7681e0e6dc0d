// The OCSP responder end to end: a real CA process, the real `openssl ocsp` client over HTTPS
// (POST, nonce on, response signature verified against the root) and curl for the GET form.
// The tests run in order: the certificate found good first is revoked, then found revoked.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate, randomBytes } from 'node:crypto';
import https from 'node:https';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AsnConvert } from '@peculiar/asn1-schema';
import { OCSPResponse, OCSPResponseStatus } from '@peculiar/asn1-ocsp';
import { request, startTestCa, type TestCa } from '../helpers/ca.ts';
import { mintToken, opensslCsr, provisionerKey, type ProvisionerKey } from '../helpers/tokens.ts';

let ca: TestCa;
let prov: ProvisionerKey;
let work: string;
let inter: string;
let leaf: string;
let serial: string;

const f = (name: string) => join(work, name);
const run = (cmd: string, args: string[]) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { status: r.status ?? -1, out: r.stdout, err: r.stderr };
};

/** `openssl ocsp` against the running CA; -CAfile is the trust for both TLS and the response. */
function ocsp(ids: string[], path = '/ocsp', extra: string[] = []) {
  return run('openssl', ['ocsp', '-issuer', inter, ...ids, '-url', `${ca.url}${path}`, '-CAfile', ca.rootFile, ...extra]);
}

before(async () => {
  ca = await startTestCa();
  prov = await provisionerKey(ca.configPath, ca.password);
  work = mkdtempSync(join(tmpdir(), 'stepstone-ocsp-e2e-'));
  const { csrPem } = opensslCsr('ocsp.example', ['ocsp.example']);
  const ott = await mintToken(prov, { aud: `${ca.url}/1.0/sign`, sub: 'ocsp.example', sans: ['ocsp.example'], sha: ca.fingerprint });
  const res = await request(ca, 'POST', '/sign', { csr: csrPem, ott });
  assert.equal(res.status, 201, res.body);
  leaf = f('leaf.pem');
  inter = f('inter.pem');
  writeFileSync(leaf, res.json.crt);
  writeFileSync(inter, res.json.ca);
  serial = BigInt(`0x${new X509Certificate(res.json.crt).serialNumber}`).toString(10);
});
after(async () => {
  await ca?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('openssl ocsp over https: a freshly signed certificate is good, with nonce, on /ocsp and /1.0/ocsp', () => {
  for (const path of ['/ocsp', '/1.0/ocsp']) {
    const r = ocsp(['-cert', leaf], path);
    assert.equal(r.status, 0, r.err);
    assert.match(r.err, /Response verify OK/);
    assert.doesNotMatch(r.err, /no nonce in response|Nonce Verify error/);
    assert.match(r.out, /leaf\.pem: good\n\tThis Update: .*\n\tNext Update: .*\n/);
  }
});

test('a serial this CA never issued is unknown', () => {
  const never = `0x${randomBytes(16).toString('hex').replace(/^[89a-f]/, '1')}`;
  const r = ocsp(['-serial', never]);
  assert.equal(r.status, 0, r.err);
  assert.match(r.err, /Response verify OK/);
  assert.match(r.out, new RegExp(`${never}: unknown\\n`));
});

test('GET with the URL-encoded base64 request (curl): good, cacheable until nextUpdate, verifies', () => {
  const reqFile = f('get-req.der');
  const mk = run('openssl', ['ocsp', '-issuer', inter, '-cert', leaf, '-no_nonce', '-reqout', reqFile]);
  assert.equal(mk.status, 0, mk.err);
  const b64 = readFileSync(reqFile).toString('base64');
  for (const [what, encoded] of [['standard', encodeURIComponent(b64)], ['base64url', b64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')]]) {
    const respFile = f(`get-${what}.der`);
    const hdrFile = f(`get-${what}.hdr`);
    const c = run('curl', ['-sS', '--cacert', ca.rootFile, '-D', hdrFile, '-o', respFile, `${ca.url}/ocsp/${encoded}`]);
    assert.equal(c.status, 0, c.err);
    const headers = readFileSync(hdrFile, 'utf8');
    assert.match(headers, /^HTTP\/1\.1 200/);
    assert.match(headers, /content-type: application\/ocsp-response\r\n/i);
    const maxAge = Number(/cache-control: max-age=(\d+), public, no-transform, must-revalidate\r\n/i.exec(headers)?.[1]);
    assert.ok(maxAge > 3500 && maxAge <= 3600, `max-age ${maxAge}`);
    const v = run('openssl', ['ocsp', '-respin', respFile, '-issuer', inter, '-cert', leaf, '-CAfile', ca.rootFile, '-no_nonce']);
    assert.equal(v.status, 0, v.err);
    assert.match(v.err, /Response verify OK/);
    assert.match(v.out, /leaf\.pem: good\n/);
  }
});

test('garbage, by POST or GET, is an HTTP 200 malformedRequest OCSP response', async () => {
  const post = await postDer(Buffer.from('not an OCSP request'));
  assert.equal(post.status, 200);
  assert.equal(post.type, 'application/ocsp-response');
  assert.equal(AsnConvert.parse(post.body, OCSPResponse).responseStatus, OCSPResponseStatus.malformedRequest);
  const get = await request(ca, 'GET', '/1.0/ocsp/bm90IERFUg==');
  assert.equal(get.status, 200);
  assert.equal(get.headers['content-type'], 'application/ocsp-response');
});

test('after POST /revoke (keyCompromise), openssl ocsp reports revoked with reason and time', async () => {
  const ott = await mintToken(prov, { aud: `${ca.url}/1.0/revoke`, sub: serial, sha: ca.fingerprint });
  const res = await request(ca, 'POST', '/revoke', { serial, ott, reasonCode: 1, reason: 'key compromise', passive: true });
  assert.equal(res.status, 200, res.body);
  assert.deepEqual(res.json, { status: 'ok' });
  const r = ocsp(['-cert', leaf]);
  assert.equal(r.status, 0, r.err);
  assert.match(r.err, /Response verify OK/);
  assert.doesNotMatch(r.err, /no nonce in response|Nonce Verify error/);
  assert.match(r.out, /leaf\.pem: revoked\n\tThis Update: .*\n\tNext Update: .*\n\tReason: keyCompromise\n\tRevocation Time: .* GMT\n/);
  const revokedAt = new Date(/Revocation Time: (.*)\n/.exec(r.out)![1]!);
  assert.ok(Math.abs(revokedAt.getTime() - Date.now()) < 60_000, `revocation time ${revokedAt.toISOString()}`);
});

test('latency: median of 100 keep-alive POSTs', async (t) => {
  const reqFile = f('bench-req.der');
  assert.equal(run('openssl', ['ocsp', '-issuer', inter, '-cert', leaf, '-nonce', '-reqout', reqFile]).status, 0);
  const der = readFileSync(reqFile);
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const times: number[] = [];
    for (let i = 0; i < 105; i++) {
      const t0 = process.hrtime.bigint();
      const r = await postDer(der, agent);
      if (i >= 5) times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      assert.equal(r.status, 200);
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)]!;
    t.diagnostic(`OCSP POST median ${median.toFixed(2)} ms, p90 ${times[Math.floor(times.length * 0.9)]!.toFixed(2)} ms over ${times.length}`);
    assert.ok(median < 200, `median ${median} ms`);
  } finally {
    agent.destroy();
  }
});

function postDer(body: Buffer, agent: https.Agent | false = false): Promise<{ status: number; type: string | undefined; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = https.request(`${ca.url}/ocsp`, {
      method: 'POST', ca: ca.rootPem, agent,
      headers: { 'content-type': 'application/ocsp-request', 'content-length': body.length },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
