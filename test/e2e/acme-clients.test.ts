// Real ACME clients against a real Stepstone: certbot (standalone http-01; manual dns-01 with
// hooks) and lego (http-01, tls-alpn-01, dns-01 through exec) obtain, renew and revoke.
// How the identifiers resolve: ca.json's stepstone.acme.validation.resolver points the CA's
// validator at a pebble-challtestsrv DNS server answering 127.0.0.1 for every name (and the TXT
// records the hooks set); validation.httpPort/tlsPort are the ports the clients listen on, as
// --http-01-port / --http.port / --tls.port tell them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { X509Certificate } from 'node:crypto';
import { cli, request, type TestCa } from '../helpers/ca.ts';
import { freePort, missingBinary, run, startAcmeCa, startChallTestSrv, type ChallTestSrv } from '../helpers/acme.ts';
import { x509 } from '../../src/pki/x509.ts';

const skip = missingBinary('certbot', 'lego', 'pebble-challtestsrv');
let dns: ChallTestSrv;
let ca: TestCa & { directory: string };
let httpPort = 0;
let tlsPort = 0;
let work = '';

before(async () => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), 'stepstone-acme-clients-'));
  dns = await startChallTestSrv();
  httpPort = await freePort();
  tlsPort = await freePort();
  ca = await startAcmeCa({ dnsPort: dns.dnsPort, httpPort, tlsPort });
});

after(async () => {
  await ca?.cleanup();
  await dns?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

function ledgerRows(): { serial: string; provisioner: string; sans: string[]; revokedAt: string | null }[] {
  const r = cli(['ledger', 'list', '--home', ca.home, '--json']);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

function serialOf(pem: string): string {
  return BigInt(`0x${new X509Certificate(pem).serialNumber}`).toString(10);
}

async function crlSerials(): Promise<string[]> {
  const r = await new Promise<Buffer>((resolve, reject) => {
    import('node:https').then(({ default: https }) => {
      https.get(`${ca.url}/crl`, { ca: ca.rootPem }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve(Buffer.concat(chunks)));
      }).on('error', reject);
    });
  });
  const crl = new x509.X509Crl(new Uint8Array(r));
  return crl.entries.map((e) => BigInt(`0x${e.serialNumber}`).toString(10));
}

async function eventually(what: string, fn: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) assert.fail(`never: ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function checkIssued(pem: string, name: string): string {
  const cert = new X509Certificate(pem);
  assert.match(cert.subjectAltName ?? '', new RegExp(`DNS:${name.replace(/[.*]/g, '\\$&')}`));
  const serial = serialOf(pem);
  const row = ledgerRows().find((r) => r.serial === serial);
  assert.ok(row, `certificate ${serial} is in the ledger`);
  assert.equal(row.provisioner, 'acme');
  return serial;
}

function certbotArgs(dir: string): string[] {
  return ['--non-interactive', '--config-dir', join(dir, 'etc'), '--work-dir', join(dir, 'work'), '--logs-dir', join(dir, 'logs')];
}

test('certbot: certonly --standalone (http-01), renew --force-renewal, revoke', { skip: skip ?? false, timeout: 300_000 }, async () => {
  const dir = join(work, 'certbot');
  const env = { REQUESTS_CA_BUNDLE: ca.rootFile };
  const name = 'certbot.stepstone.test';
  const obtain = await run('certbot', ['certonly', '--standalone', '--agree-tos', '--register-unsafely-without-email', '--server', ca.directory,
    '-d', name, '--http-01-port', String(httpPort), '--http-01-address', '127.0.0.1', ...certbotArgs(dir)], env);
  assert.equal(obtain.code, 0, `${obtain.stdout}\n${obtain.stderr}`);
  const live = join(dir, 'etc', 'live', name);
  const first = readFileSync(join(live, 'cert.pem'), 'utf8');
  const firstSerial = checkIssued(first, name);
  // The chain certbot stored verifies to our root.
  const chain = readFileSync(join(live, 'chain.pem'), 'utf8');
  assert.ok(new X509Certificate(first).verify(new X509Certificate(chain).publicKey));

  const renew = await run('certbot', ['renew', '--force-renewal', '--no-random-sleep-on-renew', ...certbotArgs(dir)], env);
  assert.equal(renew.code, 0, `${renew.stdout}\n${renew.stderr}`);
  const second = readFileSync(join(live, 'cert.pem'), 'utf8');
  const secondSerial = checkIssued(second, name);
  assert.notEqual(secondSerial, firstSerial);

  const revoke = await run('certbot', ['revoke', '--cert-name', name, '--reason', 'keycompromise', '--no-delete-after-revoke', ...certbotArgs(dir)], env);
  assert.equal(revoke.code, 0, `${revoke.stdout}\n${revoke.stderr}`);
  assert.ok(ledgerRows().find((r) => r.serial === secondSerial)?.revokedAt, 'revoked in the ledger');
  await eventually('the CRL lists the revoked certificate', async () => (await crlSerials()).includes(secondSerial));
});

test('certbot: --manual dns-01 with hooks against challtestsrv DNS', { skip: skip ?? false, timeout: 300_000 }, async () => {
  const dir = join(work, 'certbot-dns');
  const hook = join(work, 'certbot-auth-hook.sh');
  writeFileSync(hook, `#!/bin/sh\nexec curl -sf -d "{\\"host\\":\\"_acme-challenge.$CERTBOT_DOMAIN.\\",\\"value\\":\\"$CERTBOT_VALIDATION\\"}" http://127.0.0.1:${dns.mgmtPort}/set-txt\n`);
  chmodSync(hook, 0o755);
  const name = 'dns.stepstone.test';
  const r = await run('certbot', ['certonly', '--manual', '--preferred-challenges', 'dns', '--manual-auth-hook', hook, '--agree-tos', '--register-unsafely-without-email',
    '--server', ca.directory, '-d', name, '-d', `*.${name}`, ...certbotArgs(dir)], { REQUESTS_CA_BUNDLE: ca.rootFile });
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  const pem = readFileSync(join(dir, 'etc', 'live', name, 'cert.pem'), 'utf8');
  checkIssued(pem, `*.${name}`);
});

