// The shipped Prometheus rules and Grafana dashboard: promtool checks and tests the rules (a
// test for every alert), the dashboard is held to Grafana's dashboard schema, every PromQL
// expression in either parses (promtool) and names only metrics Stepstone exports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { Metrics } from '../../src/observe/metrics.ts';
import { REPO } from '../helpers/ca.ts';
import { metricNames } from '../helpers/prometheus.ts';

const RULES = join(REPO, 'config', 'prometheus', 'stepstone.rules.yml');
const RULE_TESTS = join(REPO, 'config', 'prometheus', 'stepstone.rules.test.yml');
const DASHBOARD = join(REPO, 'config', 'grafana', 'stepstone.json');

function promtool(args: string[], input?: string) {
  const r = spawnSync('promtool', args, { encoding: 'utf8', input });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    // CI installs it (.ci/run); nowhere may this test pass without running it.
    throw new Error('promtool not found: install the Debian package "prometheus"');
  }
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** Metric names a running Stepstone exports (histograms with their series suffixes), plus what Prometheus adds. */
async function exported(): Promise<Set<string>> {
  const m = new Metrics({ crlRenewPeriodSeconds: 1 });
  const names = new Set<string>(['up']);
  for (const metric of await m.registry.getMetricsAsJSON()) {
    names.add(metric.name);
    // prom-client's types say a numeric enum; the JSON it returns names the type.
    if (String(metric.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(`${metric.name}${s}`);
  }
  return names;
}

/** Alert and record names, and every expression, from the rules file (a flat, known layout). */
function readRules(text: string): { alerts: string[]; records: string[]; exprs: string[] } {
  const alerts = [...text.matchAll(/^\s+- alert: (\S+)$/gm)].map((m) => m[1]!);
  const records = [...text.matchAll(/^\s+- record: (\S+)$/gm)].map((m) => m[1]!);
  const exprs: string[] = [];
  for (const m of text.matchAll(/^(\s+)expr: (\|\n((?:\1 {2}.*\n)+)|.*)$/gm)) exprs.push(m[3] ? m[3].trim() : m[2]!);
  return { alerts, records, exprs };
}

test('the rules pass promtool check rules and promtool test rules, with a test for every alert', () => {
  const check = promtool(['check', 'rules', RULES]);
  assert.equal(check.status, 0, check.out);
  const tests = promtool(['test', 'rules', RULE_TESTS]);
  assert.equal(tests.status, 0, tests.out);
  assert.match(tests.out, /SUCCESS/);
  const { alerts } = readRules(readFileSync(RULES, 'utf8'));
  assert.ok(alerts.length >= 8, alerts.join(', '));
  const tested = new Set([...readFileSync(RULE_TESTS, 'utf8').matchAll(/alertname: (\S+)/g)].map((m) => m[1]!));
  for (const a of alerts) assert.ok(tested.has(a), `alert ${a} has no test in ${RULE_TESTS}`);
  for (const wanted of ['StepstoneIntermediateExpiringSoon', 'StepstoneRootExpiringSoon', 'StepstoneCertificatesExpiringUnrenewed', 'StepstoneErrorBudgetBurn',
    'StepstoneLatencyBudgetBurn', 'StepstoneCrlStale', 'StepstoneReplicaDown']) assert.ok(alerts.includes(wanted), wanted);
});

test('every metric the rules use is one Stepstone exports', async () => {
  const names = await exported();
  const { records, exprs } = readRules(readFileSync(RULES, 'utf8'));
  assert.ok(exprs.length === records.length + readRules(readFileSync(RULES, 'utf8')).alerts.length);
  for (const r of records) names.add(r);
  for (const e of exprs) for (const n of metricNames(e)) if (/^(stepstone|up$|process_|nodejs_)/.test(n)) assert.ok(names.has(n), `rules use ${n}, which is not exported`);
});

// Grafana's dashboard model (kind "dashboard", schema 0.0, grafana/grafana kinds/dashboard),
// for the fields this dashboard uses: required where Grafana requires them, typed as it types them.
const gridPos = z.object({ h: z.number().int().positive(), w: z.number().int().min(1).max(24), x: z.number().int().min(0).max(23), y: z.number().int().min(0) }).strict();
const dsRef = z.object({ type: z.literal('prometheus'), uid: z.string().min(1) }).strict();
const target = z.object({ refId: z.string().min(1), expr: z.string().min(1), datasource: dsRef, legendFormat: z.string().optional(), instant: z.boolean().optional() }).strict();
const thresholds = z.object({ mode: z.enum(['absolute', 'percentage']), steps: z.array(z.object({ color: z.string(), value: z.number().nullable() }).strict()).min(1) }).strict();
const fieldConfig = z.object({
  defaults: z.object({ unit: z.string().optional(), decimals: z.number().int().optional(), thresholds: thresholds.optional() }).strict(),
  overrides: z.array(z.object({ matcher: z.object({ id: z.string(), options: z.unknown() }).strict(), properties: z.array(z.object({ id: z.string(), value: z.unknown() }).strict()) }).strict()),
}).strict();
const panel = z.discriminatedUnion('type', [
  z.object({ id: z.number().int().positive(), type: z.literal('row'), title: z.string(), collapsed: z.boolean(), gridPos, panels: z.array(z.unknown()) }).strict(),
  z.object({
    id: z.number().int().positive(), type: z.enum(['timeseries', 'stat']), title: z.string().min(1), description: z.string().optional(), datasource: dsRef, gridPos,
    targets: z.array(target).min(1), fieldConfig, options: z.record(z.string(), z.unknown()),
  }).strict(),
]);
const dashboardSchema = z.object({
  __requires: z.array(z.object({ type: z.string(), id: z.string(), name: z.string(), version: z.string() }).strict()).optional(),
  annotations: z.object({ list: z.array(z.unknown()) }).strict(),
  description: z.string().optional(),
  editable: z.boolean(),
  graphTooltip: z.union([z.literal(0), z.literal(1), z.literal(2)]),
  links: z.array(z.unknown()),
  panels: z.array(panel).min(1),
  refresh: z.string().regex(/^\d+[smhd]$/),
  schemaVersion: z.number().int().min(36).max(65535),
  tags: z.array(z.string()),
  templating: z.object({ list: z.array(z.object({ name: z.string().regex(/^\w+$/), type: z.enum(['datasource', 'query', 'custom', 'interval']) }).passthrough()) }).strict(),
  time: z.object({ from: z.string(), to: z.string() }).strict(),
  timepicker: z.object({}).passthrough(),
  timezone: z.string(),
  title: z.string().min(1),
  uid: z.string().regex(/^[a-zA-Z0-9_-]{8,40}$/),
  version: z.number().int(),
}).strict();

test('the Grafana dashboard fits the dashboard schema, its layout is sound, and every query parses and names exported metrics', async () => {
  const dash = dashboardSchema.parse(JSON.parse(readFileSync(DASHBOARD, 'utf8')));
  const vars = new Set(dash.templating.list.map((v) => v.name));
  const ids = dash.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  // No panel sticks out of the 24 columns, and none overlaps another.
  const cells = new Set<string>();
  for (const p of dash.panels) {
    assert.ok(p.gridPos.x + p.gridPos.w <= 24, `${p.title} is wider than the grid`);
    for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
      for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
        assert.ok(!cells.has(`${x},${y}`), `${p.title} overlaps another panel at ${x},${y}`);
        cells.add(`${x},${y}`);
      }
    }
  }
  const names = await exported();
  for (const r of readRules(readFileSync(RULES, 'utf8')).records) names.add(r);
  const exprs: string[] = [];
  for (const p of dash.panels) {
    if (p.type === 'row') continue;
    const refIds = p.targets.map((t) => t.refId);
    assert.equal(new Set(refIds).size, refIds.length, `${p.title}: refIds are unique`);
    for (const ds of [p.datasource, ...p.targets.map((t) => t.datasource)]) assert.ok(vars.has(ds.uid.replace(/^\$\{(\w+)\}$/, '$1')), `${p.title}: datasource ${ds.uid} is no variable`);
    for (const t of p.targets) {
      for (const v of t.expr.matchAll(/\$(\w+)/g)) assert.ok(v[1] === '__rate_interval' || vars.has(v[1]!), `${p.title}: $${v[1]} is not defined`);
      for (const n of metricNames(t.expr)) if (/^(stepstone|up$|process_|nodejs_)/.test(n)) assert.ok(names.has(n), `${p.title}: ${n} is not exported`);
      exprs.push(t.expr.replace(/\$__rate_interval/g, '5m').replace(/\$(\w+)/g, '.*'));
    }
  }
  for (const want of ['stepstone_issuances_total', 'stepstone_http_request_duration_seconds_bucket', 'stepstone_refusals_total', 'stepstone_ca_certificate_not_after_seconds', 'stepstone_crl_age_seconds']) {
    assert.ok(exprs.some((e) => e.includes(want)), `the dashboard shows ${want}`);
  }
  // promtool has no bare PromQL parser: each query becomes a recording rule it must accept.
  const dir = mkdtempSync(join(tmpdir(), 'stepstone-dash-'));
  try {
    const file = join(dir, 'queries.yml');
    writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${exprs.map((e, i) => `      - record: dashboard:query_${i}\n        expr: ${JSON.stringify(e)}\n`).join('')}`);
    const r = promtool(['check', 'rules', file]);
    assert.equal(r.status, 0, r.out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
