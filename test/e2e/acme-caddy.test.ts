// Caddy (Debian's 2.6) with acme_ca pointing at Stepstone's directory and acme_ca_root at our
// root obtains a certificate by itself; curl, trusting only our root, then reaches the site.
// Names resolve as in acme-clients.test.ts: the CA's validator asks a challtestsrv DNS server
// (127.0.0.1 for every name); curl is told the same with --resolve.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { cli, type TestCa } from '../helpers/ca.ts';
import { freePort, missingBinary, run, startAcmeCa, startChallTestSrv, stopChild, type ChallTestSrv } from '../helpers/acme.ts';

const skip = missingBinary('caddy', 'pebble-challtestsrv', 'curl');
let dns: ChallTestSrv | undefined;
let ca: TestCa | undefined;
let caddy: ChildProcess | undefined;
let work = '';

after(async () => {
  if (caddy) await stopChild(caddy);
  await ca?.cleanup();
  await dns?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('caddy obtains a certificate from Stepstone over ACME and serves it', { skip: skip ?? false, timeout: 240_000 }, async () => {
  work = mkdtempSync(join(tmpdir(), 'stepstone-caddy-'));
  dns = await startChallTestSrv();
  const httpPort = await freePort();
  const httpsPort = await freePort();
  const acmeCa = await startAcmeCa({ dnsPort: dns.dnsPort, httpPort, tlsPort: httpsPort });
  ca = acmeCa;
  const name = 'caddy.stepstone.test';
  const caddyfile = join(work, 'Caddyfile');
  writeFileSync(caddyfile, `{
  admin off
  acme_ca ${acmeCa.directory}
  acme_ca_root ${acmeCa.rootFile}
  email caddy@example.com
  http_port ${httpPort}
  https_port ${httpsPort}
  skip_install_trust
  storage file_system ${join(work, 'storage')}
}
${name} {
  bind 127.0.0.1
  respond "hello from caddy over an ACME certificate"
}
`);
  const logs: string[] = [];
  caddy = spawn('caddy', ['run', '--config', caddyfile, '--adapter', 'caddyfile'], { env: { ...process.env, HOME: work, XDG_DATA_HOME: join(work, 'data'), XDG_CONFIG_HOME: join(work, 'config') }, stdio: ['ignore', 'pipe', 'pipe'] });
  for (const s of [caddy.stdout!, caddy.stderr!]) s.on('data', (d) => logs.push(String(d)));
  const end = Date.now() + 180_000;
  let last = { code: -1 as number | null, stdout: '', stderr: '' };
  while (Date.now() < end) {
    last = await run('curl', ['-sS', '--max-time', '5', '--cacert', acmeCa.rootFile, '--resolve', `${name}:${httpsPort}:127.0.0.1`, `https://${name}:${httpsPort}/`]);
    if (last.code === 0) break;
    if (caddy.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  assert.equal(last.code, 0, `curl never got through: ${last.stderr}\ncaddy:\n${logs.join('').slice(-4000)}`);
  assert.equal(last.stdout, 'hello from caddy over an ACME certificate');
  const rows = JSON.parse(cli(['ledger', 'list', '--home', acmeCa.home, '--provisioner', 'acme', '--json']).stdout) as { sans: string[] }[];
  assert.ok(rows.some((r) => r.sans.includes(name)), 'the ledger holds the certificate caddy serves');
});
