// Certificate templates without a server: loading (inline, Base64, file; syntax errors naming
// file and line) and what a rendered template may and may not produce.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CertTemplate, GoCertificateRequest, GoSubject, TemplateConfigError, sanOf } from '../../src/authority/cert-template.ts';
import { GO_TYPE } from '../../src/authority/go-template.ts';
import { CaError } from '../../src/errors.ts';
import type { ProvisionerConfig } from '../../src/config/schema.ts';

const load = (x509: Record<string, unknown>, resolvePath = (p: string) => p) =>
  CertTemplate.load({ type: 'JWK', name: 'p', options: { x509 } } as ProvisionerConfig, 0, resolvePath);

const input = (o: { cn?: string; subject?: GoSubject; dns?: string[]; user?: Record<string, unknown> } = {}) => ({
  subject: GoSubject.ofCommonName(o.cn ?? 'web.example.com'),
  sans: [sanOf({ type: 'dns', value: o.cn ?? 'web.example.com' })],
  token: { sub: o.cn ?? 'web.example.com', iss: 'p' },
  cr: new GoCertificateRequest(o.subject ?? GoSubject.ofCommonName(o.cn ?? 'web.example.com'), o.dns ?? [o.cn ?? 'web.example.com'], [], [], [], { [GO_TYPE]: '*ecdsa.PublicKey' }),
  user: o.user ?? {},
});

const status400 = (re: RegExp) => (e: unknown) => e instanceof CaError && e.status === 400 && re.test(e.publicMessage);

