// Conformance: the same certbot and lego flows against Debian's pebble (the ACME reference test
// server) and against Stepstone, side by side. Both validate through one pebble-challtestsrv DNS
// server (every name → 127.0.0.1) on the same challenge ports. The table is printed as a test
// diagnostic (and to $ACME_CONFORMANCE_TABLE when set); Stepstone must pass every flow.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { request, type TestCa } from '../helpers/ca.ts';
import { freePort, missingBinary, run, startAcmeCa, startChallTestSrv, stopChild, type ChallTestSrv } from '../helpers/acme.ts';

const skip = missingBinary('certbot', 'lego', 'pebble', 'pebble-challtestsrv', 'openssl', 'curl');

interface Server { name: string; directory: string; bundle: string }
interface Flow { name: string; run(s: Server, dir: string): Promise<string | null> }

let dns: ChallTestSrv;
let ca: TestCa & { directory: string };
let pebble: ChildProcess;
let work = '';
let httpPort = 0;
let tlsPort = 0;
const servers: Server[] = [];

before(async () => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), 'stepstone-conformance-'));
  dns = await startChallTestSrv();
  httpPort = await freePort();
  tlsPort = await freePort();
  ca = await startAcmeCa({ dnsPort: dns.dnsPort, httpPort, tlsPort });
  // Pebble's own HTTPS listener needs a certificate; a self-signed one the clients are told to trust.
  const cert = join(work, 'pebble.crt');
  const key = join(work, 'pebble.key');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
    '-subj', '/CN=pebble', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-addext', 'basicConstraints=critical,CA:TRUE'], { stdio: 'ignore' });
  const port = await freePort();
  const mgmt = await freePort();
  writeFileSync(join(work, 'pebble.json'), JSON.stringify({ pebble: {
    listenAddress: `127.0.0.1:${port}`, managementListenAddress: `127.0.0.1:${mgmt}`, certificate: cert, privateKey: key,
    httpPort, tlsPort, ocspResponderURL: '', externalAccountBindingRequired: false,
  } }));
  // No random nonce rejections or validation sleeps: the comparison is of behaviour, not luck.
  pebble = spawn('pebble', ['-config', join(work, 'pebble.json'), '-dnsserver', `127.0.0.1:${dns.dnsPort}`], {
    env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0' }, stdio: 'ignore',
  });
  const directory = `https://127.0.0.1:${port}/dir`;
  const end = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await request({ rootPem: readFileSync(cert, 'utf8') }, 'GET', directory)).status === 200) break;
    } catch { /* not up yet */ }
    if (Date.now() > end) throw new Error('pebble did not start');
    await new Promise((r) => setTimeout(r, 250));
  }
  servers.push({ name: 'pebble', directory, bundle: cert }, { name: 'Stepstone', directory: ca.directory, bundle: ca.rootFile });
});

after(async () => {
  if (pebble) await stopChild(pebble);
  await ca?.cleanup();
  await dns?.stop();
  if (work && !process.env.KEEP) rmSync(work, { recursive: true, force: true });
});

