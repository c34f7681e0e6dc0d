// Name policies, case by case. Each row says what Stepstone decides and whether step-ca's engine
// (smallstep/certificates policy/, read for these semantics) decides the same; a row marked
// `differs` is a deliberate difference, listed in README "Name policies".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NamePolicy, PolicyConfigError, PolicySet, findRefusal, refusalMessage } from '../../src/authority/name-policy.ts';
import { CaError } from '../../src/errors.ts';
import { classifySan } from '../../src/pki/names.ts';
import { caConfigSchema } from '../../src/config/schema.ts';
import type { PolicyConfig } from '../../src/config/policy-schema.ts';

type X = NonNullable<PolicyConfig['x509']>;
type Kind = 'cn' | 'dns' | 'ip' | 'email' | 'uri';
interface Row { policy: X; kind: Kind; name: string; allowed: boolean; differs?: string }

const allowDns = (...dns: string[]): X => ({ allow: { dns } });
const denyDns = (...dns: string[]): X => ({ deny: { dns } });

const ROWS: Row[] = [
  // DNS: exact names, case, trailing dots, IDN.
  { policy: allowDns('example.com'), kind: 'dns', name: 'example.com', allowed: true },
  { policy: allowDns('example.com'), kind: 'dns', name: 'EXAMPLE.com', allowed: true },
  { policy: allowDns('Example.COM'), kind: 'dns', name: 'example.com', allowed: true },
  { policy: allowDns('example.com'), kind: 'dns', name: 'www.example.com', allowed: false },
  { policy: allowDns('example.com'), kind: 'dns', name: 'example.com.', allowed: false },
  { policy: allowDns('example.com'), kind: 'dns', name: 'example..com', allowed: false },
  { policy: allowDns('example.com'), kind: 'dns', name: 'badexample.com', allowed: false },
  { policy: allowDns('bücher.example'), kind: 'dns', name: 'xn--bcher-kva.example', allowed: true },
  { policy: allowDns('xn--bcher-kva.example'), kind: 'dns', name: 'XN--BCHER-KVA.example', allowed: true },
  { policy: allowDns('*.bücher.example'), kind: 'dns', name: 'www.xn--bcher-kva.example', allowed: true },
  { policy: denyDns('bücher.example'), kind: 'dns', name: 'xn--bcher-kva.example', allowed: false },
  { policy: allowDns('example.com'), kind: 'dns', name: 'xn--zz.example.com', allowed: false },
  { policy: allowDns('*.example.com'), kind: 'dns', name: 'bad name.example.com', allowed: false },
  // Wildcard rule depth: exactly one label.
  { policy: allowDns('*.example.com'), kind: 'dns', name: 'www.example.com', allowed: true },
  { policy: allowDns('*.example.com'), kind: 'dns', name: 'WWW.Example.Com', allowed: true },
  { policy: allowDns('*.example.com'), kind: 'dns', name: 'a.b.example.com', allowed: false },
  { policy: allowDns('*.example.com'), kind: 'dns', name: 'example.com', allowed: false },
  { policy: allowDns('*.example.com'), kind: 'dns', name: 'www.example.com.', allowed: false },
  { policy: allowDns('*.example.com'), kind: 'dns', name: 'www.example.org', allowed: false },
  // Literal wildcard names.
  { policy: allowDns('*.example.com'), kind: 'dns', name: '*.example.com', allowed: false },
  { policy: { ...allowDns('*.example.com'), allowWildcardNames: true }, kind: 'dns', name: '*.example.com', allowed: true },
  { policy: { ...allowDns('*.example.com'), allowWildcardNames: true }, kind: 'dns', name: '*.a.example.com', allowed: false },
  { policy: { ...allowDns('example.com'), allowWildcardNames: true }, kind: 'dns', name: '*.example.com', allowed: false },
  { policy: { ...allowDns('*.example.com'), allowWildcardNames: true }, kind: 'dns', name: 'a.*.example.com', allowed: false },
  { policy: { ...allowDns('*.example.com'), allowWildcardNames: true }, kind: 'dns', name: 'w*.example.com', allowed: false },
  { policy: { ...denyDns('*.example.com'), allowWildcardNames: true }, kind: 'dns', name: '*.example.com', allowed: false },
  { policy: denyDns('*.example.com'), kind: 'dns', name: '*.example.com', allowed: false, differs: 'step-ca lets a literal wildcard through a deny-only policy when allowWildcardNames is false' },
  { policy: { ...denyDns('admin.example.com'), allowWildcardNames: true }, kind: 'dns', name: '*.example.com', allowed: false, differs: 'a wildcard covering a denied name is refused; step-ca compares labels literally' },
  { policy: { ...denyDns('a.b.example.com'), allowWildcardNames: true }, kind: 'dns', name: '*.example.com', allowed: true },
  // Deny wins; deny-only policies allow the rest.
  { policy: { allow: { dns: ['*.example.com'] }, deny: { dns: ['admin.example.com'] } }, kind: 'dns', name: 'admin.example.com', allowed: false },
  { policy: { allow: { dns: ['*.example.com'] }, deny: { dns: ['admin.example.com'] } }, kind: 'dns', name: 'ADMIN.example.com', allowed: false },
  { policy: { allow: { dns: ['*.example.com'] }, deny: { dns: ['admin.example.com'] } }, kind: 'dns', name: 'www.example.com', allowed: true },
  { policy: { allow: { dns: ['example.com'] }, deny: { dns: ['example.com'] } }, kind: 'dns', name: 'example.com', allowed: false },
  { policy: denyDns('*.internal'), kind: 'dns', name: 'www.example.com', allowed: true },
  { policy: denyDns('*.internal'), kind: 'dns', name: 'db.internal', allowed: false },
  { policy: denyDns('*.internal'), kind: 'dns', name: 'db.internal.', allowed: false },
  // A type with no rule while an allow list exists.
  { policy: { allow: { ip: ['10.0.0.0/8'] } }, kind: 'dns', name: 'www.example.com', allowed: false },
  { policy: { allow: { dns: ['*.example.com'] }, deny: { ip: ['10.0.0.0/8'] } }, kind: 'ip', name: '192.168.1.1', allowed: false, differs: 'step-ca allows a name of a type that has only deny rules even when other types have allow lists' },
  { policy: { deny: { ip: ['10.0.0.0/8'] } }, kind: 'dns', name: 'anything.example', allowed: true },
  // IPs: CIDR edges, single addresses, IPv6, v4-mapped.
  { policy: { allow: { ip: ['10.0.0.0/8'] } }, kind: 'ip', name: '10.0.0.0', allowed: true },
  { policy: { allow: { ip: ['10.0.0.0/8'] } }, kind: 'ip', name: '10.255.255.255', allowed: true },
  { policy: { allow: { ip: ['10.0.0.0/8'] } }, kind: 'ip', name: '11.0.0.0', allowed: false },
  { policy: { allow: { ip: ['10.0.0.0/8'] } }, kind: 'ip', name: '9.255.255.255', allowed: false },
  { policy: { allow: { ip: ['10.1.2.3/8'] } }, kind: 'ip', name: '10.200.0.1', allowed: true },
  { policy: { allow: { ip: ['192.168.1.1'] } }, kind: 'ip', name: '192.168.1.1', allowed: true },
  { policy: { allow: { ip: ['192.168.1.1'] } }, kind: 'ip', name: '192.168.1.2', allowed: false },
  { policy: { allow: { ip: ['192.168.1.0/31'] } }, kind: 'ip', name: '192.168.1.1', allowed: true },
  { policy: { allow: { ip: ['192.168.1.0/31'] } }, kind: 'ip', name: '192.168.1.2', allowed: false },
  { policy: { allow: { ip: ['0.0.0.0/0'] } }, kind: 'ip', name: '255.255.255.255', allowed: true },
  { policy: { allow: { ip: ['0.0.0.0/0'] } }, kind: 'ip', name: '::1', allowed: false },
  { policy: { allow: { ip: ['10.0.0.0/8'] } }, kind: 'ip', name: '::ffff:10.1.2.3', allowed: true },
  { policy: { deny: { ip: ['10.0.0.0/8'] } }, kind: 'ip', name: '::ffff:10.1.2.3', allowed: false },
  { policy: { deny: { ip: ['::ffff:10.0.0.0/104'] } }, kind: 'ip', name: '10.9.9.9', allowed: false },
  { policy: { allow: { ip: ['2001:db8::/32'] } }, kind: 'ip', name: '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', allowed: true },
  { policy: { allow: { ip: ['2001:db8::/32'] } }, kind: 'ip', name: '2001:db9::', allowed: false },
  { policy: { allow: { ip: ['2001:DB8::1'] } }, kind: 'ip', name: '2001:db8:0:0:0:0:0:1', allowed: true },
  { policy: { allow: { ip: ['::/0'] } }, kind: 'ip', name: '10.0.0.1', allowed: false },
  { policy: { allow: { ips: ['fd00::/8'] } }, kind: 'ip', name: 'fdff::1', allowed: true },
  { policy: { allow: { ips: ['fd00::/8'] } }, kind: 'ip', name: 'fe00::1', allowed: false },
  // Emails: exact addresses, domains, case.
  { policy: { allow: { email: ['@example.com'] } }, kind: 'email', name: 'alice@example.com', allowed: true },
  { policy: { allow: { email: ['example.com'] } }, kind: 'email', name: 'alice@EXAMPLE.com', allowed: true },
  { policy: { allow: { email: ['@example.com'] } }, kind: 'email', name: 'alice@mail.example.com', allowed: false },
  { policy: { allow: { email: ['alice@example.com'] } }, kind: 'email', name: 'alice@example.com', allowed: true },
  { policy: { allow: { email: ['alice@example.com'] } }, kind: 'email', name: 'Alice@example.com', allowed: false },
  { policy: { allow: { emails: ['Alice@example.com'] } }, kind: 'email', name: 'Alice@example.com', allowed: true, differs: 'step-ca lower-cases the local part of the rule, so a capitalised local part never matches' },
  { policy: { allow: { email: ['@bücher.example'] } }, kind: 'email', name: 'bob@xn--bcher-kva.example', allowed: true },
  { policy: { deny: { email: ['mallory@example.com'] } }, kind: 'email', name: 'mallory@Example.COM', allowed: false },
  { policy: { allow: { email: ['@example.com'] } }, kind: 'email', name: 'a..b@example.com', allowed: false },
  // URIs: step-ca's host rules and Stepstone's scheme://host/path rules.
  { policy: { allow: { uri: ['*.example.com'] } }, kind: 'uri', name: 'https://www.example.com/path', allowed: true },
  { policy: { allow: { uri: ['example.com'] } }, kind: 'uri', name: 'spiffe://Example.com/ns/a', allowed: true },
  { policy: { allow: { uri: ['example.com'] } }, kind: 'uri', name: 'https://example.com:8443/', allowed: true },
  { policy: { allow: { uri: ['*.example.com'] } }, kind: 'uri', name: 'https://10.0.0.1/', allowed: false },
  { policy: { allow: { uri: ['*.example.com'] } }, kind: 'uri', name: 'urn:uuid:1234', allowed: false },
  { policy: { allow: { uris: ['spiffe://trust.example/ns/prod/*'] } }, kind: 'uri', name: 'spiffe://trust.example/ns/prod/sa/web', allowed: true, differs: 'step-ca refuses a rule with a scheme at start-up' },
  { policy: { allow: { uris: ['spiffe://trust.example/ns/prod/*'] } }, kind: 'uri', name: 'spiffe://trust.example/ns/dev/sa/web', allowed: false },
  { policy: { allow: { uris: ['spiffe://trust.example/ns/prod/*'] } }, kind: 'uri', name: 'spiffe://trust.example/ns/prod', allowed: false },
  { policy: { allow: { uris: ['spiffe://trust.example/ns/prod/*'] } }, kind: 'uri', name: 'spiffe://trust.example/ns/prod/../dev/x', allowed: false },
  { policy: { allow: { uris: ['spiffe://trust.example/ns/prod/*'] } }, kind: 'uri', name: 'spiffe://other.example/ns/prod/x', allowed: false },
  { policy: { allow: { uris: ['spiffe://trust.example/ns/prod/*'] } }, kind: 'uri', name: 'https://trust.example/ns/prod/x', allowed: false },
  { policy: { allow: { uris: ['spiffe://trust.example/web'] } }, kind: 'uri', name: 'spiffe://trust.example/web', allowed: true },
  { policy: { allow: { uris: ['spiffe://trust.example/web'] } }, kind: 'uri', name: 'spiffe://trust.example/web/x', allowed: false },
  { policy: { deny: { uris: ['spiffe://trust.example/admin/*'] } }, kind: 'uri', name: 'spiffe://trust.example/admin/x', allowed: false },
  { policy: { deny: { uris: ['spiffe://trust.example/admin/*'] } }, kind: 'uri', name: 'spiffe://trust.example/x/%2e%2e/admin/x', allowed: false },
  // Common names: cn rules first, then as the SAN they look like.
  { policy: { allow: { cn: ['Alice Smith'] } }, kind: 'cn', name: 'alice smith', allowed: true },
  { policy: { allow: { commonNames: ['alice'] } }, kind: 'cn', name: 'bob', allowed: false },
  { policy: { allow: { dns: ['*.example.com'] } }, kind: 'cn', name: 'www.example.com', allowed: true },
  { policy: { allow: { dns: ['*.example.com'] } }, kind: 'cn', name: 'alice', allowed: false },
  { policy: { allow: { ip: ['10.0.0.0/8'] } }, kind: 'cn', name: '10.1.1.1', allowed: true },
  { policy: { deny: { cn: ['root'] } }, kind: 'cn', name: 'ROOT', allowed: false, differs: 'step-ca retries a cn-denied name as a SAN; with no dns rules that allows it' },
  { policy: { deny: { cn: ['www.example.com'] }, allow: { dns: ['*.example.com'] } }, kind: 'cn', name: 'www.example.com', allowed: false, differs: 'step-ca retries a cn-denied name as a SAN, which may allow it' },
  { policy: { deny: { cn: ['root'] } }, kind: 'cn', name: 'alice', allowed: true },
  { policy: { allow: { dns: ['*.example.com'] } }, kind: 'cn', name: '', allowed: true },
];

