// Bar charts as plain SVG, drawn on the server from numbers only (no script, no library, nothing
// a certificate wrote): a day per bar, a labelled scale, a <title> per bar for the exact count.
import type { DayCount } from '../ledger/ledger.js';
import { html, type Html } from './html.js';

const W = 720;
const H = 180;
const PAD = { left: 44, right: 8, top: 10, bottom: 24 };

/** A round step for the scale: 1, 2 or 5 times a power of ten, giving about four lines. */
function niceStep(max: number): number {
  const raw = Math.max(1, max) / 4;
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw)!;
}

const day = (d: Date) => d.toISOString().slice(0, 10);

export function barChart(days: DayCount[], o: { title: string; className: string; empty: string }): Html {
  const max = Math.max(0, ...days.map((d) => d.count));
  const step = niceStep(max);
  const top = Math.max(step, Math.ceil(max / step) * step);
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const bw = plotW / Math.max(1, days.length);
  const y = (v: number) => PAD.top + plotH - (v / top) * plotH;
  const lines = [];
  for (let v = 0; v <= top; v += step) lines.push(v);
  const total = days.reduce((n, d) => n + d.count, 0);
  return html`<figure class="chart ${o.className}">
<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${o.title}" xmlns="http://www.w3.org/2000/svg">
<title>${o.title}</title>
${lines.map((v) => html`<line class="grid" x1="${PAD.left}" x2="${W - PAD.right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}"/><text class="axis" x="${PAD.left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${v}</text>`)}
${days.map((d, i) => (d.count > 0 ? html`<rect class="bar" x="${(PAD.left + i * bw + 0.5).toFixed(1)}" y="${y(d.count).toFixed(1)}" width="${Math.max(1, bw - 1).toFixed(1)}" height="${(PAD.top + plotH - y(d.count)).toFixed(1)}"><title>${day(d.day)}: ${d.count}</title></rect>` : null))}
${days.length ? html`<text class="axis" x="${PAD.left}" y="${H - 6}">${day(days[0]!.day)}</text><text class="axis" x="${W - PAD.right}" y="${H - 6}" text-anchor="end">${day(days.at(-1)!.day)}</text>` : null}
</svg>
<figcaption>${o.title}${total === 0 ? html` — ${o.empty}` : html` — ${total} in all`}</figcaption>
</figure>`;
}