const certbot = (dir: string) => ['--non-interactive', '--config-dir', join(dir, 'etc'), '--work-dir', join(dir, 'work'), '--logs-dir', join(dir, 'logs')];
const fail = (r: { code: number | null; stdout: string; stderr: string }) => (r.code === 0 ? null : `exit ${r.code}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
const lego = (s: Server, dir: string, domain: string, ...rest: string[]) => ['--server', s.directory, '--email', 'c@example.com', '--accept-tos', '--domains', domain, ...rest, '--path', dir];

function hookScript(name: string, body: string): string {
  const p = join(work, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, 0o755);
  return p;
}

const flows: Flow[] = [
  {
    name: 'certbot certonly --standalone (http-01)',
    async run(s, dir) {
      return fail(await run('certbot', ['certonly', '--standalone', '--agree-tos', '--register-unsafely-without-email', '--server', s.directory, '-d', 'cb.conf.test',
        '--http-01-port', String(httpPort), '--http-01-address', '127.0.0.1', ...certbot(dir)], { REQUESTS_CA_BUNDLE: s.bundle }));
    },
  },
  {
    name: 'certbot renew --force-renewal',
    async run(s, dir) {
      return fail(await run('certbot', ['renew', '--force-renewal', '--no-random-sleep-on-renew', ...certbot(dir)], { REQUESTS_CA_BUNDLE: s.bundle }));
    },
  },
  {
    name: 'certbot revoke',
    async run(s, dir) {
      return fail(await run('certbot', ['revoke', '--cert-name', 'cb.conf.test', '--no-delete-after-revoke', ...certbot(dir)], { REQUESTS_CA_BUNDLE: s.bundle }));
    },
  },
  {
    name: 'certbot --manual dns-01 (wildcard)',
    async run(s, dir) {
      const hook = hookScript('cb-dns-hook.sh', `exec curl -sf -d "{\\"host\\":\\"_acme-challenge.$CERTBOT_DOMAIN.\\",\\"value\\":\\"$CERTBOT_VALIDATION\\"}" http://127.0.0.1:${dns.mgmtPort}/set-txt`);
      const cleanup = hookScript('cb-dns-cleanup.sh', `exec curl -sf -d "{\\"host\\":\\"_acme-challenge.$CERTBOT_DOMAIN.\\"}" http://127.0.0.1:${dns.mgmtPort}/clear-txt`);
      return fail(await run('certbot', ['certonly', '--manual', '--preferred-challenges', 'dns', '--manual-auth-hook', hook, '--manual-cleanup-hook', cleanup,
        '--agree-tos', '--register-unsafely-without-email', '--server', s.directory, '-d', `*.cbw.conf.test`, ...certbot(join(dir, 'dns'))], { REQUESTS_CA_BUNDLE: s.bundle }));
    },
  },
  {
    name: 'lego run --http',
    async run(s, dir) {
      return fail(await run('lego', [...lego(s, join(dir, 'lego'), 'lg.conf.test', '--http', '--http.port', `127.0.0.1:${httpPort}`), 'run'], { LEGO_CA_CERTIFICATES: s.bundle }));
    },
  },
  {
    name: 'lego renew --http',
    async run(s, dir) {
      return fail(await run('lego', [...lego(s, join(dir, 'lego'), 'lg.conf.test', '--http', '--http.port', `127.0.0.1:${httpPort}`), 'renew', '--days', '3650', '--no-random-sleep'], { LEGO_CA_CERTIFICATES: s.bundle }));
    },
  },
  {
    name: 'lego revoke',
    async run(s, dir) {
      return fail(await run('lego', [...lego(s, join(dir, 'lego'), 'lg.conf.test'), 'revoke', '--keep'], { LEGO_CA_CERTIFICATES: s.bundle }));
    },
  },
  {
    name: 'lego run --tls (tls-alpn-01)',
    async run(s, dir) {
      return fail(await run('lego', [...lego(s, join(dir, 'lego-tls'), 'tls.conf.test', '--tls', '--tls.port', `127.0.0.1:${tlsPort}`), 'run'], { LEGO_CA_CERTIFICATES: s.bundle }));
    },
  },
  {
    name: 'lego run --dns exec (dns-01, wildcard)',
    async run(s, dir) {
      const script = hookScript('lego-exec.sh', `case "$1" in present) exec curl -sf -d "{\\"host\\":\\"$2\\",\\"value\\":\\"$3\\"}" http://127.0.0.1:${dns.mgmtPort}/set-txt;; cleanup) exec curl -sf -d "{\\"host\\":\\"$2\\"}" http://127.0.0.1:${dns.mgmtPort}/clear-txt;; esac`);
      return fail(await run('lego', [...lego(s, join(dir, 'lego-dns'), '*.lgw.conf.test', '--dns', 'exec', '--dns.resolvers', `127.0.0.1:${dns.dnsPort}`, '--dns.disable-cp'), 'run'],
        { LEGO_CA_CERTIFICATES: s.bundle, EXEC_PATH: script, EXEC_PROPAGATION_TIMEOUT: '10', EXEC_POLLING_INTERVAL: '1' }));
    },
  },
];

test('conformance: certbot and lego flows against pebble and Stepstone', { skip: skip ?? false, timeout: 900_000 }, async (t) => {
  const results = new Map<string, Map<string, string | null>>();
  for (const s of servers) {
    const dir = join(work, s.name);
    const row = new Map<string, string | null>();
    results.set(s.name, row);
    for (const f of flows) row.set(f.name, await f.run(s, dir));
  }
  const cell = (v: string | null | undefined) => (v === null ? 'pass' : 'FAIL');
  const lines = ['| flow | pebble | Stepstone |', '|---|---|---|',
    ...flows.map((f) => `| ${f.name} | ${cell(results.get('pebble')!.get(f.name))} | ${cell(results.get('Stepstone')!.get(f.name))} |`)];
  const table = lines.join('\n');
  for (const l of lines) t.diagnostic(l);
  if (process.env.ACME_CONFORMANCE_TABLE) writeFileSync(process.env.ACME_CONFORMANCE_TABLE, `${table}\n`);
  const failures = [...results].flatMap(([server, row]) => [...row].filter(([, v]) => v !== null).map(([flow, v]) => `${server} / ${flow}: ${v}`));
  const ours = failures.filter((f) => f.startsWith('Stepstone'));
  assert.deepEqual(ours, [], failures.join('\n'));
});
