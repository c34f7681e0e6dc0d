// ca.json loading (step-ca's format plus a `stepstone` block) and claims layering (api.md §3.2).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.ts';
import { loadConfigOffThread } from '../../src/config/load-off-thread.ts';
import { acmeProvisionerSettings, consoleAddress, DEFAULT_CONSOLE_ADDRESS } from '../../src/config/defaults.ts';
import { acmeProvisionerSchema } from '../../src/config/acme-schema.ts';
import { resolveClaims } from '../../src/authority/claims.ts';

const root = mkdtempSync(join(tmpdir(), 'stepstone-config-'));
after(() => rmSync(root, { recursive: true, force: true }));

const KEY = { use: 'sig', kty: 'EC', kid: 'MMVcYkqdPm32H66Gvfmc-Nv_lTZA8fC9OBbItZTkZcA', crv: 'P-256', alg: 'ES256',
  x: 'LW_9VwgQDWlZBkzJmOSHKqslVfhpjeVI6O20dWucoIM', y: 'WutyPyDIrnXe1pkuVuVCNUJXj0t2vMGdmvE-7o-nHDY' };

function minimal(): Record<string, any> {
  return {
    root: 'certs/root_ca.crt',
    crt: 'certs/intermediate_ca.crt',
    key: 'secrets/intermediate_ca_key',
    address: ':9000',
    dnsNames: ['ca.example.com', '127.0.0.1'],
    db: { type: 'sqlite', dataSource: 'db/ledger.sqlite' },
    authority: { provisioners: [{ type: 'JWK', name: 'admin', key: { ...KEY } }] },
  };
}

let n = 0;
/** Writes `content` as HOME/config/ca.json in a fresh home and returns its path. */
function write(content: string | object): string {
  const home = join(root, `home-${++n}`);
  mkdirSync(join(home, 'config'), { recursive: true });
  const path = join(home, 'config', 'ca.json');
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return path;
}

function failsWith(path: string, ...fragments: string[]): void {
  assert.throws(() => loadConfig(path), (e: unknown) => {
    assert.ok(e instanceof Error);
    for (const f of fragments) assert.ok(e.message.includes(f), `"${e.message}" should mention ${f}`);
    return true;
  });
}

test('a minimal ca.json loads with the stepstone defaults', () => {
  const path = write(minimal());
  const { config, path: p, resolvePath } = loadConfig(path);
  assert.equal(p, path);
  assert.deepEqual(config.stepstone, {
    maxTokenLifetime: '1h', servingCertDuration: '24h', bodyLimit: 65536, logLevel: 'info',
    crlDistributionPoints: [], ocspServers: [], ocsp: { enabled: true, path: '/ocsp' },
    keyPermissions: 'refuse', requestTimeout: '30s', workers: 1, sessionTickets: true, signatures: 'auto',
    connections: { max: 4096, perAddress: 256, healthReserve: 16, keepAliveTimeout: '5s' },
    rateLimit: { enabled: true, perIp: { max: 6000, window: '1m' }, perProvisioner: { max: 60000, window: '1m' } },
    metrics: { mtls: false, statsInterval: '60s' }, audit: { enabled: true, refusalWindow: '1m', refusalClients: 1000 },
    webhooks: [], notices: { interval: '5m', horizon: '720h' }, console: { admins: [] },
    acme: {
      validation: { concurrency: 8, timeout: '10s', maxResponseBytes: 8192, maxRedirects: 3, httpPort: 80, tlsPort: 443 },
      nonceLifetime: '1h', orderLifetime: '24h', pruneInterval: '10m', maxJwsBytes: 32768,
      rateLimit: { enabled: true, ordersPerAccount: { max: 300, window: '1h' }, requestsPerAddress: { max: 3000, window: '1m' } },
    },
  });
  assert.equal(config.metricsAddress, undefined);
  assert.deepEqual(config.crl, { enabled: true, generateOnRevoke: true, cacheDuration: '24h' });
  assert.deepEqual(config.dnsNames, ['ca.example.com', '127.0.0.1']);
  assert.equal(config.authority.provisioners.length, 1);
  assert.equal(config.authority.provisioners[0]!.name, 'admin');
  assert.deepEqual(config.authority.provisioners[0]!.key, KEY);
  // relative paths are relative to the CA home (HOME/config/ca.json → HOME)
  const home = join(path, '..', '..');
  assert.equal(resolvePath('certs/root_ca.crt'), join(home, 'certs', 'root_ca.crt'));
  assert.equal(resolvePath('/abs/x.crt'), '/abs/x.crt');
});

test('a partial stepstone block keeps the other defaults', () => {
  const { config } = loadConfig(write({ ...minimal(), stepstone: { bodyLimit: 1024 } }));
  assert.equal(config.stepstone.bodyLimit, 1024);
  assert.equal(config.stepstone.maxTokenLifetime, '1h');
  assert.equal(config.stepstone.logLevel, 'info');
});

