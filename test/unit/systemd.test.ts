// The cert-renewer@ units: what `systemd renewer` writes passes `systemd-analyze verify`, and the
// copies shipped in config/systemd/ are exactly the templates' output (so they cannot drift).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_RENEWER, RENEWER_FILES, execWord, renewerUnits } from '../../src/cli/systemd-units.ts';
import { BIN, REPO, cli } from '../helpers/ca.js';
import { requireCapability } from '../helpers/capability.ts';

const work = mkdtempSync(join(tmpdir(), 'stepstone-systemd-'));
after(() => rmSync(work, { recursive: true, force: true }));

const hasAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;
const needAnalyze = (t: { skip(m?: string): void }) => requireCapability(t, hasAnalyze, 'systemd-analyze is not installed (Debian package systemd)');

/** Runs `systemd-analyze verify` on unit files; warnings count as failures, not just errors. */
function verify(files: string[]): { status: number | null; output: string } {
  const r = spawnSync('systemd-analyze', ['verify', ...files], { encoding: 'utf8', env: { ...process.env, SYSTEMD_LOG_COLOR: '0' } });
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

test('config/systemd holds exactly the templates rendered with the default paths', () => {
  const units = renewerUnits(DEFAULT_RENEWER);
  for (const name of RENEWER_FILES) {
    const file = join(REPO, 'config', 'systemd', name);
    // After changing a template: run this file once with UPDATE_UNITS=1, then review the diff.
    if (process.env.UPDATE_UNITS === '1') writeFileSync(file, units[name], { mode: 0o644 });
    assert.equal(readFileSync(file, 'utf8'), units[name], `${name} differs from its template`);
  }
  const service = units['cert-renewer@.service'];
  assert.match(service, /^Type=oneshot$/m);
  // step's convention: the paths in CERT_LOCATION/KEY_LOCATION, read by the Exec lines, so a
  // smallstep drop-in that sets them moves the files.
  assert.match(service, /^Environment=CERT_LOCATION=\/etc\/stepstone\/certs\/%i\.crt$/m);
  assert.match(service, /^Environment=KEY_LOCATION=\/etc\/stepstone\/certs\/%i\.key$/m);
  assert.match(service, /^ExecCondition=\/usr\/bin\/node \/usr\/local\/bin\/stepstone certificate needs-renewal \$\{CERT_LOCATION\}$/m);
  assert.match(service, /^ExecStart=\/usr\/bin\/node \/usr\/local\/bin\/stepstone ca renew --force \$\{CERT_LOCATION\} \$\{KEY_LOCATION\}$/m);
  assert.match(service, /^ExecStartPost=\/usr\/bin\/systemctl try-reload-or-restart %i\.service$/m);
  assert.match(service, /^PartOf=cert-renewer\.target$/m);
  const timer = units['cert-renewer@.timer'];
  for (const line of ['OnCalendar=*:1/15', 'RandomizedDelaySec=5m', 'AccuracySec=1us', 'Persistent=true', 'PartOf=cert-renewer.target']) {
    assert.ok(timer.split('\n').includes(line), `timer lacks ${line}`);
  }
});

test('the shipped units pass systemd-analyze verify', (t) => {
  if (!needAnalyze(t)) return;
  const files = RENEWER_FILES.map((n) => join(REPO, 'config', 'systemd', n));
  const r = verify(files);
  assert.equal(r.status, 0, r.output);
  assert.equal(r.output, '');
});

test('execWord escapes what systemd would expand or split', () => {
  assert.equal(execWord('/usr/bin/node'), '/usr/bin/node');
  assert.equal(execWord('/a dir/x'), '"/a dir/x"');
  assert.equal(execWord('50%'), '50%%');
  assert.equal(execWord('/c/%i.crt'), '/c/%%i.crt');
  assert.equal(execWord('/c/%i.crt', true), '/c/%i.crt');
  assert.equal(execWord('$HOME'), '$$HOME');
  assert.equal(execWord(`say "hi"\\`), `"say \\"hi\\"\\\\"`);
  assert.equal(execWord(''), '""');
  assert.equal(execWord(';'), '";"');
});

test('`systemd renewer` writes units for this machine that pass systemd-analyze verify, instances too', (t) => {
  if (!needAnalyze(t)) return;
  const out = join(work, 'units');
  const home = join(work, 'step home');
  const r = cli(['systemd', 'renewer', '--output-dir', out, '--home', home, '--cert', join(work, 'certs dir', '%i.crt'), '--key', join(work, 'certs dir', '%i.key'),
    '--ca-url', 'https://ca.internal:9000', '--exec-post', `/bin/echo "renewed %i" 'costs $5'`]);
  assert.equal(r.status, 0, r.stderr);
  for (const name of RENEWER_FILES) assert.equal(statSync(join(out, name)).mode & 0o777, 0o644);
  const service = readFileSync(join(out, 'cert-renewer@.service'), 'utf8');
  const q = (s: string) => `"${s}"`;
  assert.ok(service.includes(`ExecStart=${process.execPath} ${BIN} ca renew --force \${CERT_LOCATION} \${KEY_LOCATION} --ca-url https://ca.internal:9000\n`), service);
  assert.ok(service.includes(`ExecCondition=${process.execPath} ${BIN} certificate needs-renewal \${CERT_LOCATION}\n`), service);
  assert.ok(service.includes(`Environment="STEPPATH=${home}"\n`), service);
  assert.ok(service.includes(`Environment=${q(`CERT_LOCATION=${join(work, 'certs dir', '%i.crt')}`)}\n`), service);
  assert.ok(service.includes(`Environment=${q(`KEY_LOCATION=${join(work, 'certs dir', '%i.key')}`)}\n`), service);
  assert.ok(service.includes('ExecStartPost=/bin/echo "renewed %i" "costs $$5"\n'), service);

  // Verify the templates as they are, and as an instance (the unit systemd actually runs).
  symlinkSync('cert-renewer@.service', join(out, 'cert-renewer@web.service'));
  symlinkSync('cert-renewer@.timer', join(out, 'cert-renewer@web.timer'));
  for (const files of [RENEWER_FILES.map((n) => join(out, n)), ['cert-renewer@web.service', 'cert-renewer@web.timer'].map((n) => join(out, n))]) {
    const v = verify(files);
    assert.equal(v.status, 0, v.output);
    assert.equal(v.output, '', 'no warnings either');
  }

  const again = cli(['systemd', 'renewer', '--output-dir', out]);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /already exists; pass --force/);
});