test('inline, Base64 and file templates; no template means the fast path', () => {
  assert.equal(load({}), null);
  // What `step ca provisioner add` writes: empty x509 and ssh option blocks.
  assert.equal(CertTemplate.load({ type: 'JWK', name: 'p', options: { x509: {}, ssh: {} } } as ProvisionerConfig, 0, (p) => p), null);
  assert.equal(CertTemplate.load({ type: 'JWK', name: 'p' } as ProvisionerConfig, 0, (p) => p), null);
  const inline = load({ template: '{{ toJson .Insecure.CR }}' })!;
  // The "Certificate Request" template of smallstep's documentation: the CSR as the certificate.
  const subject = GoSubject.ofJsonName([{ CN: ['web.example.com'] }, { O: ['Acme'] }, { OU: ['Eng'] }]);
  const leaf = inline.render(input({ subject }));
  assert.equal(leaf.commonName, 'web.example.com');
  assert.deepEqual(leaf.subject.map((a) => [a.oid, a.values]), [['2.5.4.10', ['Acme']], ['2.5.4.11', ['Eng']], ['2.5.4.3', ['web.example.com']]]);
  assert.deepEqual(leaf.sans, [{ type: 'dns', value: 'web.example.com' }]);
  const b64 = load({ template: Buffer.from('{{ toJson .Insecure.CR }}').toString('base64') })!;
  assert.equal(b64.render(input()).commonName, 'web.example.com');
  const dir = mkdtempSync(join(tmpdir(), 'tpl-'));
  try {
    writeFileSync(join(dir, 'leaf.tpl'), '{\n"subject": {{ toJson .Subject }},\n"sans": {{ toJson .SANs }}\n}');
    assert.equal(load({ templateFile: 'leaf.tpl' }, (p) => join(dir, p))!.render(input()).commonName, 'web.example.com');
    writeFileSync(join(dir, 'bad.tpl'), '{\n"subject": {{ toJson .Subject }},\n"sans": {{ toJson .SANs }\n}');
    assert.throws(() => load({ templateFile: 'bad.tpl' }, (p) => join(dir, p)), (e: unknown) => e instanceof TemplateConfigError && e.message.startsWith(`template ${join(dir, 'bad.tpl')}:3: `));
    assert.throws(() => load({ templateFile: 'missing.tpl' }, (p) => join(dir, p)), /templateFile: cannot read .*missing\.tpl: ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.throws(() => load({ template: 'x', templateFile: 'y' }), /set template or templateFile, not both/);
  assert.throws(() => load({ templateData: { a: 1 } }), /templateData is set but there is no template/);
  assert.throws(() => load({ template: '{{ .x }}', templateData: [1] }), /templateData: must be a JSON object/);
});

test('template data: built-in names win over templateData keys', () => {
  const t = load({ template: '{"subject": {"commonName": {{ toJson .Subject.CommonName }}, "organization": {{ toJson .Org }}}}', templateData: { Org: 'Acme', Subject: { CommonName: 'spoofed' } } })!;
  const leaf = t.render(input());
  assert.equal(leaf.commonName, 'web.example.com');
  assert.deepEqual(leaf.subject[0], { oid: '2.5.4.10', values: ['Acme'] });
});

test('what a rendered template may not produce', () => {
  const render = (tpl: string) => load({ template: tpl })!.render(input());
  assert.throws(() => render('{"subject": {{ toJson .Subject }}, "basicConstraints": {"isCA": true}}'), status400(/would make a CA certificate \(basicConstraints\.isCA\)/));
  assert.throws(() => render('{"subject": {{ toJson .Subject }}, "keyUsage": "certSign"}'), status400(/would make a CA certificate \(keyUsage certSign\)/));
  assert.throws(() => render('{"subject": {{ toJson .Subject }}, "extensions": [{"id": "2.5.29.30", "value": "MAA="}]}'), status400(/2\.5\.29\.30 \(nameConstraints\) cannot be set raw/));
  assert.throws(() => render('{"subject": {}}'), status400(/without a subject common name or any subject alternative name/));
  assert.throws(() => render('{"subject": {{ toJson .Subject }},}'), status400(/did not produce JSON/));
  assert.throws(() => render('[1]'), status400(/did not produce a JSON object/));
  assert.throws(() => render('{"subject": {{ toJson .Subject }}, "nameConstraints": {}}'), status400(/"nameConstraints" is not supported/));
  assert.throws(() => render('{"subject": {{ toJson .Subject }}, "keyUsage": ["teleport"]}'), status400(/unknown keyUsage "teleport"/));
  assert.throws(() => render('{"subject": {{ toJson .Subject }}, "dnsNames": "bücher.example"}'), status400(/is not ASCII/));
  assert.throws(() => render('{"subject": {{ toJson .Subject }}, "ipAddresses": "10.0.0.300"}'), status400(/is not an IP address/));
  assert.throws(() => render('{{ fail "nope" }}'), status400(/line 1: fail: nope/));
  assert.throws(() => render('{"subject": {"commonName": "a\\ud800b"}}'), status400(/is not valid Unicode/));
  // Accepted: step-ca's spellings, single strings for lists, fields the CA sets itself ignored.
  const ok = render('{"subject": {"commonName": "x", "country": "US"}, "serialNumber": "1", "notAfter": "2099-01-01T00:00:00Z", "sans": [{"type": "auto", "value": "10.0.0.1"}, {"type": "dns", "value": "x"}], "uris": "spiffe://td/x", "extKeyUsage": "ServerAuth", "basicConstraints": {"isCA": false}}');
  assert.deepEqual(ok.sans, [{ type: 'dns', value: 'x' }, { type: 'ip', value: '10.0.0.1' }, { type: 'url', value: 'spiffe://td/x' }]);
  assert.deepEqual(ok.extKeyUsage, ['1.3.6.1.5.5.7.3.1']);
  assert.deepEqual(ok.basicConstraints, { isCA: false });
});

test('a template of the default leaf\'s shape: the fast path and the template builder make the same certificate', async () => {
  const { generateKeyPairSync } = await import('node:crypto');
  const { createIntermediateCertificate, createRootCertificate, makeIssuer } = await import('../../src/authority/profiles.ts');
  const { LeafTemplate } = await import('../../src/authority/fast-leaf.ts');
  const { createTemplatedLeaf, isDefaultShape } = await import('../../src/authority/templated-leaf.ts');
  const { x509 } = await import('../../src/pki/x509.ts');
  const now = new Date();
  const later = new Date(now.getTime() + 86_400_000);
  const rk = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const root = await createRootCertificate({ name: 'R', key: rk.privateKey, notBefore: now, notAfter: later });
  const ik = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const inter = await createIntermediateCertificate({ name: 'I', publicKey: ik.publicKey, issuer: await makeIssuer(root, rk.privateKey), notBefore: now, notAfter: later });
  const issuer = await makeIssuer(inter, ik.privateKey);
  const fast = await LeafTemplate.create(issuer);
  const spki = new Uint8Array(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' })).buffer as ArrayBuffer;
  const tpl = load({ template: '{"subject": {{ toJson .Subject }}, "sans": {{ toJson .SANs }}, "keyUsage": ["digitalSignature"], "extKeyUsage": ["serverAuth", "clientAuth"]}' })!;
  const leaf = tpl.render(input());
  assert.equal(isDefaultShape(leaf, false), true);
  assert.equal(isDefaultShape(leaf, true), false, 'an RSA key needs keyEncipherment too');
  const common = {
    serialHex: '0a1b2c', spki, notBefore: now, notAfter: later, provisioner: { type: 1, name: 'p', credentialId: 'kid' },
    crlDistributionPoints: ['http://ca.example/crl'], ocspServers: ['http://ca.example/ocsp'],
  };
  const a = new x509.X509Certificate(fast.build({ ...common, commonName: leaf.commonName, sans: leaf.sans, rsa: false }).der);
  const b = await createTemplatedLeaf(leaf, common, issuer);
  const hex = (d: ArrayBuffer) => Buffer.from(d).toString('hex');
  assert.equal(hex(a.subjectName.toArrayBuffer()), hex(b.subjectName.toArrayBuffer()));
  assert.deepEqual(a.extensions.map((e) => hex(e.rawData)), b.extensions.map((e) => hex(e.rawData)));
  assert.equal(a.serialNumber, b.serialNumber);
  for (const t of ['{"subject": {"commonName": "x", "organization": "O"}, "keyUsage": ["digitalSignature"], "extKeyUsage": ["serverAuth", "clientAuth"]}',
    '{"subject": {"commonName": "x"}, "keyUsage": ["digitalSignature"], "extKeyUsage": ["serverAuth"]}',
    '{"subject": {"commonName": "x"}, "extKeyUsage": ["serverAuth", "clientAuth"]}',
    '{"subject": {"commonName": "x"}, "keyUsage": ["digitalSignature"], "extKeyUsage": ["serverAuth", "clientAuth"], "policyIdentifiers": "1.2.3"}']) {
    assert.equal(isDefaultShape(load({ template: t })!.render(input()), false), false, t);
  }
});