function decide(row: Row): ReturnType<typeof findRefusal> {
  const p = NamePolicy.compile({ x509: row.policy }, 'the authority policy', 'authority.policy');
  if (row.kind === 'cn') return findRefusal([p], row.name, []);
  const san = row.kind === 'uri' ? { type: 'url' as const, value: row.name } : { type: row.kind, value: row.name };
  return findRefusal([p], '', [san]);
}

test(`name policy table: ${ROWS.length} (policy, name) cases`, () => {
  assert.ok(ROWS.length >= 60);
  const wrong: string[] = [];
  for (const row of ROWS) {
    const r = decide(row);
    if ((r === null) !== row.allowed) wrong.push(`${JSON.stringify(row.policy)} ${row.kind} ${JSON.stringify(row.name)}: want ${row.allowed ? 'allowed' : 'refused'}, got ${r ? refusalMessage(r) : 'allowed'}`);
    if (r) assert.match(refusalMessage(r), new RegExp(`^${row.kind} name ".*" not allowed: `));
  }
  assert.deepEqual(wrong, []);
});

test('a refusal names the name and the rule, in step-ca\'s words first', () => {
  const p = NamePolicy.compile({ x509: { allow: { dns: ['*.example.com'] }, deny: { dns: ['admin.example.com'] } } }, 'the authority policy', 'authority.policy');
  const r = findRefusal([p], '', [classifySan('admin.example.com')]);
  assert.equal(refusalMessage(r!), 'dns name "admin.example.com" not allowed: denied by the authority policy rule x509.deny.dns "admin.example.com"');
  const r2 = findRefusal([p], '', [classifySan('www.example.org')]);
  assert.equal(refusalMessage(r2!), 'dns name "www.example.org" not allowed: the authority policy allows it under no x509.allow.dns rule');
});