test('repeated --exec-post: every hook, in the order given, after the reload; the units verify', (t) => {
  if (!needAnalyze(t)) return;
  const out = join(work, 'hooks');
  const hooks = ['/usr/bin/systemctl restart prometheus', `/usr/bin/curl -fsS -X POST "https://grafana.internal/api/admin/provisioning/datasources/reload"`, '/usr/bin/systemctl restart grafana-server'];
  const r = cli(['systemd', 'renewer', '--output-dir', out, ...hooks.flatMap((h) => ['--exec-post', h])]);
  assert.equal(r.status, 0, r.stderr);
  const service = readFileSync(join(out, 'cert-renewer@.service'), 'utf8');
  const posts = [...service.matchAll(/^ExecStartPost=(.+)$/gm)].map((m) => m[1]);
  assert.deepEqual(posts, [
    '/usr/bin/systemctl try-reload-or-restart %i.service',
    '/usr/bin/systemctl restart prometheus',
    '/usr/bin/curl -fsS -X POST https://grafana.internal/api/admin/provisioning/datasources/reload',
    '/usr/bin/systemctl restart grafana-server',
  ]);
  const v = verify(RENEWER_FILES.map((n) => join(out, n)));
  assert.equal(v.status, 0, v.output);
  assert.equal(v.output, '');
  const empty = cli(['systemd', 'renewer', '--output-dir', join(work, 'hooks2'), '--exec-post', 'a', '--exec-post', '  ']);
  assert.equal(empty.status, 2);
  assert.equal(empty.stderr, 'error: --exec-post is empty\n');
});

test('a smallstep-style drop-in setting CERT_LOCATION/KEY_LOCATION verifies with the unit', (t) => {
  if (!needAnalyze(t)) return;
  const out = join(work, 'dropin');
  assert.equal(cli(['systemd', 'renewer', '--output-dir', out]).status, 0);
  symlinkSync('cert-renewer@.service', join(out, 'cert-renewer@web.service'));
  mkdirSync(join(out, 'cert-renewer@web.service.d'));
  // The drop-in from smallstep's "Renewal using systemd timers" guide, paths changed.
  writeFileSync(join(out, 'cert-renewer@web.service.d', 'override.conf'), '[Service]\nEnvironment=STEPPATH=/srv/step \\\n            CERT_LOCATION=/srv/web/tls.crt \\\n            KEY_LOCATION=/srv/web/tls.key\n');
  const v = verify([join(out, 'cert-renewer@web.service')]);
  assert.equal(v.status, 0, v.output);
  assert.equal(v.output, '');
});

test('verify does catch a broken unit (the check above is not vacuous)', (t) => {
  if (!needAnalyze(t)) return;
  const out = join(work, 'broken');
  const r = cli(['systemd', 'renewer', '--output-dir', out, '--systemctl', '/nonexistent/systemctl']);
  assert.equal(r.status, 0, r.stderr);
  const v = verify([join(out, 'cert-renewer@.service')]);
  assert.notEqual(v.status, 0);
  assert.match(v.output, /nonexistent\/systemctl/);
});
