// The web console end to end: a real CA process with the console on, Debian's chromium driven by
// playwright-core presenting a real admin client certificate issued by that CA. Overview counts,
// search, lineage after a renewal, revoke from the page (then the ledger, /crl and OCSP agree),
// refusal without an admin certificate, CSRF refusals, and XSS payloads rendered inert.
// Screenshots go to test-output/console/ (git-ignored).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { REPO, request, startTestCa, type TestCa } from '../helpers/ca.ts';
import { mintToken, opensslCsr, provisionerKey, type ProvisionerKey } from '../helpers/tokens.ts';
import { inCi } from '../helpers/capability.ts';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = join(REPO, 'test-output', 'console');
const ADMIN_SAN = 'ops-admin@example.com';
const XSS_CN = `<script>alert("cn")</script>'"><img src=x onerror=alert(1)>`;
// A URI may hold quotes and ampersands unescaped (not < > or "): enough to try breaking out of an attribute.
const XSS_URI = "https://evil.example/x'onmouseover='alert(2)'&amp;y=1";

const missingBrowser = existsSync(CHROMIUM) ? null : `${CHROMIUM} is not installed (apt-get install chromium)`;
if (missingBrowser && inCi()) throw new Error(`CI: ${missingBrowser}`);

let ca: TestCa;
let prov: ProvisionerKey;
let consoleUrl: string;
let browser: Browser;
const work = mkdtempSync(join(tmpdir(), 'console-e2e-'));

interface Issued { crt: string; key: string; serial: string; chain: string; inter: string }

async function issue(sub: string, sans: string[]): Promise<Issued> {
  const { csrPem, keyPem } = opensslCsr('', []);
  const r = await request(ca, 'POST', '/sign', { csr: csrPem, ott: await mintToken(prov, { aud: `${ca.url}/1.0/sign`, sub, sans }) });
  assert.equal(r.status, 201, r.body);
  return { crt: r.json.crt, key: keyPem, chain: r.json.certChain.join(''), inter: r.json.ca, serial: BigInt(`0x${new X509Certificate(r.json.crt).serialNumber}`).toString() };
}

async function renew(c: Issued): Promise<Issued> {
  const r = await request(ca, 'POST', '/renew', undefined, { cert: c.chain, key: c.key });
  assert.equal(r.status, 201, r.body);
  return { ...c, crt: r.json.crt, chain: r.json.certChain.join(''), serial: BigInt(`0x${new X509Certificate(r.json.crt).serialNumber}`).toString() };
}

async function context(who: Issued | null): Promise<BrowserContext> {
  // The server certificate chains to the test CA's root, which chromium does not trust; what is
  // under test here is the client side, so the server certificate's errors are ignored.
  return browser.newContext({
    ignoreHTTPSErrors: true,
    viewport: { width: 1280, height: 900 },
    clientCertificates: who ? [{ origin: consoleUrl, cert: Buffer.from(who.chain), key: Buffer.from(who.key) }] : [],
  });
}

