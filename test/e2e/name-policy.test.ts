// Name policies on a real CA: /sign refused with step-ca's 403 naming the name and the rule, the
// authority's and a provisioner's policy both applying, the refusal in the audit trail, no token
// spent (the refused token works once the policy allows it), renewal stopped by a policy
// tightened after issuance, a bad rule stopping the start, and offline `certificate sign`.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createProvisionerKey } from '../../src/pki/provisioner-key.ts';
import { cli, request, serve, startTestCa, type TestCa } from '../helpers/ca.ts';
import { mintToken, opensslCsr, provisionerKey, type ProvisionerKey } from '../helpers/tokens.ts';

let ca: TestCa;
let admin: ProvisionerKey;
let ops: ProvisionerKey;
let work: string;
const extra: ChildProcess[] = [];

const AUTHORITY_POLICY = { x509: { allow: { dns: ['*.example.com'], ip: ['10.0.0.0/8'] }, deny: { dns: ['admin.example.com'] } } };

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'stepstone-policy-e2e-'));
  const k = await createProvisionerKey('ops-pw');
  ca = await startTestCa({
    configure: (c) => {
      c.authority.policy = AUTHORITY_POLICY;
      c.authority.provisioners.push({ type: 'JWK', name: 'ops', key: k.publicJwk, encryptedKey: k.encryptedKey, policy: { x509: { deny: { dns: ['db.example.com'] } } } });
    },
  });
  admin = await provisionerKey(ca.configPath, ca.password);
  ops = await provisionerKey(ca.configPath, 'ops-pw', 'ops');
});
after(async () => {
  for (const p of extra) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await ca.cleanup();
  rmSync(work, { recursive: true, force: true });
});

async function sign(p: ProvisionerKey, iss: string, cn: string, sans = [cn], ott?: string) {
  const { csrPem, keyPem } = opensslCsr(cn, sans);
  const token = ott ?? await mintToken(p, { iss, aud: `${ca.url}/1.0/sign`, sub: cn, sans });
  const r = await request(ca, 'POST', '/1.0/sign', { csr: csrPem, ott: token });
  return { ...r, token, keyPem };
}

const usedTokens = () => {
  const db = new Database(ca.dbPath, { readonly: true });
  try { return (db.prepare('SELECT count(*) AS n FROM used_tokens').get() as { n: number }).n; } finally { db.close(); }
};

let refusedToken = '';

test('/sign: allowed names are issued; a denied one is a 403 naming the name and the rule, with no token spent', async () => {
  const ok = await sign(admin, 'admin', 'www.example.com', ['www.example.com', '10.1.2.3']);
  assert.equal(ok.status, 201, ok.body);
  const before = usedTokens();
  const denied = await sign(admin, 'admin', 'admin.example.com');
  assert.equal(denied.status, 403, denied.body);
  assert.deepEqual(denied.json, {
    status: 403,
    message: 'The request was forbidden by the certificate authority: dns name "admin.example.com" not allowed: denied by the authority policy rule x509.deny.dns "admin.example.com".',
  });
  refusedToken = denied.token;
  const outside = await sign(admin, 'admin', 'www.example.org');
  assert.equal(outside.status, 403);
  assert.match(outside.json.message, /dns name "www\.example\.org" not allowed: the authority policy allows it under no x509\.allow\.dns rule/);
  const ip = await sign(admin, 'admin', 'box.example.com', ['box.example.com', '192.168.0.1']);
  assert.equal(ip.status, 403);
  assert.match(ip.json.message, /ip name "192\.168\.0\.1" not allowed/);
  const wildcard = await sign(admin, 'admin', 'w.example.com', ['*.example.com']);
  assert.equal(wildcard.status, 403);
  assert.match(wildcard.json.message, /dns name "\*\.example\.com" not allowed: the authority policy has allowWildcardNames false/);
  assert.equal(usedTokens(), before, 'a refused request spent its token');
});

