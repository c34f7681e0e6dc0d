// The provisioner registry and GET /provisioners paging (api.md §1.7, §2.1 lookup by iss:kid).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as jose from 'jose';
import { CaError } from '../../src/errors.ts';
import { caConfigSchema, type CaConfig } from '../../src/config/schema.ts';
import { ProvisionerRegistry } from '../../src/provisioners/registry.ts';
import { parseLimit } from '../../src/api/routes/provisioners.ts';

interface Key { pub: jose.JWK; priv: jose.JWK }

async function jwkPair(alg: 'ES256' | 'EdDSA' = 'ES256'): Promise<Key> {
  const { publicKey, privateKey } = await jose.generateKeyPair(alg, { extractable: true });
  const pub = await jose.exportJWK(publicKey);
  const kid = await jose.calculateJwkThumbprint(pub, 'sha256');
  const meta = { use: 'sig', kid, alg };
  return { pub: { ...pub, ...meta }, priv: { ...(await jose.exportJWK(privateKey)), ...meta } };
}

function config(provisioners: unknown[], extra: Record<string, unknown> = {}): CaConfig {
  return caConfigSchema.parse({
    root: 'certs/root_ca.crt',
    crt: 'certs/intermediate_ca.crt',
    key: 'secrets/intermediate_ca_key',
    address: ':9000',
    dnsNames: ['ca.example.com'],
    db: { type: 'sqlite', dataSource: 'db/ledger.sqlite' },
    authority: { provisioners, ...extra },
  });
}

/** step-ca's uid, computed here independently: SHA-1("<name>:<kid>") with bytes 0..3 = index. */
function stepUid(index: number, name: string, kid: string): string {
  const h = createHash('sha1').update(`${name}:${kid}`).digest();
  h.writeUInt32BE(index, 0);
  return h.toString('hex');
}

let keys: Key[];
let registry: ProvisionerRegistry;
let cfg: CaConfig;

before(async () => {
  keys = [await jwkPair(), await jwkPair('EdDSA'), await jwkPair()];
  cfg = config([
    { type: 'JWK', name: 'admin', key: keys[0]!.pub, encryptedKey: 'eyJhbGciOiJQQkVTMi1IUzI1NitBMTI4S1ciLCJlbmMiOiJBMjU2R0NNIn0.a.b.c.d' },
    { type: 'JWK', name: 'ops@example.com', key: keys[1]!.priv, claims: { defaultTLSCertDuration: '2h' } }, // a key with its private `d`
    { type: 'jwk', name: 'third', key: { ...keys[2]!.pub, d: keys[2]!.priv.d } },
  ]);
  registry = await ProvisionerRegistry.create(cfg);
});

test('page("", 2): the first two, and the third\'s uid with leading zeros trimmed as the cursor', () => {
  const p = registry.page('', 2);
  assert.deepEqual(p.provisioners.map((x) => x.name), ['admin', 'ops@example.com']);
  const third = stepUid(2, 'third', keys[2]!.pub.kid!);
  assert.match(third, /^00000002/);
  assert.equal(p.nextCursor, third.replace(/^0+/, ''));
  assert.ok(p.nextCursor.length < 40 && !p.nextCursor.startsWith('0'));
});

test('page(cursor, 2): the third and an empty nextCursor', () => {
  const first = registry.page('', 2);
  const p = registry.page(first.nextCursor, 2);
  assert.deepEqual(p.provisioners.map((x) => x.name), ['third']);
  assert.equal(p.nextCursor, '');
});

test('page("", 100) returns all, in config order, with no next cursor', () => {
  const p = registry.page('', 100);
  assert.deepEqual(p.provisioners.map((x) => x.name), ['admin', 'ops@example.com', 'third']);
  assert.equal(p.nextCursor, '');
  const one = registry.page('', 1);
  assert.deepEqual(one.provisioners.map((x) => x.name), ['admin']);
  assert.equal(one.nextCursor, stepUid(1, 'ops@example.com', keys[1]!.pub.kid!).replace(/^0+/, ''));
});

test('the full 40-char uid works as a cursor too', () => {
  const p = registry.page(stepUid(1, 'ops@example.com', keys[1]!.pub.kid!), 5);
  assert.deepEqual(p.provisioners.map((x) => x.name), ['ops@example.com', 'third']);
});

