// The console's building blocks without a server: the escaping template, the CSRF token and
// Origin check, who counts as an administrator, the SVG chart, and the config switch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { escapeHtml, href, html } from '../../src/console/html.ts';
import { CsrfTokens, sameOrigin } from '../../src/console/csrf.ts';
import { certificateNames, matchAdmin } from '../../src/console/admins.ts';
import { barChart } from '../../src/console/charts.ts';
import { certificatesPage, certificatePage } from '../../src/console/pages.ts';
import { consoleAddress, consoleSchema } from '../../src/config/console-schema.ts';
import { x509 } from '../../src/pki/x509.ts';

const PAYLOADS = ['<script>alert(1)</script>', '"><img src=x onerror=alert(1)>', "' onmouseover='alert(1)", '`${x}`', '&lt;already&gt;'];

test('html``: every interpolated value is escaped, in text and in attributes; only Html nests raw', () => {
  for (const p of PAYLOADS) {
    const out = html`<a title="${p}" data-x='${p}'>${p}</a>`.text;
    const e = escapeHtml(p);
    assert.doesNotMatch(e, /[<>"'`]/, `${p}: nothing that could end a tag, an attribute or a template`);
    assert.equal(out, `<a title="${e}" data-x='${e}'>${e}</a>`);
  }
  assert.equal(escapeHtml('&<>"\'`'), '&amp;&lt;&gt;&quot;&#39;&#96;');
  assert.equal(html`<b>${html`<i>${'<x>'}</i>`}</b>`.text, '<b><i>&lt;x&gt;</i></b>');
  assert.equal(html`${['<a>', html`<b>`, null, false, undefined, 0]}`.text, '&lt;a&gt;<b>0');
  assert.equal(href('/certificates', { q: '<a b="c">&', after: undefined, empty: '' }), '/certificates?q=%3Ca+b%3D%22c%22%3E%26');
});

test('pages: a certificate\'s subject, SANs, provisioner and PEM reach the page only escaped', () => {
  const evil = PAYLOADS.join(' ');
  const cert = {
    serial: '123', subject: evil, sans: PAYLOADS, notBefore: new Date(0), notAfter: new Date(8.64e15), fingerprint: 'ab', provisioner: evil, pem: evil,
    issuedAt: new Date(), method: 'sign' as const, replaces: null, revokedAt: new Date(), revocationReasonCode: 1, revocationReason: evil,
  };
  const now = new Date();
  const pages = [
    certificatePage({ cert, decoded: [{ label: evil, value: PAYLOADS }], lineage: [cert], now, notice: evil }).text,
    certificatesPage({ search: {}, form: { q: evil, match: 'prefix', serial: evil, provisioner: evil, state: '', sort: 'issued', dir: 'desc' }, provisioners: [evil], page: { certificates: [cert], next: evil }, now }).text,
  ];
  for (const page of pages) {
    assert.doesNotMatch(page, /<script|<img/i);
    for (const p of PAYLOADS.filter((x) => /[<>"'`]/.test(x))) assert.equal(page.includes(p), false, `${p} appears raw`);
    assert.match(page, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/, 'shown as text');
  }
});

test('CSRF tokens: bound to the admin, the action and the target; expire; forgeries fail', () => {
  let now = 1_000_000;
  const t = new CsrfTokens(() => now);
  const token = t.issue('fp-alice', 'revoke', '42');
  assert.equal(t.verify(token, 'fp-alice', 'revoke', '42'), true);
  assert.equal(t.verify(token, 'fp-bob', 'revoke', '42'), false, 'another admin');
  assert.equal(t.verify(token, 'fp-alice', 'revoke', '43'), false, 'another certificate');
  assert.equal(t.verify(token, 'fp-alice', 'other', '42'), false, 'another action');
  assert.equal(t.verify(`${Number(token.split('.')[0]) + 1}.${token.split('.')[1]}`, 'fp-alice', 'revoke', '42'), false, 'a stretched expiry');
  assert.equal(new CsrfTokens(() => now).verify(token, 'fp-alice', 'revoke', '42'), false, 'another process (key)');
  for (const bad of [undefined, '', 'x', `${now}.`, `${now}.${'A'.repeat(43)}`]) assert.equal(t.verify(bad, 'fp-alice', 'revoke', '42'), false);
  now += 15 * 60_000 + 1;
  assert.equal(t.verify(token, 'fp-alice', 'revoke', '42'), false, 'expired');
});

test('sameOrigin: the Origin must be this console, and Sec-Fetch-Site same-origin when sent', () => {
  const host = '127.0.0.1:9443';
  assert.equal(sameOrigin({ host, origin: `https://${host}` }), true);
  assert.equal(sameOrigin({ host, origin: `https://${host}`, 'sec-fetch-site': 'same-origin' }), true);
  assert.equal(sameOrigin({ host, origin: `https://${host}`, 'sec-fetch-site': 'same-site' }), false);
  assert.equal(sameOrigin({ host, origin: `http://${host}` }), false);
  assert.equal(sameOrigin({ host, origin: 'https://evil.example' }), false);
  assert.equal(sameOrigin({ host, origin: 'null' }), false);
  assert.equal(sameOrigin({ host }), false, 'no Origin: refused');
});

async function selfSigned(subject: string, sans: { type: 'dns' | 'email' | 'url' | 'ip'; value: string }[]): Promise<X509Certificate> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await crypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const c = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '0abc', name: subject, notBefore: new Date(), notAfter: new Date(Date.now() + 3600_000), keys, signingAlgorithm: alg,
    extensions: sans.length ? [new x509.SubjectAlternativeNameExtension(sans)] : [],
  });
  return new X509Certificate(Buffer.from(c.rawData));
}

test('admins: matched by common name or any SAN value, exactly', async () => {
  const c = await selfSigned('CN=alice, O=Ops', [{ type: 'dns', value: 'alice.example' }, { type: 'email', value: 'alice@example.com' }, { type: 'url', value: 'spiffe://corp/alice' }, { type: 'ip', value: '10.0.0.7' }]);
  assert.deepEqual(certificateNames(c).sort(), ['10.0.0.7', 'alice', 'alice.example', 'alice@example.com', 'spiffe://corp/alice'].sort());
  for (const name of ['alice', 'alice@example.com', 'spiffe://corp/alice', '10.0.0.7']) assert.equal(matchAdmin(c, ['nobody', name])?.name, name);
  assert.equal(matchAdmin(c, ['Alice', 'alice.example.com', 'CN=alice', 'ops', '']), null);
  const m = matchAdmin(c, ['alice'])!;
  assert.equal(m.serial, String(0xabc));
  assert.equal(m.actor, `alice (certificate ${0xabc})`);
  const tricky = await selfSigned('CN=x', [{ type: 'dns', value: 'a.example' }, { type: 'url', value: 'https://h/p, DNS:admin' }]);
  assert.equal(matchAdmin(tricky, ['admin']), null, 'a SAN cannot smuggle a second name in with ", DNS:"');
});

test('bar chart: plain SVG from numbers, with a scale and a title per bar', () => {
  const days = Array.from({ length: 90 }, (_, i) => ({ day: new Date(Date.UTC(2026, 0, 1) + i * 86_400_000), count: i === 89 ? 7 : i % 10 === 0 ? 2 : 0 }));
  const svg = barChart(days, { title: 'Issued <per> day', className: 'issued', empty: 'none' }).text;
  assert.equal(svg.match(/<rect /g)!.length, 10);
  assert.match(svg, /<title>2026-03-31: 7<\/title>/);
  assert.match(svg, /Issued &lt;per&gt; day — 25 in all/);
  assert.doesNotMatch(svg, /<script|style=|NaN|Infinity/);
  const empty = barChart(days.map((d) => ({ ...d, count: 0 })), { title: 't', className: 'x', empty: 'none issued' }).text;
  assert.doesNotMatch(empty, /<rect |NaN/);
  assert.match(empty, /none issued/);
});

test('config: the console is off by default, on the loopback when enabled, and needs an admin', () => {
  assert.equal(consoleAddress(consoleSchema.parse({})), null);
  assert.equal(consoleAddress(consoleSchema.parse({ enabled: true, admins: ['a'] })), '127.0.0.1:9443');
  assert.equal(consoleAddress(consoleSchema.parse({ address: '[::1]:8443', admins: ['a'] })), '[::1]:8443');
  assert.equal(consoleAddress(consoleSchema.parse({ enabled: false, address: ':8443', admins: ['a'] })), null);
  assert.throws(() => consoleSchema.parse({ enabled: true }), /lists no administrator/);
  assert.throws(() => consoleSchema.parse({ address: 'nope', admins: ['a'] }), /HOST:PORT/);
});