test('authority and provisioner policies both apply; each refusal says whose rule it was', () => {
  const config = caConfigSchema.parse({
    root: 'r', crt: 'c', key: 'k', address: ':443', dnsNames: ['ca'], db: { type: 'sqlite', dataSource: 'x' },
    authority: {
      policy: { x509: { allow: { dns: ['*.example.com'] } } },
      provisioners: [
        { type: 'JWK', name: 'ops', key: { kty: 'EC', kid: 'k1' }, policy: { x509: { deny: { dns: ['db.example.com'] } } } },
        { type: 'JWK', name: 'dev', key: { kty: 'EC', kid: 'k2' } },
      ],
    },
  });
  const set = PolicySet.fromConfig(config);
  const sans = (...n: string[]) => n.map(classifySan);
  assert.doesNotThrow(() => set.enforce('ops', 'www.example.com', sans('www.example.com')));
  assert.doesNotThrow(() => set.enforce('dev', 'db.example.com', sans('db.example.com')));
  const e1 = assert.throws(() => set.enforce('ops', 'db.example.com', sans('db.example.com')), (e: unknown) => {
    assert.ok(e instanceof CaError);
    assert.equal(e.status, 403);
    assert.equal(e.code, 'policy_denied');
    assert.equal(e.publicMessage, 'The request was forbidden by the certificate authority: dns name "db.example.com" not allowed: denied by provisioner "ops"\'s policy rule x509.deny.dns "db.example.com".');
    return true;
  });
  void e1;
  assert.throws(() => set.enforce('ops', 'x.example.org', sans('x.example.org')), /the authority policy allows it under no x509.allow.dns rule/);
  assert.doesNotThrow(() => PolicySet.fromConfig({ authority: { provisioners: [] } }).enforce(null, 'anything', sans('*.x', '1.2.3.4')));
});