test('the provisioner\'s policy applies on top of the authority\'s, to its own tokens only', async () => {
  const opsDenied = await sign(ops, 'ops', 'db.example.com');
  assert.equal(opsDenied.status, 403);
  assert.match(opsDenied.json.message, /dns name "db\.example\.com" not allowed: denied by provisioner "ops"'s policy rule x509\.deny\.dns "db\.example\.com"/);
  const adminOk = await sign(admin, 'admin', 'db.example.com');
  assert.equal(adminOk.status, 201, adminOk.body);
  const opsAuthority = await sign(ops, 'ops', 'admin.example.com');
  assert.equal(opsAuthority.status, 403);
  assert.match(opsAuthority.json.message, /the authority policy rule x509\.deny\.dns/);
});

test('a policy refusal is in the audit trail: reason policy, with the names asked for', async () => {
  let refused: any[] = [];
  for (let i = 0; i < 50 && !refused.length; i++) {
    const r = cli(['ledger', 'events', '--home', ca.home, '--json', '--type', 'refused']);
    assert.equal(r.status, 0, r.stderr);
    refused = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((e) => e.reason === 'policy' && e.sans?.includes('admin.example.com'));
    if (!refused.length) await new Promise((res) => setTimeout(res, 100));
  }
  assert.equal(refused.length >= 1, true, 'no refused event with reason policy');
  assert.equal(refused[0].outcome, 'sign');
  assert.equal(refused[0].provisioner, 'admin');
  assert.equal(refused[0].subject, 'admin.example.com');
});

function curlRenew(certFile: string, keyFile: string, url: string): { status: number; json: any } {
  const r = spawnSync('curl', ['-sS', '--cacert', ca.rootFile, '--cert', certFile, '--key', keyFile, '-X', 'POST', '-w', '\n%{http_code}', `${url}/renew`], { encoding: 'utf8' });
  const i = r.stdout.lastIndexOf('\n');
  return { status: Number(r.stdout.slice(i + 1)), json: JSON.parse(r.stdout.slice(0, i) || 'null') };
}

test('a policy changed after issuance: renewal of a now-denied name refused, a now-allowed token accepted', async () => {
  const keep = await sign(admin, 'admin', 'keep.example.com');
  const gone = await sign(admin, 'admin', 'gone.example.com');
  assert.equal(keep.status, 201);
  assert.equal(gone.status, 201);
  const files = (r: typeof keep, name: string) => {
    const crt = join(work, `${name}.crt`);
    const key = join(work, `${name}.key`);
    writeFileSync(crt, r.json.certChain.join(''));
    writeFileSync(key, r.keyPem, { mode: 0o600 });
    return { crt, key };
  };
  const k = files(keep, 'keep');
  const g = files(gone, 'gone');
  // Tighten (deny gone.example.com) and loosen (admin.example.com no longer denied), then restart.
  await ca.stop();
  const cfg = JSON.parse(readFileSync(ca.configPath, 'utf8'));
  cfg.authority.policy = { x509: { ...AUTHORITY_POLICY.x509, deny: { dns: ['gone.example.com'] } } };
  writeFileSync(ca.configPath, JSON.stringify(cfg, null, 2));
  const s = await serve(ca.home, ca.passwordFile, [], 60_000);
  extra.push(s.proc);
  const url = `https://127.0.0.1:${s.port}`;
  const renewedKeep = curlRenew(k.crt, k.key, url);
  assert.equal(renewedKeep.status, 201, JSON.stringify(renewedKeep.json));
  assert.match(new X509Certificate(renewedKeep.json.crt).subjectAltName!, /DNS:keep\.example\.com/);
  const renewedGone = curlRenew(g.crt, g.key, url);
  assert.equal(renewedGone.status, 403);
  assert.match(renewedGone.json.message, /dns name "gone\.example\.com" not allowed: denied by the authority policy rule x509\.deny\.dns "gone\.example\.com"/);
  // The token refused earlier was never spent: now that its name is allowed, it buys its certificate.
  const { csrPem } = opensslCsr('admin.example.com', ['admin.example.com']);
  const reused = await request({ url, rootPem: ca.rootPem }, 'POST', '/1.0/sign', { csr: csrPem, ott: refusedToken });
  assert.equal(reused.status, 201, reused.body);
  s.proc.kill('SIGTERM');
});

test('a bad rule stops the start, naming where it is', () => {
  const cfg = JSON.parse(readFileSync(ca.configPath, 'utf8'));
  cfg.authority.provisioners[1].policy = { x509: { allow: { dns: ['*.*.example.com'] } } };
  const bad = join(ca.home, 'config', 'bad.json');
  writeFileSync(bad, JSON.stringify(cfg));
  const r = cli(['serve', bad, '--password-file', ca.passwordFile, '--address', '127.0.0.1:0']);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /authority\.provisioners\[1\]\.policy\.x509\.allow\.dns: "\*\.\*\.example\.com": "\*" may only stand for the whole first label/);
});

test('offline certificate sign with --ca-config refuses what the CA would refuse', () => {
  const csrFile = join(work, 'db.csr');
  writeFileSync(csrFile, opensslCsr('db.example.com', ['db.example.com']).csrPem);
  const crt = join(ca.home, 'certs', 'intermediate_ca.crt');
  const key = join(ca.home, 'secrets', 'intermediate_ca_key');
  const base = ['certificate', 'sign', csrFile, crt, key, '--password-file', ca.passwordFile, '--ca-config', ca.configPath];
  const authorityOnly = cli(base);
  assert.equal(authorityOnly.status, 0, authorityOnly.stderr);
  assert.match(authorityOnly.stdout, /BEGIN CERTIFICATE/);
  const withOps = cli([...base, '--provisioner', 'ops']);
  assert.equal(withOps.status, 1);
  assert.equal(withOps.stderr.trim().split('\n').length, 1);
  assert.match(withOps.stderr, /db\.csr: dns name "db\.example\.com" not allowed: denied by provisioner "ops"'s policy rule x509\.deny\.dns "db\.example\.com"/);
  const nobody = cli([...base, '--provisioner', 'nobody']);
  assert.match(nobody.stderr, /has no provisioner named "nobody"/);
});