test('unknown step-ca keys are kept, not refused', () => {
  const { config } = loadConfig(write({ ...minimal(), logger: { format: 'text' }, authority: { ...minimal().authority, enableAdmin: false } }));
  assert.deepEqual((config as Record<string, unknown>).logger, { format: 'text' });
});

test('invalid JSON names the file', () => {
  const path = write('{"root": "x",');
  failsWith(path, path, 'not valid JSON');
});

test('a missing file names the file', () => {
  const path = join(root, 'nope', 'ca.json');
  failsWith(path, path, 'no such file');
});

test('missing dnsNames names the field', () => {
  const c = minimal();
  delete c.dnsNames;
  failsWith(write(c), 'dnsNames');
  failsWith(write({ ...minimal(), dnsNames: [] }), 'dnsNames');
});

test('a claims duration that is not a Go duration names the claim', () => {
  const c = minimal();
  c.authority.claims = { minTLSCertDuration: '5 minutes' };
  failsWith(write(c), 'authority.claims.minTLSCertDuration', 'not a duration');
});

test('a provisioner claims duration that is not a Go duration names its path', () => {
  const c = minimal();
  c.authority.provisioners[0].claims = { maxTLSCertDuration: '1 day' };
  failsWith(write(c), 'authority.provisioners.0.claims.maxTLSCertDuration');
});

test('a JWK provisioner without key names the field', () => {
  const c = minimal();
  delete c.authority.provisioners[0].key;
  failsWith(write(c), 'authority.provisioners.0.key');
});

test('a bad stepstone.maxTokenLifetime names the field', () => {
  failsWith(write({ ...minimal(), stepstone: { maxTokenLifetime: 'an hour' } }), 'stepstone.maxTokenLifetime');
});

const M = 60_000;
const H = 60 * M;

test('resolveClaims: step-ca defaults with no layers', () => {
  assert.deepEqual(resolveClaims(), {
    minTLSCertDuration: 5 * M, maxTLSCertDuration: 24 * H, defaultTLSCertDuration: 24 * H,
    disableRenewal: false, allowRenewalAfterExpiry: false, disableSmallstepExtensions: false,
  });
});

test('resolveClaims: provisioner overrides global overrides defaults', () => {
  const global = { maxTLSCertDuration: '2160h', defaultTLSCertDuration: '720h', allowRenewalAfterExpiry: true };
  const prov = { defaultTLSCertDuration: '1h', disableRenewal: true };
  assert.deepEqual(resolveClaims(global, prov), {
    minTLSCertDuration: 5 * M, maxTLSCertDuration: 2160 * H, defaultTLSCertDuration: H,
    disableRenewal: true, allowRenewalAfterExpiry: true, disableSmallstepExtensions: false,
  });
  assert.equal(resolveClaims(global).defaultTLSCertDuration, 720 * H);
  // an undefined entry in a later layer does not clobber an earlier one
  assert.equal(resolveClaims(global, { defaultTLSCertDuration: undefined }).defaultTLSCertDuration, 720 * H);
  assert.equal(resolveClaims(undefined, prov).defaultTLSCertDuration, H);
});

test('resolveClaims: min > max is refused', () => {
  assert.throws(() => resolveClaims({ minTLSCertDuration: '2h', maxTLSCertDuration: '1h', defaultTLSCertDuration: '1h' }), /minTLSCertDuration/);
  assert.throws(() => resolveClaims({ maxTLSCertDuration: '48h' }, { minTLSCertDuration: '72h' }), /minTLSCertDuration/);
});

test('resolveClaims: a default outside [min, max] is refused', () => {
  // a provisioner lowering max below the inherited 24h default
  assert.throws(() => resolveClaims(undefined, { maxTLSCertDuration: '1h' }), /defaultTLSCertDuration/);
  assert.throws(() => resolveClaims({ defaultTLSCertDuration: '1m' }), /defaultTLSCertDuration/);
});

test('config/ca.example.json validates against the schema it documents', () => {
  const example = join(import.meta.dirname, '..', '..', 'config', 'ca.example.json');
  const { config } = loadConfig(example);
  assert.equal(config.stepstone.maxTokenLifetime, '1h');
  assert.equal(config.authority.provisioners[0]!.type, 'JWK');
});

test('an ACME provisioner is checked as step-ca spells it; stepstone.acme settings are checked', () => {
  const good = minimal();
  good.authority.provisioners.push({ type: 'ACME', name: 'acme', challenges: ['http-01', 'dns-01'], forceCN: true, claims: { defaultTLSCertDuration: '12h' } });
  assert.equal(loadConfig(write(good)).config.authority.provisioners[1]!.name, 'acme');
  const badChallenge = minimal();
  badChallenge.authority.provisioners.push({ type: 'ACME', name: 'acme', challenges: ['http-02'] });
  assert.throws(() => loadConfig(write(badChallenge)), /challenges/);
  const badResolver = minimal();
  badResolver.stepstone = { acme: { validation: { resolver: 'not an address' } } };
  assert.throws(() => loadConfig(write(badResolver)), /resolver/);
});