/** A page that fails the test if anything on it ever opens a dialog (an XSS payload running). */
async function open(ctx: BrowserContext): Promise<Page> {
  const page = await ctx.newPage();
  page.on('dialog', (d) => {
    void d.dismiss();
    assert.fail(`a dialog opened: ${d.message()}`);
  });
  return page;
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

let adminCert: Issued;
let bobCert: Issued;

before(async () => {
  if (missingBrowser) return;
  mkdirSync(SHOTS, { recursive: true });
  ca = await startTestCa({
    configure: (c) => {
      c.stepstone.console = { address: '127.0.0.1:0', admins: [ADMIN_SAN, 'carol.example'] };
    },
  });
  const m = ca.logs.map((l) => /"consoleAddress":"127\.0\.0\.1:(\d+)"/.exec(l)).find(Boolean);
  assert.ok(m, `the console logged its address:\n${ca.logs.join('\n')}`);
  consoleUrl = `https://127.0.0.1:${m[1]}`;
  prov = await provisionerKey(ca.configPath, ca.password);
  adminCert = await issue('alice', ['alice.example', ADMIN_SAN]);
  bobCert = await issue('bob.example', ['bob.example']);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
});

after(async () => {
  await browser?.close();
  await ca?.cleanup();
  rmSync(work, { recursive: true, force: true });
});

const skip = missingBrowser ? { skip: missingBrowser } : {};

/** GET/POST to the console from node, with or without a client certificate. */
function consoleRequest(path: string, o: { who?: Issued; method?: string; body?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = https.request(`${consoleUrl}${path}`, {
      method: o.method ?? 'GET', ca: ca.rootPem, cert: o.who?.chain, key: o.who?.key, agent: false, servername: 'localhost',
      headers: { ...(o.body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(Buffer.byteLength(o.body)) } : {}), ...o.headers },
    }, (res) => {
      let b = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (b += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

test('the overview shows the right counts, charts and CRL; headers forbid scripts, framing and caching', skip, async () => {
  const extra = await Promise.all([issue('count-1.example', ['count-1.example']), issue('count-2.example', ['count-2.example'])]);
  assert.equal(extra.length, 2);
  // Independent of the console: what the ledger file says (serving certificates excluded, as the counts do).
  const db = new Database(ca.dbPath, { readonly: true });
  const now = Date.now();
  const want = db.prepare(`SELECT count(*) FILTER (WHERE revoked_at IS NULL) AS valid,
      count(*) FILTER (WHERE revoked_at IS NULL AND not_after <= ?) AS expiring, count(*) FILTER (WHERE revoked_at IS NOT NULL) AS revoked
      FROM certificates WHERE not_after > ? AND method <> 'serving'`).get(now + 7 * 86_400_000, now) as { valid: number; expiring: number; revoked: number };
  const today = db.prepare("SELECT count(*) FROM certificates WHERE issued_at >= ? AND method <> 'serving'").pluck().get(Math.floor(now / 86_400_000) * 86_400_000) as number;
  db.close();
  assert.equal(want.valid, 4, 'alice, bob and two more');
  const ctx = await context(adminCert);
  const page = await open(ctx);
  const res = await page.goto(consoleUrl);
  assert.equal(res?.status(), 200);
  const headers = res!.headers();
  assert.match(headers['content-security-policy']!, /default-src 'none'/);
  assert.match(headers['content-security-policy']!, /frame-ancestors 'none'/);
  assert.doesNotMatch(headers['content-security-policy']!, /script-src|unsafe-inline/);
  assert.equal(headers['cache-control'], 'no-store');
  assert.equal(headers['x-content-type-options'], 'nosniff');
  const count = async (id: string) => Number((await page.locator(`#${id} .value`).textContent())!.replace(/,/g, ''));
  assert.equal(await count('count-valid'), want.valid);
  assert.equal(await count('count-expiring'), want.expiring);
  assert.equal(await count('count-revoked'), want.revoked);
  assert.equal(await count('count-issued-today'), today);
  assert.equal(today, 4);
  assert.equal(await page.locator('figure.chart svg').count(), 2);
  assert.ok(await page.locator('figure.issued rect.bar').count() >= 1, 'today has a bar');
  assert.match((await page.locator('#crl-number').textContent())!, /^\d+$/);
  assert.equal(await page.locator('script').count(), 0);
  assert.equal(await page.getByText('signed in as').textContent(), `signed in as ${ADMIN_SAN}`);
  await shot(page, 'overview');
  await ctx.close();
});

test('search finds a certificate issued in the test; its page shows the lineage after a renewal', skip, async () => {
  const first = await issue('web-42.search.example', ['web-42.search.example', '10.1.2.3']);
  const second = await renew(first);
  const ctx = await context(adminCert);
  const page = await open(ctx);
  await page.goto(`${consoleUrl}/certificates`);
  await page.fill('input[name=q]', 'web-42');
  await page.selectOption('select[name=match]', 'prefix');
  await page.click('form.search button[type=submit]');
  await page.waitForURL(/q=web-42/);
  const rows = page.locator('#certificates tbody tr[data-serial]');
  assert.deepEqual((await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-serial')))).sort(), [first.serial, second.serial].sort(), 'both');
  // Sorted by issue time, newest first, with the column header.
  await page.click('#certificates thead a:has-text("Issued")');
  await page.waitForURL(/sort=issued&dir=desc/);
  assert.deepEqual(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-serial'))), [second.serial, first.serial], 'newest first');
  await shot(page, 'search');
  // A substring of a SAN finds it too; a serial finds exactly it; a state filter excludes it.
  await page.goto(`${consoleUrl}/certificates?q=${encodeURIComponent('42.search')}&match=contains`);
  assert.equal(await rows.count(), 2);
  await page.goto(`${consoleUrl}/certificates?serial=0x${BigInt(first.serial).toString(16)}`);
  assert.deepEqual(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-serial'))), [first.serial]);
  await page.goto(`${consoleUrl}/certificates?q=web-42&state=revoked`);
  assert.equal(await rows.count(), 0);

  await page.goto(`${consoleUrl}/certificates?q=web-42`);
  await page.click(`#certificates tr[data-serial="${first.serial}"] td.serial a`);
  await page.waitForURL(new RegExp(`/certificates/${first.serial}$`));
  const steps = page.locator('#lineage li');
  assert.deepEqual(await steps.evaluateAll((lis) => lis.map((li) => li.getAttribute('data-serial'))), [first.serial, second.serial]);
  assert.match((await steps.nth(1).textContent())!, /renewed/);
  assert.match((await page.locator('#fields').textContent())!, /10\.1\.2\.3/);
  const download = await Promise.all([page.waitForEvent('download'), page.click('#download-pem')]).then(([d]) => d);
  const pemFile = join(work, 'dl.pem');
  await download.saveAs(pemFile);
  assert.equal(new X509Certificate(await import('node:fs').then((fs) => fs.readFileSync(pemFile))).serialNumber.toLowerCase(), BigInt(first.serial).toString(16).padStart(new X509Certificate(first.crt).serialNumber.length, '0').toLowerCase());
  await shot(page, 'certificate-lineage');
  await ctx.close();
});

test('revoke from the page: confirmation, then the ledger, the audit trail, /crl and OCSP say revoked', skip, async () => {
  const target = await issue('revoke-me.example', ['revoke-me.example']);
  const ctx = await context(adminCert);
  const page = await open(ctx);
  await page.goto(`${consoleUrl}/certificates/${target.serial}`);
  await page.click('#revoke');
  await page.waitForURL(/\/revoke$/);
  await page.selectOption('select[name=reasonCode]', '1');
  await page.fill('input[name=reason]', 'laptop stolen');
  await shot(page, 'revoke-confirm');
  // The confirmation box is required: the browser itself will not submit without it.
  await page.check('input[name=confirm]');
  await page.click('#confirm-revoke');
  await page.waitForURL(new RegExp(`/certificates/${target.serial}\\?done=revoked$`));
  assert.match((await page.locator('#revocation').textContent())!, /keyCompromise — “laptop stolen”/);
  assert.equal(await page.locator('#revoke').count(), 0, 'no revoke button on a revoked certificate');
  await shot(page, 'revoked');

  const db = new Database(ca.dbPath, { readonly: true });
  const row = db.prepare('SELECT revoked_at, revocation_reason_code, revocation_reason FROM certificates WHERE serial = ?').get(target.serial) as Record<string, unknown>;
  const events = db.prepare("SELECT type, actor, outcome, reason FROM audit_events WHERE serial = ? AND type IN ('revoked', 'admin') ORDER BY seq").all(target.serial);
  db.close();
  assert.equal(row.revocation_reason_code, 1);
  assert.equal(row.revocation_reason, 'laptop stolen');
  assert.ok(typeof row.revoked_at === 'number');
  const actor = `${ADMIN_SAN} (certificate ${adminCert.serial})`;
  assert.deepEqual(events, [
    { type: 'revoked', actor, outcome: 'admin', reason: '1: laptop stolen' },
    { type: 'admin', actor, outcome: 'revoke', reason: '1: laptop stolen' },
  ]);

  const hex = BigInt(target.serial).toString(16).toUpperCase();
  const crlFile = join(work, 'crl.der');
  let crlText = '';
  for (let i = 0; i < 50 && !crlText.includes(hex); i++) {
    const r = spawnSync('curl', ['-sS', '--cacert', ca.rootFile, '-o', crlFile, `${ca.url}/crl`]);
    assert.equal(r.status, 0, String(r.stderr));
    crlText = spawnSync('openssl', ['crl', '-inform', 'DER', '-in', crlFile, '-noout', '-text'], { encoding: 'utf8' }).stdout;
    if (!crlText.includes(hex)) await new Promise((r) => setTimeout(r, 200));
  }
  assert.match(crlText, new RegExp(`Serial Number: 0*${hex}[\\s\\S]*?Key Compromise`));

  const certFile = join(work, 'target.pem');
  const interFile = join(work, 'inter.pem');
  writeFileSync(certFile, target.crt);
  writeFileSync(interFile, target.inter);
  const ocsp = spawnSync('openssl', ['ocsp', '-issuer', interFile, '-cert', certFile, '-url', `${ca.url}/ocsp`, '-CAfile', ca.rootFile], { encoding: 'utf8' });
  assert.match(ocsp.stdout, /: revoked/, ocsp.stdout + ocsp.stderr);
  assert.match(ocsp.stdout, /Reason: keyCompromise/);

  // The audit page lists the action.
  await page.goto(`${consoleUrl}/audit?type=admin`);
  assert.match((await page.locator('#events tbody').textContent())!, new RegExp(`${ADMIN_SAN}[\\s\\S]*${target.serial}[\\s\\S]*revoke`));
  await shot(page, 'audit');
  await page.goto(`${consoleUrl}/provisioners`);
  assert.match((await page.locator('#provisioners').textContent())!, /admin[\s\S]*JWK[\s\S]*defaultTLSCertDuration24h/);
  await shot(page, 'provisioners');
  await ctx.close();
});

test('no admin certificate, no console: no certificate is refused in the handshake, a non-admin gets 403', skip, async () => {
  await assert.rejects(consoleRequest('/'), (err: NodeJS.ErrnoException) => /certificate required|handshake|ECONNRESET|socket hang up/i.test(`${err.code} ${err.message}`));
  const curl = spawnSync('curl', ['-sS', '--cacert', ca.rootFile, '-o', '/dev/null', '-w', '%{http_code}', `${consoleUrl}/`], { encoding: 'utf8' });
  assert.notEqual(curl.status, 0, 'curl without a client certificate fails');
  assert.notEqual(curl.stdout, '200');

  const bob = await consoleRequest('/certificates', { who: bobCert });
  assert.equal(bob.status, 403);
  assert.doesNotMatch(bob.body, /data-serial/);
  const ctx = await context(bobCert);
  const page = await open(ctx);
  const res = await page.goto(`${consoleUrl}/`);
  assert.equal(res?.status(), 403);
  assert.match((await page.locator('h1').textContent())!, /Not an administrator/);
  await shot(page, 'refused-non-admin');
  await ctx.close();

  // An admin whose certificate has been revoked is out at once.
  const carol = await issue('carol.example', ['carol.example']);
  assert.equal((await consoleRequest('/', { who: carol })).status, 200);
  const r = await request(ca, 'POST', '/revoke', { serial: carol.serial, reasonCode: 1, passive: true, ott: await mintToken(prov, { aud: `${ca.url}/1.0/revoke`, sub: carol.serial, sans: undefined }) });
  assert.equal(r.status, 200, r.body);
  const after = await consoleRequest('/', { who: carol });
  assert.equal(after.status, 403);
  assert.match(after.body, /has been revoked/);

  // Without a client certificate the browser gets no page at all.
  const bare = await context(null);
  const p2 = await bare.newPage();
  await assert.rejects(p2.goto(`${consoleUrl}/`));
  await bare.close();
});

test('CSRF: a revoke POST without this console\'s token, or from another origin, changes nothing', skip, async () => {
  const target = await issue('csrf.example', ['csrf.example']);
  const form = await consoleRequest(`/certificates/${target.serial}/revoke`, { who: adminCert });
  assert.equal(form.status, 200);
  const token = /name="csrf" value="([^"]+)"/.exec(form.body)![1]!;
  const post = (body: string, headers: Record<string, string>) => consoleRequest(`/certificates/${target.serial}/revoke`, { who: adminCert, method: 'POST', body, headers });
  const origin = consoleUrl.replace('127.0.0.1', 'localhost');
  const host = new URL(origin).host;
  assert.equal((await post(`csrf=${token}&reasonCode=1&confirm=yes`, { origin: 'https://evil.example', host })).status, 403, 'another origin');
  assert.equal((await post(`csrf=${token}&reasonCode=1&confirm=yes`, { host })).status, 403, 'no Origin at all');
  assert.equal((await post('csrf=1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&reasonCode=1&confirm=yes', { origin, host })).status, 403, 'a forged token');
  assert.equal((await post(`csrf=${token}&reasonCode=1&confirm=yes`, { origin, host, 'sec-fetch-site': 'cross-site' })).status, 403, 'a cross-site fetch');
  // Bob's certificate cannot use alice's token (nor get in at all).
  assert.equal((await consoleRequest(`/certificates/${target.serial}/revoke`, { who: bobCert, method: 'POST', body: `csrf=${token}&reasonCode=1&confirm=yes`, headers: { origin, host } })).status, 403);
  const unconfirmed = await post(`csrf=${token}&reasonCode=1`, { origin, host });
  assert.equal(unconfirmed.status, 400, 'not confirmed: the confirmation page again');
  assert.match(unconfirmed.body, /Tick the box/);
  assert.equal((await post(`csrf=${token}&reasonCode=77&confirm=yes`, { origin, host })).status, 400, 'a reason code outside RFC 5280');
  assert.equal((await request(ca, 'GET', '/health')).status, 200);
  const db = new Database(ca.dbPath, { readonly: true });
  assert.equal(db.prepare('SELECT revoked_at FROM certificates WHERE serial = ?').pluck().get(target.serial), null, 'still not revoked');
  db.close();
  // With the token and the right origin it goes through: the refusals above were the checks, not a broken form.
  const ok = await post(`csrf=${token}&reasonCode=4&confirm=yes`, { origin, host });
  assert.equal(ok.status, 303);
});

test('XSS: a subject and a SAN holding script and quote payloads render as inert text', skip, async () => {
  const evil = await issue(XSS_CN, [XSS_URI, 'xss.example']);
  const ctx = await context(adminCert);
  const page = await open(ctx);
  for (const path of [`/certificates/${evil.serial}`, `/certificates?q=${encodeURIComponent('<script>')}`, '/audit', `/certificates?q=${encodeURIComponent(XSS_CN)}&serial=${encodeURIComponent('"><script>')}`]) {
    const res = await page.goto(`${consoleUrl}${path}`);
    assert.ok(res && res.status() < 500, path);
    assert.equal(await page.locator('script').count(), 0, `${path}: no script element`);
    assert.equal(await page.locator('img').count(), 0, `${path}: no injected element`);
  }
  await page.goto(`${consoleUrl}/certificates/${evil.serial}`);
  assert.equal(await page.locator('h1').textContent(), XSS_CN, 'the payload is shown as text, exactly');
  assert.ok((await page.locator('#fields').textContent())!.includes(XSS_URI), 'the URI is shown as text, exactly');
  assert.equal(await page.locator('[onmouseover]').count(), 0, 'no attribute was injected');
  await page.goto(`${consoleUrl}/certificates?q=${encodeURIComponent('<script>')}&match=contains`);
  assert.equal(await page.locator('#certificates tbody tr[data-serial]').count(), 1);
  assert.equal(await page.inputValue('input[name=q]'), '<script>', 'the search box holds the text as typed');
  await shot(page, 'xss-inert');
  await ctx.close();
});
