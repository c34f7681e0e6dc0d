// `ca revoke`, `ca crl` and the `ledger` tools against a real CA process, checked with the real
// openssl and curl binaries. One CA for the file; the tests run in order and build on each other
// (what is revoked early is what the CRL and `ledger list --revoked` must show later).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, request, startTestCa, type TestCa } from '../helpers/ca.ts';
import { mintToken, opensslCsr, provisionerKey } from '../helpers/tokens.ts';
import { verifyCrl } from '../../src/client/crl.ts';
import { parseCertificates } from '../../src/pki/pem.ts';

let ca: TestCa;
let work: string;
let home: string;
/** Root then intermediate: what openssl needs to check a CRL signed by the intermediate. */
let bundle: string;

interface Issued { crt: string; key: string; serial: string }

const serialOf = (pem: string) => BigInt(`0x${new X509Certificate(pem).serialNumber}`).toString();
/** The serial as openssl prints it: upper-case hex, an even number of digits. */
const hex = (decimal: string) => {
  const h = BigInt(decimal).toString(16).toUpperCase();
  return h.length % 2 ? `0${h}` : h;
};
const errLines = (s: string) => s.trim().split('\n');

/** The CLI to completion, stderr captured whatever the exit status (cli() drops it on success). */
function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Exit 1 with one line on stderr that carries the CA's message. */
function failsWith(r: { status: number | null; stderr: string }, message: RegExp): void {
  assert.equal(r.status, 1, r.stderr);
  assert.equal(errLines(r.stderr).length, 1, r.stderr);
  assert.match(r.stderr, /^error: /);
  assert.match(r.stderr, message);
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const ledgerJson = (...args: string[]) => {
  const r = cli(['ledger', ...args, '--home', ca.home, '--json']);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
};

let n = 0;
/** A certificate from `stepstone ca certificate`. */
function issue(cn: string, extra: string[] = []): Issued {
  const dir = mkdtempSync(join(work, `c${n++}-`));
  const crt = join(dir, 'site.crt');
  const key = join(dir, 'site.key');
  const r = cli(['ca', 'certificate', cn, crt, key, '--home', home, '--provisioner', 'admin', '--password-file', ca.passwordFile, ...extra]);
  assert.equal(r.status, 0, r.stderr);
  return { crt, key, serial: serialOf(readFileSync(crt, 'utf8')) };
}

/** A certificate through POST /sign with a hand-minted token and an openssl CSR. */
async function signed(cn: string): Promise<Issued> {
  const { csrPem, keyPem } = opensslCsr(cn, [cn]);
  const p = await provisionerKey(ca.configPath, ca.password);
  const ott = await mintToken(p, { aud: `${ca.url}/1.0/sign`, sub: cn, sans: [cn], sha: ca.fingerprint });
  const res = await request(ca, 'POST', '/sign', { csr: csrPem, ott });
  assert.equal(res.status, 201, res.body);
  const dir = mkdtempSync(join(work, `s${n++}-`));
  const crt = join(dir, 'site.crt');
  const key = join(dir, 'site.key');
  writeFileSync(crt, (res.json.certChain as string[]).join(''));
  writeFileSync(key, keyPem, { mode: 0o600 });
  return { crt, key, serial: serialOf(res.json.crt) };
}

const revoke = (args: string[]) => cli(['ca', 'revoke', ...args, '--home', home]);
const byPassword = ['--provisioner', 'admin', '--password-file'];

let a: Issued; // revoked by provisioner token, keyCompromise
let b: Issued; // revoked over mTLS, superseded
let c: Issued; // never revoked; target of the mismatched token
let d: Issued; // renewed with curl
let short: Issued; // 30-minute certificate
let renewed: string;
let crlFile: string;

before(async () => {
  ca = await startTestCa();
  work = mkdtempSync(join(tmpdir(), 'stepstone-revoke-'));
  home = join(work, 'home');
  const r = cli(['ca', 'bootstrap', '--ca-url', ca.url, '--fingerprint', ca.fingerprint, '--home', home]);
  assert.equal(r.status, 0, r.stderr);
  bundle = join(work, 'bundle.pem');
  writeFileSync(bundle, ca.rootPem + readFileSync(join(ca.home, 'certs', 'intermediate_ca.crt'), 'utf8'));
  a = issue('a.example');
  b = issue('b.example');
  c = await signed('c.example');
  d = await signed('d.example');
  short = issue('short.example', ['--not-after', '30m']);
});

after(async () => {
  await ca?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('ca revoke SERIAL with the provisioner password: 200, and the ledger records it with its reason', () => {
  const r = revoke([a.serial, ...byPassword, ca.passwordFile, '--reason-code', 'keyCompromise', '--reason', 'laptop stolen']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`Serial Number ${a.serial} has been revoked`));
  const rec = ledgerJson('show', a.serial);
  assert.equal(rec.serial, a.serial);
  assert.equal(rec.revoked, true);
  assert.equal(rec.revocationReasonCode, 1);
  assert.equal(rec.revocationReasonName, 'keyCompromise');
  assert.equal(rec.revocationReason, 'laptop stolen');
  assert.ok(Date.parse(rec.revokedAt) <= Date.now());
});

test('revoking the same serial again (here in 0x-hex, step\'s alias flags) exits 1 with the CA\'s "already revoked"', () => {
  const r = revoke([`0x${hex(a.serial)}`, '--issuer', 'admin', '--provisioner-password-file', ca.passwordFile]);
  failsWith(r, new RegExp(escape(`certificate with serial number '${a.serial}' is already revoked`)));
});

test('a revoke token for another serial is refused by the CA (403) and nothing is revoked', () => {
  const tok = cli(['ca', 'token', d.serial, '--revoke', '--home', home, ...byPassword, ca.passwordFile]);
  assert.equal(tok.status, 0, tok.stderr);
  const r = revoke([c.serial, '--token', tok.stdout.trim()]);
  failsWith(r, new RegExp(escape(`request serial number "${c.serial}" and token subject "${d.serial}" do not match`)));
  assert.equal(ledgerJson('show', c.serial).revoked, false);
  assert.equal(ledgerJson('show', d.serial).revoked, false);
});

test('a serial the CA never issued exits 1 with the CA\'s message', () => {
  failsWith(revoke(['12345', ...byPassword, ca.passwordFile]), /12345|not found/i);
});

test('bad usage exits 2 with one line: no credentials, two kinds, a bad reason, a bad serial', () => {
  for (const args of [[c.serial], [c.serial, '--token', 'x.y.z', ...byPassword, ca.passwordFile], [c.serial, '--cert', c.crt],
    [c.serial, ...byPassword, ca.passwordFile, '--reason-code', 'bored'], [c.serial, ...byPassword, ca.passwordFile, '--reason-code', '11'],
    ['12ab', ...byPassword, ca.passwordFile], [...byPassword, ca.passwordFile]]) {
    const r = revoke(args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(errLines(r.stderr).length, 1, r.stderr);
  }
});

test('ca revoke --cert --key revokes over mTLS, taking the serial from the certificate', () => {
  const other = revoke([c.serial, '--cert', b.crt, '--key', b.key]);
  assert.equal(other.status, 2, 'a SERIAL that is not the certificate\'s is refused before asking the CA');
  const r = revoke(['--cert', b.crt, '--key', b.key, '--reasonCode', '4']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`${b.serial} has been revoked \\(superseded\\)`));
  const rec = ledgerJson('show', b.serial);
  assert.equal(rec.revoked, true);
  assert.equal(rec.revocationReasonCode, 4);
});

test('ledger list --revoked --json shows exactly the revoked certificates', () => {
  const list = ledgerJson('list', '--revoked');
  assert.deepEqual(list.map((r: { serial: string }) => r.serial).sort(), [a.serial, b.serial].sort());
  assert.ok(list.every((r: { revoked: boolean; pem?: string }) => r.revoked && r.pem === undefined));
  const table = cli(['ledger', 'list', '--revoked', '--home', ca.home]);
  assert.equal(table.status, 0, table.stderr);
  assert.match(table.stdout, /^SERIAL\s+SUBJECT\s+SANS\s+NOT AFTER\s+PROVISIONER\s+METHOD\s+REVOKED\n/);
  assert.equal(table.stdout.trim().split('\n').length, 3);
  assert.match(table.stdout, /keyCompromise/);
});

test('ca crl --out writes a DER CRL that openssl verifies and that lists the revoked serials with their reasons', () => {
  const out = crlFile = join(work, 'ca.crl');
  const r = cli(['ca', 'crl', '--out', out, '--home', home]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /2 revoked certificates/);
  assert.equal(statSync(out).mode & 0o777, 0o644);
  const o = spawnSync('openssl', ['crl', '-in', out, '-inform', 'DER', '-CAfile', bundle, '-noout', '-text'], { encoding: 'utf8' });
  assert.equal(o.status, 0, o.stderr);
  assert.match(o.stderr + o.stdout, /verify OK/);
  const entry = (serial: string) => new RegExp(`Serial Number: ${hex(serial)}\\s+Revocation Date: [^\\n]+\\s+CRL entry extensions:\\s+X509v3 CRL Reason Code:\\s+(.+)`).exec(o.stdout)?.[1]?.trim();
  assert.equal(entry(a.serial), 'Key Compromise', o.stdout);
  assert.equal(entry(b.serial), 'Superseded', o.stdout);
  assert.doesNotMatch(o.stdout, new RegExp(`Serial Number: ${hex(c.serial)}\\b`));

  const again = cli(['ca', 'crl', '--out', out, '--home', home]);
  assert.equal(again.status, 1, 'an existing --out is not overwritten without --force');
  const pem = cli(['ca', 'crl', '--home', home]);
  assert.equal(pem.status, 0, pem.stderr);
  assert.match(pem.stdout, /^-----BEGIN X509 CRL-----\n[\s\S]+\n-----END X509 CRL-----\n$/);
});

test('the CRL checks refuse a bad signature, another root, a stale or future CRL, an issuer not among the intermediates', async () => {
  const der = new Uint8Array(readFileSync(crlFile));
  const roots = parseCertificates(ca.rootPem);
  const inter = parseCertificates(readFileSync(join(ca.home, 'certs', 'intermediate_ca.crt'), 'utf8'));
  const ok = await verifyCrl(der, inter, roots);
  assert.equal(ok.entries, 2);
  assert.equal(ok.issuer.subject, inter[0]!.subject);

  const forged = der.slice();
  forged[forged.length - 1]! ^= 0x01;
  await assert.rejects(verifyCrl(forged, inter, roots), /signature does not verify/);

  const dir = mkdtempSync(join(work, 'other-root-'));
  spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'k'), '-out', join(dir, 'c'),
    '-subj', '/CN=Other Root', '-days', '1'], { stdio: 'pipe' });
  const otherRoot = parseCertificates(readFileSync(join(dir, 'c'), 'utf8'));
  await assert.rejects(verifyCrl(der, inter, otherRoot), /does not chain to the trusted root/);
  await assert.rejects(verifyCrl(der, [], roots), /none of the CA's intermediates/);
  await assert.rejects(verifyCrl(der, inter, roots, new Date(ok.nextUpdate.getTime() + 1000)), /stale/);
  await assert.rejects(verifyCrl(der, inter, roots, new Date(ok.thisUpdate.getTime() - 5 * 60_000)), /not valid/);
  await assert.rejects(verifyCrl(der.slice(0, 20), inter, roots), /not a DER CRL/);
});