test('stepstone.issuers: names unique and URL-safe, a provisioner\'s issuer must exist, password or passwordFile but not both', () => {
  const withIssuers = (issuers: unknown[], provisionerIssuer?: string) => {
    const c = minimal();
    c.stepstone = { issuers };
    if (provisionerIssuer !== undefined) c.authority.provisioners[0].issuer = provisionerIssuer;
    return write(c);
  };
  const a = { name: 'a', crt: 'a.crt', key: 'a.key' };
  const b = { name: 'b', crt: 'b.crt', key: 'b.key' };
  const ok = loadConfig(withIssuers([a, b], 'b')).config;
  assert.deepEqual(ok.stepstone.issuers?.map((i) => i.name), ['a', 'b']);
  assert.equal(ok.authority.provisioners[0]!.issuer, 'b');
  failsWith(withIssuers([a, { ...b, name: 'a' }]), 'stepstone.issuers.1.name', 'another issuer is already named "a"');
  failsWith(withIssuers([a, b], 'c'), 'authority.provisioners.0.issuer', 'no issuer is named "c" (configured: a, b)');
  failsWith(withIssuers([{ ...a, name: 'a/b' }]), 'stepstone.issuers.0.name', 'URL path segment');
  failsWith(withIssuers([{ ...a, password: 'x', passwordFile: 'pw' }]), 'stepstone.issuers.0', 'password or passwordFile, not both');
  failsWith(withIssuers([]), 'stepstone.issuers');
  // Without stepstone.issuers the one issuer is "default", and only that name may be named.
  const legacy = minimal();
  legacy.authority.provisioners[0].issuer = 'default';
  assert.equal(loadConfig(write(legacy)).config.authority.provisioners[0]!.issuer, 'default');
  legacy.authority.provisioners[0].issuer = 'other';
  failsWith(write(legacy), 'no issuer is named "other" (configured: default)');
});

test('stepstone.workers: 1 (one process) unless set; a whole number from 1 to 64', () => {
  assert.equal(loadConfig(write(minimal())).config.stepstone.workers, 1);
  const four = minimal();
  four.stepstone = { workers: 4 };
  assert.equal(loadConfig(write(four)).config.stepstone.workers, 4);
  for (const bad of [0, 65, 1.5, '2']) {
    const c = minimal();
    c.stepstone = { workers: bad };
    assert.throws(() => loadConfig(write(c)), /workers/);
  }
});

// The server reads ca.json on a short-lived thread (zod never stays loaded in it): it must see
// exactly what loadConfig sees, and be refused with exactly the same words.
test('loadConfigOffThread: the same config and the same refusals as loadConfig', async () => {
  const acme = minimal();
  acme.authority.provisioners.push({ type: 'ACME', name: 'acme', challenges: ['dns-01'], requireEAB: true, claims: { defaultTLSCertDuration: '12h' } });
  acme.stepstone = { console: { enabled: true, admins: ['ops@example.com'] }, issuers: undefined };
  const example = join(import.meta.dirname, '..', '..', 'config', 'ca.example.json');
  for (const path of [write(minimal()), write(acme), example]) {
    const here = loadConfig(path);
    const there = await loadConfigOffThread(path);
    assert.deepEqual(there.config, here.config);
    assert.equal(there.path, here.path);
    assert.equal(there.resolvePath('db/x'), here.resolvePath('db/x'));
    assert.equal(there.resolvePath('/abs/x'), '/abs/x');
  }
  const noDns = minimal();
  delete noDns.dnsNames;
  for (const path of [write('{ not json'), join(root, 'missing', 'ca.json'), write(noDns)]) {
    const expected = (() => { try { loadConfig(path); } catch (e) { return (e as Error).message; } return 'loaded'; })();
    assert.notEqual(expected, 'loaded');
    await assert.rejects(loadConfigOffThread(path), (e: unknown) => e instanceof Error && e.message === expected);
  }
});

// The registry fills in an ACME provisioner's defaults without zod; the schema is the reference.
test('acmeProvisionerSettings gives what acmeProvisionerSchema.parse gives for a valid entry', () => {
  const entries: Record<string, unknown>[] = [
    { type: 'ACME', name: 'a' },
    { type: 'ACME', name: 'b', challenges: ['dns-01'] },
    { type: 'ACME', name: 'c', forceCN: true, requireEAB: true, termsOfService: 'https://example.com/tos', claims: { defaultTLSCertDuration: '12h' } },
    { type: 'ACME', name: 'd', challenges: ['tls-alpn-01', 'http-01'], forceCN: false, options: { x509: {} } },
  ];
  for (const p of entries) assert.deepEqual(acmeProvisionerSettings(p), acmeProvisionerSchema.parse(p));
  assert.deepEqual(consoleAddress({}), null);
  assert.deepEqual(consoleAddress({ enabled: true }), DEFAULT_CONSOLE_ADDRESS);
  assert.deepEqual(consoleAddress({ address: '0.0.0.0:1' }), '0.0.0.0:1');
  assert.deepEqual(consoleAddress({ enabled: false, address: '0.0.0.0:1' }), null);
});
