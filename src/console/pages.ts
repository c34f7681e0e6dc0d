// The console's pages, as functions from plain data to Html. Nothing here reads the ledger or the
// request: server.ts gathers the data, these lay it out. Every value goes through html``.
import type { AuditEvent, CertificatePage, CertificateSearch, InventorySeries, StoredCertificate } from '../ledger/ledger.js';
import type { Claims } from '../authority/claims.js';
import { SCAN_WINDOW } from '../ledger/inventory.js';
import { barChart } from './charts.js';
import { href, html, type Html } from './html.js';

export const REASONS: readonly [number, string][] = [
  [0, 'unspecified'], [1, 'keyCompromise'], [2, 'cACompromise'], [3, 'affiliationChanged'], [4, 'superseded'],
  [5, 'cessationOfOperation'], [6, 'certificateHold'], [9, 'privilegeWithdrawn'], [10, 'aACompromise'],
];

const NAV = [['/', 'Overview'], ['/certificates', 'Certificates'], ['/provisioners', 'Provisioners'], ['/audit', 'Audit events']] as const;

const when = (d: Date | null | undefined) => (d ? d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC') : '—');

function relative(d: Date, now: Date): string {
  const ms = d.getTime() - now.getTime();
  const abs = Math.abs(ms);
  const [n, unit] = abs >= 86_400_000 ? [Math.round(abs / 86_400_000), 'day'] : abs >= 3_600_000 ? [Math.round(abs / 3_600_000), 'hour'] : [Math.max(1, Math.round(abs / 60_000)), 'minute'];
  const s = `${n} ${unit}${n === 1 ? '' : 's'}`;
  return ms >= 0 ? `in ${s}` : `${s} ago`;
}

export type State = 'valid' | 'expiring' | 'expired' | 'revoked' | 'not yet valid';

export function stateOf(c: StoredCertificate, now: Date): State {
  if (c.revokedAt) return 'revoked';
  if (c.notAfter <= now) return 'expired';
  if (c.notBefore > now) return 'not yet valid';
  return c.notAfter.getTime() - now.getTime() <= 7 * 86_400_000 ? 'expiring' : 'valid';
}

const badge = (s: State) => html`<span class="badge state-${s.replace(/ /g, '-')}">${s}</span>`;

export function layout(o: { title: string; active: string; admin: string | null; body: Html; now: Date }): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${o.title} — Stepstone</title>
<link rel="stylesheet" href="/static/console.css">
</head>
<body>
<header>
<span class="brand">Stepstone CA</span>
<nav>${NAV.map(([path, label]) => html`<a href="${path}"${o.active === path ? html` aria-current="page"` : null}>${label}</a>`)}</nav>
${o.admin ? html`<span class="who">signed in as <b>${o.admin}</b></span>` : null}
</header>
<main>
<h1>${o.title}</h1>
${o.body}
</main>
<footer>Rendered ${when(o.now)}. This page runs no script.</footer>
</body>
</html>`;
}

export interface CaFact { label: string; subject: string; notAfter: Date }
export interface CrlFact { number: number; thisUpdate: Date; nextUpdate: Date; entries: number }

export function overviewPage(d: { series: InventorySeries; countedAt: Date; now: Date; ca: CaFact[]; crl: CrlFact | 'disabled' | 'unavailable' }): Html {
  const s = d.series;
  const card = (id: string, label: string, value: number, link: string) =>
    html`<a class="card" id="${id}" href="${link}"><span class="value">${value.toLocaleString('en')}</span><span class="label">${label}</span></a>`;
  const crl = d.crl;
  return html`<section class="cards">
${card('count-valid', 'valid', s.valid, href('/certificates', { state: 'valid' }))}
${card('count-expiring', 'expiring within 7 days', s.expiring7d, href('/certificates', { state: 'expiring', sort: 'expires' }))}
${card('count-revoked', 'revoked (not yet expired)', s.revoked, href('/certificates', { state: 'revoked' }))}
${card('count-issued-today', 'issued today (UTC)', s.issuedToday, href('/certificates'))}
</section>
<p class="note">The counts leave out the CA's own HTTPS certificates; the charts count every certificate. Counted ${when(d.countedAt)}.</p>
<section class="charts">
${barChart(d.series.issuedPerDay, { title: 'Certificates issued per day, last 90 days', className: 'issued', empty: 'none issued' })}
${barChart(d.series.expiringPerDay, { title: 'Unrevoked certificates expiring per day, next 90 days', className: 'horizon', empty: 'none expiring' })}
</section>
<section>
<h2>Certificate authority</h2>
<table class="facts">
<thead><tr><th>Certificate</th><th>Subject</th><th>Expires</th><th></th></tr></thead>
<tbody>${d.ca.map((c) => html`<tr><td>${c.label}</td><td>${c.subject}</td><td>${when(c.notAfter)}</td><td>${relative(c.notAfter, d.now)}</td></tr>`)}</tbody>
</table>
<h2>Certificate revocation list</h2>
${typeof crl === 'string'
    ? html`<p id="crl">${crl === 'disabled' ? 'CRLs are disabled (crl.enabled is false).' : 'The CRL could not be read just now.'}</p>`
    : html`<table class="facts" id="crl"><tbody>
<tr><th>CRL number</th><td id="crl-number">${crl.number}</td></tr>
<tr><th>This update</th><td>${when(crl.thisUpdate)} (${relative(crl.thisUpdate, d.now)})</td></tr>
<tr><th>Next update</th><td>${when(crl.nextUpdate)} (${relative(crl.nextUpdate, d.now)})</td></tr>
<tr><th>Entries</th><td>${crl.entries}</td></tr>
</tbody></table>`}
</section>`;
}

export interface ListView {
  search: Omit<CertificateSearch, 'limit' | 'now' | 'after'>;
  /** What the form shows (the raw inputs). */
  form: { q: string; match: 'prefix' | 'contains'; serial: string; provisioner: string; state: string; sort: string; dir: string; explicitSort?: boolean };
  provisioners: string[];
  page: CertificatePage;
  now: Date;
  /** The cursor this page started at, if not the first. */
  after?: string;
}

export function certificatesPage(v: ListView): Html {
  const f = v.form;
  const base = { q: f.q, match: f.q ? f.match : undefined, serial: f.serial, provisioner: f.provisioner, state: f.state };
  const sortLink = (sort: string, label: string) => {
    const active = f.sort === sort;
    const dir = active ? (f.dir === 'asc' ? 'desc' : 'asc') : sort === 'issued' ? 'desc' : 'asc';
    return html`<a href="${href('/certificates', { ...base, sort, dir })}"${active ? html` class="sorted ${f.dir}"` : null}>${label}${active ? (f.dir === 'asc' ? ' ▲' : ' ▼') : ''}</a>`;
  };
  const option = (value: string, label: string, current: string) => html`<option value="${value}"${value === current ? html` selected` : null}>${label}</option>`;
  return html`<form class="search" method="get" action="/certificates" role="search">
<label>Name <input type="search" name="q" value="${f.q}" maxlength="256" placeholder="common name or SAN"></label>
<label>Match <select name="match">${option('prefix', 'starts with (common name)', f.match)}${option('contains', 'contains (name or SAN)', f.match)}</select></label>
<label>Serial <input type="text" name="serial" value="${f.serial}" maxlength="100" inputmode="numeric" placeholder="decimal or 0x hex"></label>
<label>Provisioner <select name="provisioner">${option('', 'any', f.provisioner)}${v.provisioners.map((p) => option(p, p, f.provisioner))}</select></label>
<label>State <select name="state">${option('', 'any', f.state)}${['valid', 'expiring', 'expired', 'revoked'].map((s) => option(s, s, f.state))}</select></label>
${f.explicitSort ? html`<input type="hidden" name="sort" value="${f.sort}"><input type="hidden" name="dir" value="${f.dir}">` : null}
<button type="submit">Search</button>
</form>
<table class="list" id="certificates">
<thead><tr><th>${sortLink('subject', 'Subject')}</th><th>Serial</th><th>Provisioner</th><th>${sortLink('issued', 'Issued')}</th><th>${sortLink('expires', 'Expires')}</th><th>State</th><th>How</th></tr></thead>
<tbody>
${v.page.certificates.length === 0 ? html`<tr><td colspan="7" class="empty">${v.page.searchedPart ? 'No match yet.' : 'No certificate matches.'}</td></tr>` : null}
${v.page.certificates.map((c) => html`<tr data-serial="${c.serial}">
<td><a href="${href(`/certificates/${c.serial}`)}">${c.subject || '(empty subject)'}</a>${c.sans.length ? html`<div class="sans">${c.sans.join(', ')}</div>` : null}</td>
<td class="serial"><a href="${href(`/certificates/${c.serial}`)}">${c.serial}</a></td>
<td>${c.provisioner ?? '—'}</td><td>${when(c.issuedAt)}</td><td>${when(c.notAfter)}</td><td>${badge(stateOf(c, v.now))}</td><td>${c.method}</td>
</tr>`)}
</tbody>
</table>
<nav class="pages">
${v.after ? html`<a href="${href('/certificates', { ...base, sort: f.sort, dir: f.dir })}">« First page</a>` : null}
${v.page.searchedPart ? html`<span class="note" id="searched-part">A substring search reads ${SCAN_WINDOW.toLocaleString('en')} certificates a page; these are the matches among them.</span>` : null}
${v.page.next ? html`<a rel="next" id="next-page" href="${href('/certificates', { ...base, sort: f.sort, dir: f.dir, after: v.page.next })}">${v.page.searchedPart ? 'Search further »' : 'Next page »'}</a>` : html`<span>End of list</span>`}
</nav>`;
}

export interface CertificateDetail {
  cert: StoredCertificate;
  decoded: { label: string; value: string | string[] }[];
  lineage: StoredCertificate[];
  now: Date;
  notice?: string;
}

export function certificatePage(d: CertificateDetail): Html {
  const c = d.cert;
  const state = stateOf(c, d.now);
  return html`${d.notice ? html`<p class="notice" role="status">${d.notice}</p>` : null}
<section class="status">
<p>Status: ${badge(state)} ${c.revokedAt
    ? html`<span id="revocation">revoked ${when(c.revokedAt)}, reason ${reasonName(c.revocationReasonCode)}${c.revocationReason ? html` — “${c.revocationReason}”` : null}</span>`
    : html`<span>expires ${when(c.notAfter)} (${relative(c.notAfter, d.now)})</span>`}</p>
${c.revokedAt ? null : html`<p><a class="button danger" id="revoke" href="${href(`/certificates/${c.serial}/revoke`)}">Revoke…</a></p>`}
</section>
<section>
<h2>Fields</h2>
<table class="facts" id="fields"><tbody>
${d.decoded.map((f) => html`<tr><th>${f.label}</th><td>${Array.isArray(f.value) ? html`<ul>${f.value.map((x) => html`<li>${x}</li>`)}</ul>` : f.value}</td></tr>`)}
<tr><th>Provisioner</th><td>${c.provisioner ?? '—'}</td></tr>
<tr><th>Recorded</th><td>${when(c.issuedAt)}, by ${c.method}</td></tr>
</tbody></table>
</section>
<section>
<h2>Lineage</h2>
<ol class="timeline" id="lineage">
${d.lineage.map((l) => html`<li class="${l.serial === c.serial ? 'current' : ''}" data-serial="${l.serial}">
<span class="when">${when(l.issuedAt)}</span>
<span class="method">${l.method === 'sign' ? 'issued' : l.method === 'renew' ? 'renewed' : l.method === 'rekey' ? 'rekeyed' : l.method}</span>
${l.serial === c.serial ? html`<b>${l.serial}</b> (this certificate)` : html`<a href="${href(`/certificates/${l.serial}`)}">${l.serial}</a>`}
${badge(stateOf(l, d.now))} <span class="until">valid until ${when(l.notAfter)}</span>
</li>`)}
</ol>
</section>
<section>
<h2>PEM</h2>
<p><a href="${href(`/certificates/${c.serial}/pem`)}" download="${`${c.serial}.crt`}" id="download-pem">Download PEM</a></p>
<pre class="pem">${c.pem}</pre>
</section>`;
}

export function reasonName(code: number | null): string {
  return REASONS.find(([n]) => n === code)?.[1] ?? String(code);
}

export function revokeConfirmPage(d: { cert: StoredCertificate; csrf: string; now: Date; error?: string }): Html {
  const c = d.cert;
  return html`${d.error ? html`<p class="error" role="alert">${d.error}</p>` : null}
<p>You are about to revoke <b>${c.subject || '(empty subject)'}</b>, serial <b>${c.serial}</b>${c.sans.length ? html` (${c.sans.join(', ')})` : null}.
Relying parties that check the CRL or OCSP will refuse it from now on. This cannot be undone.</p>
<form method="post" action="${href(`/certificates/${c.serial}/revoke`)}" class="revoke">
<input type="hidden" name="csrf" value="${d.csrf}">
<label>Reason <select name="reasonCode">${REASONS.map(([n, name]) => html`<option value="${n}">${name}</option>`)}</select></label>
<label>Note <input type="text" name="reason" maxlength="200" placeholder="why (kept in the ledger and the audit trail)"></label>
<label class="confirm"><input type="checkbox" name="confirm" value="yes" required> I mean to revoke this certificate</label>
<button type="submit" class="danger" id="confirm-revoke">Revoke certificate</button>
<a href="${href(`/certificates/${c.serial}`)}">Cancel</a>
</form>`;
}

export interface ProvisionerView { name: string; type: string; kid: string | null; claims: Claims; own: string[] }

export function provisionersPage(d: { provisioners: ProvisionerView[]; global: Claims }): Html {
  const dur = (ms: number) => (ms % 3_600_000 === 0 ? `${ms / 3_600_000}h` : ms % 60_000 === 0 ? `${ms / 60_000}m` : `${ms / 1000}s`);
  const claims = (c: Claims, own: string[]) => html`<table class="claims"><tbody>
${([
    ['minTLSCertDuration', dur(c.minTLSCertDuration)], ['maxTLSCertDuration', dur(c.maxTLSCertDuration)], ['defaultTLSCertDuration', dur(c.defaultTLSCertDuration)],
    ['disableRenewal', String(c.disableRenewal)], ['allowRenewalAfterExpiry', String(c.allowRenewalAfterExpiry)], ['disableSmallstepExtensions', String(c.disableSmallstepExtensions)],
  ] as const).map(([k, v]) => html`<tr><th>${k}</th><td>${v}${own.includes(k) ? html` <span class="own">(set here)</span>` : null}</td></tr>`)}
</tbody></table>`;
  return html`<table class="list" id="provisioners">
<thead><tr><th>Name</th><th>Type</th><th>Key id</th><th>Effective claims</th><th></th></tr></thead>
<tbody>${d.provisioners.map((p) => html`<tr><td>${p.name}</td><td>${p.type}</td><td class="serial">${p.kid ?? '—'}</td><td>${claims(p.claims, p.own)}</td>
<td><a href="${href('/certificates', { provisioner: p.name })}">certificates</a></td></tr>`)}</tbody>
</table>
<h2>Authority-wide claims</h2>
${claims(d.global, [])}`;
}

export function auditPage(d: { events: AuditEvent[]; next: number | null; type: string; types: readonly string[]; before?: number }): Html {
  const option = (value: string, label: string) => html`<option value="${value}"${value === d.type ? html` selected` : null}>${label}</option>`;
  return html`<form class="search" method="get" action="/audit">
<label>Type <select name="type">${option('', 'any')}${d.types.map((t) => option(t, t))}</select></label>
<button type="submit">Show</button>
</form>
<table class="list" id="events">
<thead><tr><th>#</th><th>Time</th><th>Type</th><th>Who</th><th>What</th><th>Subject / serial</th><th>Outcome</th><th>Reason</th><th>Client</th></tr></thead>
<tbody>
${d.events.length === 0 ? html`<tr><td colspan="9" class="empty">No events.</td></tr>` : null}
${d.events.map((e) => html`<tr class="event-${e.type}">
<td>${e.seq}</td><td>${when(e.time)}</td><td>${e.type}${e.count > 1 ? html` ×${e.count}` : null}</td><td>${e.actor ?? e.provisioner ?? '—'}</td>
<td>${e.provisioner && e.actor ? e.provisioner : ''}</td>
<td>${e.subject ?? ''}${e.serial ? html` <a href="${href(`/certificates/${e.serial}`)}">${e.serial}</a>` : null}</td>
<td>${e.outcome ?? ''}</td><td>${e.reason ?? ''}</td><td>${e.clientAddress ?? ''}</td>
</tr>`)}
</tbody>
</table>
<nav class="pages">
${d.before !== undefined ? html`<a href="${href('/audit', { type: d.type })}">« Newest</a>` : null}
${d.next !== null ? html`<a rel="next" href="${href('/audit', { type: d.type, before: d.next })}">Older »</a>` : html`<span>End of the trail</span>`}
</nav>`;
}

export function messagePage(text: string, detail?: string): Html {
  return html`<p class="error" role="alert">${text}</p>${detail ? html`<p>${detail}</p>` : null}`;
}