test('bad rules stop the config, naming where', () => {
  const bad: [X, RegExp][] = [
    [allowDns('example..com'), /authority\.policy\.x509\.allow\.dns: "example..com" is not a domain name/],
    [allowDns('.example.com'), /starts with "\*\."/],
    [allowDns('www.*.example.com'), /"\*" may only stand for the whole first label/],
    [allowDns('*example.com'), /"\*" may only stand/],
    [allowDns('example.com.'), /is not a domain name/],
    [allowDns(''), /an empty rule/],
    [{ deny: { ip: ['10.0.0.0/33'] } }, /authority\.policy\.x509\.deny\.ip: "10.0.0.0\/33" is neither/],
    [{ deny: { ip: ['10.0.0'] } }, /is neither an IP address nor a CIDR/],
    [{ deny: { ip: ['::ffff:10.0.0.0/64'] } }, /at least 96/],
    [{ allow: { email: ['*@example.com'] } }, /without "\*"/],
    [{ allow: { email: ['a@b@example.com'] } }, /more than one "@"/],
    [{ allow: { uri: ['example.com:443'] } }, /no IP, port or path/],
    [{ allow: { uri: ['spiffe://td/a*'] } }, /"\*" may only end a path/],
    [{ allow: { uri: ['spiffe://td/a/../b'] } }, /"\." or "\.\." path segment/],
    [{ allow: { cn: ['*'] } }, /a common name rule is a name/],
  ];
  for (const [x, re] of bad) assert.throws(() => NamePolicy.compile({ x509: x }, 'the authority policy', 'authority.policy'), (e: unknown) => e instanceof PolicyConfigError && re.test(e.message), JSON.stringify(x));
  assert.equal(NamePolicy.compile({ x509: { allow: {}, deny: {} } }, 's', 'w'), null);
  assert.throws(() => caConfigSchema.parse({
    root: 'r', crt: 'c', key: 'k', address: ':443', dnsNames: ['ca'], db: { type: 'sqlite', dataSource: 'x' },
    authority: { policy: { x509: { allow: { dnsNames: ['x'] } } } },
  }), /dnsNames/);
});
