// The console's one stylesheet, served as a file (/static/console.css) so the CSP needs no
// 'unsafe-inline'. System fonts only: nothing is fetched from anywhere.
export const CONSOLE_CSS = `
:root { --fg: #1d232b; --muted: #5b6673; --line: #d9dee4; --bg: #f6f7f9; --accent: #1f5fbf; --bad: #b3261e; --warn: #9a6400; --ok: #1e7a3c; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; gap: 1.5rem; align-items: center; padding: .6rem 1.5rem; background: #17202b; color: #fff; }
header .brand { font-weight: 700; letter-spacing: .02em; }
header nav a { color: #cfd8e3; text-decoration: none; margin-right: 1rem; }
header nav a[aria-current] { color: #fff; border-bottom: 2px solid #7fb0ff; }
header .who { margin-left: auto; color: #cfd8e3; font-size: .9em; }
main { max-width: 1200px; margin: 0 auto; padding: 1rem 1.5rem 3rem; }
h1 { font-size: 1.5rem; margin: .6rem 0 1rem; }
h2 { font-size: 1.1rem; margin: 1.6rem 0 .6rem; }
a { color: var(--accent); }
footer { color: var(--muted); font-size: .8em; text-align: center; padding: 1rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); gap: 1rem; }
.card { display: block; background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 1rem; text-decoration: none; color: var(--fg); }
.card .value { display: block; font-size: 2rem; font-weight: 700; }
.card .label { color: var(--muted); }
.note { color: var(--muted); font-size: .85em; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(360px, 1fr)); gap: 1rem; margin-top: 1rem; }
.chart { margin: 0; background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: .6rem; }
.chart svg { width: 100%; height: auto; }
.chart .bar { fill: var(--accent); }
.chart.horizon .bar { fill: var(--warn); }
.chart .grid { stroke: var(--line); stroke-width: 1; }
.chart .axis { fill: var(--muted); font-size: 11px; }
.chart figcaption { color: var(--muted); font-size: .85em; margin-top: .3rem; }
table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line); }
th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
thead th { background: #eef1f4; font-weight: 600; }
table.facts th { width: 14rem; color: var(--muted); font-weight: 500; }
td ul { margin: 0; padding-left: 1.1rem; }
.serial { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: .85em; word-break: break-all; }
.sans { color: var(--muted); font-size: .85em; word-break: break-all; }
.empty { color: var(--muted); text-align: center; }
.badge { display: inline-block; padding: .05rem .5rem; border-radius: 999px; font-size: .8em; font-weight: 600; background: #e7ecf2; }
.state-valid { background: #dff3e5; color: var(--ok); }
.state-expiring { background: #fdf0d5; color: var(--warn); }
.state-expired { background: #eceff2; color: var(--muted); }
.state-revoked { background: #fbe1df; color: var(--bad); }
form.search { display: flex; flex-wrap: wrap; gap: .8rem; align-items: end; background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: .8rem; margin-bottom: 1rem; }
form label { display: flex; flex-direction: column; font-size: .85em; color: var(--muted); gap: .2rem; }
form label.confirm { flex-direction: row; align-items: center; color: var(--fg); }
input, select, button { font: inherit; padding: .3rem .5rem; }
button { cursor: pointer; border: 1px solid var(--accent); background: var(--accent); color: #fff; border-radius: 6px; }
a.button { display: inline-block; padding: .3rem .8rem; border-radius: 6px; color: #fff; text-decoration: none; background: var(--accent); }
button.danger, a.button.danger { background: var(--bad); border-color: var(--bad); }
form.revoke { display: flex; flex-direction: column; gap: .8rem; max-width: 32rem; background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 1rem; }
nav.pages { display: flex; gap: 1rem; justify-content: flex-end; margin-top: .6rem; color: var(--muted); }
ol.timeline { list-style: none; padding: 0; border-left: 3px solid var(--line); margin-left: .5rem; }
ol.timeline li { position: relative; padding: .3rem 0 .5rem 1rem; }
ol.timeline li::before { content: ""; position: absolute; left: -8px; top: .65rem; width: 13px; height: 13px; border-radius: 50%; background: var(--line); }
ol.timeline li.current::before { background: var(--accent); }
ol.timeline .when { color: var(--muted); font-size: .85em; margin-right: .5rem; }
ol.timeline .method { font-weight: 600; margin-right: .5rem; }
ol.timeline .until { color: var(--muted); font-size: .85em; }
pre.pem { background: #fff; border: 1px solid var(--line); padding: .8rem; overflow-x: auto; font-size: .8em; }
.notice { background: #dff3e5; border: 1px solid #b9e2c5; padding: .6rem .8rem; border-radius: 6px; }
.error { background: #fbe1df; border: 1px solid #f0b8b3; padding: .6rem .8rem; border-radius: 6px; }
.own { color: var(--muted); font-size: .85em; }
table.claims { border: 0; }
table.claims th, table.claims td { padding: .1rem .4rem; border: 0; font-size: .85em; }
`;