test('listed provisioners carry the public key and never a private `d`', () => {
  const [a, b, c] = registry.page('', 100).provisioners;
  for (const p of [a, b, c]) {
    assert.ok(p?.key, `${p?.name} has a key`);
    assert.equal('d' in p.key, false, `${p.name} key has no d`);
    assert.equal(JSON.stringify(p).includes('"d"'), false);
  }
  assert.deepEqual(b!.key, keys[1]!.pub);
  assert.deepEqual(c!.key, keys[2]!.pub);
  assert.equal(a!.encryptedKey, 'eyJhbGciOiJQQkVTMi1IUzI1NitBMTI4S1ciLCJlbmMiOiJBMjU2R0NNIn0.a.b.c.d');
  assert.equal('encryptedKey' in b!, false);
  assert.deepEqual(b!.claims, { defaultTLSCertDuration: '2h' });
  assert.equal(c!.type, 'jwk'); // type as written in the config
  // the registry does not strip `d` from the caller's config object itself
  assert.equal(typeof (cfg.authority.provisioners[1]!.key as Record<string, unknown>).d, 'string');
});

test('byKid finds the provisioner config by its key id', () => {
  assert.equal(registry.byKid(keys[1]!.pub.kid!)?.name, 'ops@example.com');
  assert.equal(registry.byKid(keys[0]!.pub.kid!)?.name, 'admin');
  assert.equal(registry.byKid('nope'), undefined);
});

test('find(iss, kid) is exact', () => {
  const kid0 = keys[0]!.pub.kid!;
  const p = registry.find('admin', kid0);
  assert.equal(p?.name, 'admin');
  assert.equal(p?.kid, kid0);
  assert.equal(p?.alg, 'ES256');
  assert.equal(registry.find('ops@example.com', keys[1]!.pub.kid!)?.alg, 'EdDSA');
  assert.equal(registry.find('Admin', kid0), undefined);
  assert.equal(registry.find('admin ', kid0), undefined);
  assert.equal(registry.find('admin', kid0.toLowerCase() === kid0 ? kid0.toUpperCase() : kid0.toLowerCase()), undefined);
  assert.equal(registry.find('admin', keys[1]!.pub.kid!), undefined); // another provisioner's kid
  assert.equal(registry.find('', ''), undefined);
});

test('claims are resolved per provisioner', () => {
  assert.equal(registry.claimsOf('ops@example.com')?.defaultTLSCertDuration, 2 * 3600_000);
  assert.equal(registry.claimsOf('admin')?.defaultTLSCertDuration, 24 * 3600_000);
  assert.equal(registry.claimsOf('nobody'), undefined);
});

test('a duplicate provisioner is refused', async () => {
  const dup = config([
    { type: 'JWK', name: 'admin', key: keys[0]!.pub },
    { type: 'JWK', name: 'admin', key: keys[0]!.pub },
  ]);
  await assert.rejects(ProvisionerRegistry.create(dup), /already named "admin"/);
  // step-ca refuses two provisioners with one name even when their keys differ.
  const sameName = config([
    { type: 'JWK', name: 'admin', key: keys[0]!.pub },
    { type: 'JWK', name: 'admin', key: keys[1]!.pub },
  ]);
  await assert.rejects(ProvisionerRegistry.create(sameName), /already named "admin"/);
});

test('an empty registry pages to nothing', async () => {
  const empty = await ProvisionerRegistry.create(config([]));
  assert.deepEqual(empty.page('', 20), { provisioners: [], nextCursor: '' });
});

test('parseLimit: missing or ≤ 0 → 20, > 100 → 100', () => {
  assert.equal(parseLimit(undefined), 20);
  assert.equal(parseLimit(''), 20);
  assert.equal(parseLimit('0'), 20);
  assert.equal(parseLimit('-3'), 20);
  assert.equal(parseLimit('1'), 1);
  assert.equal(parseLimit('37'), 37);
  assert.equal(parseLimit('100'), 100);
  assert.equal(parseLimit('101'), 100);
  assert.equal(parseLimit('500'), 100);
});

test('parseLimit: a non-integer is a 400 with step-ca\'s message', () => {
  for (const raw of ['abc', '1.5', '10abc', ' 5']) {
    assert.throws(() => parseLimit(raw), (e: unknown) => {
      assert.ok(e instanceof CaError);
      assert.equal(e.code, 'bad_request');
      assert.equal(e.status, 400);
      assert.match(e.message, new RegExp(`limit '${raw.replace('.', '\\.')}' is not an integer`));
      return true;
    }, raw);
  }
  assert.throws(() => parseLimit('abc'), (e: unknown) => e instanceof CaError
    && e.publicMessage === "The request could not be completed: limit 'abc' is not an integer.");
});