function legoArgs(dir: string, name: string, ...solver: string[]): string[] {
  return ['--server', ca.directory, '--email', 'lego@example.com', '--accept-tos', '--domains', name, ...solver, '--path', dir];
}

function legoCert(dir: string, name: string): string {
  return readFileSync(join(dir, 'certificates', `${name.replace('*', '_')}.crt`), 'utf8');
}

test('lego: run, renew and revoke over http-01', { skip: skip ?? false, timeout: 300_000 }, async () => {
  const dir = join(work, 'lego-http');
  const env = { LEGO_CA_CERTIFICATES: ca.rootFile };
  const name = 'lego.stepstone.test';
  const solver = ['--http', '--http.port', `127.0.0.1:${httpPort}`];
  const r1 = await run('lego', [...legoArgs(dir, name, ...solver), 'run'], env);
  assert.equal(r1.code, 0, r1.stderr);
  const s1 = checkIssued(legoCert(dir, name), name);
  // --days beyond the certificate's lifetime: renew now.
  const r2 = await run('lego', [...legoArgs(dir, name, ...solver), 'renew', '--days', '3650', '--no-random-sleep'], env);
  assert.equal(r2.code, 0, r2.stderr);
  const s2 = checkIssued(legoCert(dir, name), name);
  assert.notEqual(s2, s1);
  const r3 = await run('lego', [...legoArgs(dir, name, ...solver), 'revoke', '--keep'], env);
  assert.equal(r3.code, 0, r3.stderr);
  assert.ok(ledgerRows().find((r) => r.serial === s2)?.revokedAt);
});

test('lego: tls-alpn-01', { skip: skip ?? false, timeout: 300_000 }, async () => {
  const dir = join(work, 'lego-tls');
  const name = 'alpn.stepstone.test';
  const r = await run('lego', [...legoArgs(dir, name, '--tls', '--tls.port', `127.0.0.1:${tlsPort}`), 'run'], { LEGO_CA_CERTIFICATES: ca.rootFile });
  assert.equal(r.code, 0, r.stderr);
  checkIssued(legoCert(dir, name), name);
});

test('lego: dns-01 (exec provider writing to challtestsrv), wildcard', { skip: skip ?? false, timeout: 300_000 }, async () => {
  const dir = join(work, 'lego-dns');
  const script = join(work, 'lego-exec.sh');
  // lego calls: script present|cleanup <fqdn> <value>
  writeFileSync(script, `#!/bin/sh\nif [ "$1" = present ]; then exec curl -sf -d "{\\"host\\":\\"$2\\",\\"value\\":\\"$3\\"}" http://127.0.0.1:${dns.mgmtPort}/set-txt; fi\nexit 0\n`);
  chmodSync(script, 0o755);
  const name = '*.wild.stepstone.test';
  const r = await run('lego', [...legoArgs(dir, name, '--dns', 'exec', '--dns.resolvers', `127.0.0.1:${dns.dnsPort}`, '--dns.disable-cp'), 'run'],
    { LEGO_CA_CERTIFICATES: ca.rootFile, EXEC_PATH: script, EXEC_PROPAGATION_TIMEOUT: '10', EXEC_POLLING_INTERVAL: '1' });
  assert.equal(r.code, 0, r.stderr);
  checkIssued(legoCert(dir, name), name);
});

test('the directory is also served under /1.0, and names the ACME resources', { skip: skip ?? false }, async () => {
  for (const path of ['/acme/acme/directory', '/1.0/acme/acme/directory']) {
    const r = await request(ca, 'GET', path);
    assert.equal(r.status, 200);
    for (const k of ['newNonce', 'newAccount', 'newOrder', 'revokeCert', 'keyChange']) assert.match(r.json[k], /^https:\/\//);
  }
  const missing = await request(ca, 'GET', '/acme/nope/directory');
  assert.equal(missing.status, 404);
  assert.match(String(missing.headers['content-type']), /^application\/problem\+json/);
});