test('ledger list --expiring: 48h holds every live certificate, 1h only the short one, 1m none', () => {
  const all = ledgerJson('list').map((r: { serial: string }) => r.serial);
  for (const x of [a, b, c, d, short]) assert.ok(all.includes(x.serial));
  assert.deepEqual(ledgerJson('list', '--expiring', '48h').map((r: { serial: string }) => r.serial), all);
  assert.deepEqual(ledgerJson('list', '--expiring', '1h').map((r: { serial: string }) => r.serial), [short.serial]);
  assert.deepEqual(ledgerJson('list', '--expiring', '1m'), []);
  assert.deepEqual(ledgerJson('list', '--provisioner', 'admin', '--limit', '2').map((r: { serial: string }) => r.serial), [a.serial, b.serial]);
});

test('ledger show of a certificate renewed with curl shows its lineage, the asked-for entry marked', () => {
  const res = spawnSync('curl', ['-sS', '--cacert', ca.rootFile, '--cert', d.crt, '--key', d.key, '-X', 'POST', '-H', 'content-type: application/json',
    `${ca.url}/renew`], { encoding: 'utf8' });
  assert.equal(res.status, 0, res.stderr);
  renewed = serialOf(JSON.parse(res.stdout).crt);
  const show = ledgerJson('show', renewed);
  assert.equal(show.method, 'renew');
  assert.equal(show.replaces, d.serial);
  assert.match(show.pem, /^-----BEGIN CERTIFICATE-----/);
  assert.deepEqual(show.lineage.map((l: { serial: string; selected: boolean }) => [l.serial, l.selected]), [[d.serial, false], [renewed, true]]);
  const old = ledgerJson('show', `0x${hex(d.serial)}`);
  assert.deepEqual(old.lineage.map((l: { serial: string; selected: boolean }) => [l.serial, l.selected]), [[d.serial, true], [renewed, false]]);
  const text = cli(['ledger', 'show', renewed, '--home', ca.home]);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, new RegExp(`\\n\\s+\\*\\s+${renewed}\\s+renew\\s`));
  assert.match(text.stdout, new RegExp(`\\n\\s+${d.serial}\\s+sign\\s`));
});

test('ledger export --format pem|json: every certificate, or the filtered ones', () => {
  const count = ledgerJson('list').length;
  const pem = cli(['ledger', 'export', '--format', 'pem', '--home', ca.home]);
  assert.equal(pem.status, 0, pem.stderr);
  assert.equal(pem.stdout.match(/-----BEGIN CERTIFICATE-----/g)?.length, count);
  const certs = pem.stdout.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n/g)!.map((p) => serialOf(p));
  assert.ok(certs.includes(renewed));
  const out = join(work, 'revoked.pem');
  const r = cli(['ledger', 'export', '--revoked', '--out', out, '--home', ca.home]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(readFileSync(out, 'utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n/g)!.map((p) => serialOf(p)).sort(),
    [a.serial, b.serial].sort());
  const json = cli(['ledger', 'export', '--format', 'json', '--expiring', '1h', '--home', ca.home]);
  assert.equal(json.status, 0, json.stderr);
  const recs = JSON.parse(json.stdout);
  assert.deepEqual(recs.map((x: { serial: string }) => x.serial), [short.serial]);
  assert.equal(recs[0].pem, readFileSync(short.crt, 'utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n/)![0]);
});

test('ledger tools: an unknown serial exits 1, a home without a CA exits 1, bad flags exit 2', () => {
  assert.equal(cli(['ledger', 'show', '12345', '--home', ca.home]).status, 1);
  const none = cli(['ledger', 'list', '--home', join(work, 'nothing')]);
  assert.equal(none.status, 1);
  assert.match(none.stderr, /no ledger at/);
  assert.equal(cli(['ledger', 'list', '--expiring', 'soon', '--home', ca.home]).status, 2);
  assert.equal(cli(['ledger', 'list', '--limit', '-1', '--home', ca.home]).status, 2);
  assert.equal(cli(['ledger', 'export', '--format', 'der', '--home', ca.home]).status, 2);
});
