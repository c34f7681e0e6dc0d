// Certificate templates on a real CA, one provisioner per template from smallstep's documentation;
// each issued certificate is read back with openssl. Then what templates may not do: make a CA
// certificate or a certificate without names (400, nothing recorded), carry a name the policy
// denies (403), and start with a syntax error (the start stops, naming file and line).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createProvisionerKey } from '../../src/pki/provisioner-key.ts';
import { cli, request, startTestCa, type TestCa } from '../helpers/ca.ts';
import { mintToken, provisionerKey, type ProvisionerKey } from '../helpers/tokens.ts';
import { DEFAULT_LEAF } from '../helpers/step-templates.ts';

const TEMPLATES: Record<string, { template?: string; templateFile?: string; templateData?: Record<string, unknown> }> = {
  'default-leaf': { templateFile: 'templates/x509/leaf.tpl' },
  'csr-subject': { template: '{ "subject": {{ toJson .Insecure.CR.Subject }}, "sans": {{ toJson .SANs }}, "keyUsage": ["digitalSignature"], "extKeyUsage": ["serverAuth", "clientAuth"] }' },
  'org-ou': {
    templateData: { OrganizationalUnit: 'Engineering Team' },
    template: `{
    "subject": {
        "organization": "Acme Corp",
        "organizationalUnit": {{ toJson .OrganizationalUnit }},
        "commonName": {{ toJson .Subject.CommonName }}
    },
    "sans": {{ toJson .SANs }},
    "keyUsage": ["digitalSignature"],
    "extKeyUsage": ["serverAuth", "clientAuth"]
}`,
  },
  'vpn-server': { template: '{ "subject": {{ toJson .Subject }}, "sans": {{ toJson .SANs }}, "keyUsage": ["digitalSignature", "keyEncipherment", "keyAgreement"], "extKeyUsage": ["serverAuth"] }' },
  'vpn-client': { template: '{ "subject": {"commonName": {{ toJson .Insecure.CR.Subject.CommonName }}}, "sans": {{ toJson .SANs }}, "keyUsage": ["digitalSignature", "keyAgreement"], "extKeyUsage": ["clientAuth"] }' },
  spiffe: { template: '{ "subject": {{ toJson .Subject }}, "sans": [{"type": "uri", "value": {{ printf "spiffe://trust.example/%s" .Token.sub | toJson }}}], "keyUsage": ["digitalSignature"], "extKeyUsage": ["serverAuth", "clientAuth"] }' },
  'user-data': {
    template: `{
	"subject": {{ toJson .Subject }},
{{- if .Insecure.User.dnsName }}
	"dnsNames": {{ toJson .Insecure.User.dnsName }},
{{- else }}
	"sans": {{ toJson .SANs }},
{{- end }}
	"keyUsage": ["digitalSignature"],
	"extKeyUsage": ["serverAuth", "clientAuth"]
}`,
  },
  'makes-ca': { template: '{ "subject": {{ toJson .Subject }}, "sans": {{ toJson .SANs }}, "keyUsage": ["certSign", "crlSign"], "basicConstraints": {"isCA": true, "maxPathLen": 0} }' },
  'raw-ca': { template: '{ "subject": {{ toJson .Subject }}, "sans": {{ toJson .SANs }}, "extensions": [{"id": "2.5.29.19", "critical": true, "value": "MAMBAf8="}] }' },
  'no-names': { template: '{ "subject": {}, "keyUsage": ["digitalSignature"] }' },
  asn1: {
    template: `{
	"subject": {{ toJson .Subject }},
	"sans": {{ toJson .SANs }},
	"keyUsage": ["digitalSignature"],
	"extKeyUsage": ["serverAuth", "clientAuth"],
	"extensions": [
		{"id": "1.2.3.4", "critical": false, "value": {{ asn1Enc "int:3848281" | toJson }}},
		{"id": "1.2.3.5", "value": {{ asn1Set (asn1Marshal (first .Insecure.CR.DNSNames) "utf8") (asn1Enc "int:123456") | toJson }}},
		{"id": "1.2.3.6", "value": {{ asn1Seq (asn1Enc "YubiKey") (asn1Enc "int:123456") | toJson }}}
	]
}`,
  },
  fails: { template: '{{ if not (hasSuffix ".example.com" .Token.sub) }}{{ fail "only example.com names" }}{{ end }}{ "subject": {{ toJson .Subject }}, "sans": {{ toJson .SANs }} }' },
};

let ca: TestCa;
let work: string;
const keys = new Map<string, ProvisionerKey>();

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'stepstone-templates-'));
  const names = Object.keys(TEMPLATES);
  const pairs = await Promise.all(names.map(() => createProvisionerKey('tpl-pw')));
  ca = await startTestCa({
    configure: (c) => {
      c.authority.policy = { x509: { deny: { dns: ['forbidden.example.com'] } } };
      names.forEach((name, i) => c.authority.provisioners.push({
        type: 'JWK', name, key: pairs[i]!.publicJwk, encryptedKey: pairs[i]!.encryptedKey, options: { x509: TEMPLATES[name] },
      }));
    },
    beforeServe: (home) => {
      mkdirSync(join(home, 'templates', 'x509'), { recursive: true });
      writeFileSync(join(home, 'templates', 'x509', 'leaf.tpl'), DEFAULT_LEAF);
    },
  });
  for (const name of names) keys.set(name, await provisionerKey(ca.configPath, 'tpl-pw', name));
});
after(async () => {
  await ca.cleanup();
  rmSync(work, { recursive: true, force: true });
});

let n = 0;
/** A CSR from openssl with this subject and key, signed through the provisioner's template. */
async function sign(provisioner: string, sub: string, o: { subj?: string; rsa?: boolean; sans?: string[]; csrSans?: string[]; templateData?: unknown } = {}) {
  const dir = join(work, `r${n++}`);
  mkdirSync(dir);
  const keyArgs = o.rsa ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  const addext = o.csrSans ? ['-addext', `subjectAltName=${o.csrSans.map((n) => `DNS:${n}`).join(',')}`] : [];
  execFileSync('openssl', ['req', '-new', ...keyArgs, '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'r.csr'), '-subj', o.subj ?? `/CN=${sub}`, ...addext], { stdio: 'pipe' });
  const ott = await mintToken(keys.get(provisioner)!, { iss: provisioner, aud: `${ca.url}/1.0/sign`, sub, sans: o.sans ?? [sub] });
  const r = await request(ca, 'POST', '/1.0/sign', { csr: readFileSync(join(dir, 'r.csr'), 'utf8'), ott, ...(o.templateData ? { templateData: o.templateData } : {}) });
  let text = '';
  if (r.status === 201) {
    writeFileSync(join(dir, 'c.pem'), r.json.crt);
    text = execFileSync('openssl', ['x509', '-in', join(dir, 'c.pem'), '-noout', '-text', '-nameopt', 'RFC2253'], { encoding: 'utf8' });
  }
  return { ...r, text };
}

const line = (text: string, header: string) => {
  const lines = text.split('\n');
  const i = lines.findIndex((l) => l.trim().startsWith(header));
  return i === -1 ? null : { header: lines[i]!.trim(), value: lines[i + 1]!.trim() };
};
const subject = (text: string) => /Subject: (.*)/.exec(text)![1]!;

test('the default leaf template, from a file: same fields as the built-in default (EC and RSA)', async () => {
  const ec = await sign('default-leaf', 'web.example.com');
  assert.equal(ec.status, 201, ec.body);
  assert.equal(subject(ec.text), 'CN=web.example.com');
  assert.deepEqual(line(ec.text, 'X509v3 Key Usage'), { header: 'X509v3 Key Usage: critical', value: 'Digital Signature' });
  assert.equal(line(ec.text, 'X509v3 Extended Key Usage')!.value, 'TLS Web Server Authentication, TLS Web Client Authentication');
  assert.equal(line(ec.text, 'X509v3 Subject Alternative Name')!.value, 'DNS:web.example.com');
  assert.match(ec.text, /X509v3 Subject Key Identifier/);
  assert.match(ec.text, /X509v3 Authority Key Identifier/);
  assert.match(ec.text, /1\.3\.6\.1\.4\.1\.37476\.9000\.64\.1/, 'the step provisioner extension');
  const rsa = await sign('default-leaf', 'rsa.example.com', { rsa: true });
  assert.equal(rsa.status, 201, rsa.body);
  assert.equal(line(rsa.text, 'X509v3 Key Usage')!.value, 'Digital Signature, Key Encipherment');
});

test('keep the CSR subject: organisation, units, locality come from the request', async () => {
  const r = await sign('csr-subject', 'app.example.com', { subj: '/C=US/O=Acme/OU=Eng/OU=Ops/L=SF/CN=app.example.com' });
  assert.equal(r.status, 201, r.body);
  // Both units in one RDN, as Go encodes repeated attributes (openssl prints the SET's order).
  assert.match(subject(r.text), /^CN=app\.example\.com,L=SF,OU=(Eng\+OU=Ops|Ops\+OU=Eng),O=Acme,C=US$/);
});

test('add O and OU (OU from the provisioner\'s templateData)', async () => {
  const r = await sign('org-ou', 'svc.example.com', { subj: '/O=Ignored/CN=svc.example.com' });
  assert.equal(r.status, 201, r.body);
  assert.equal(subject(r.text), 'CN=svc.example.com,OU=Engineering Team,O=Acme Corp');
});

test('serverAuth-only and clientAuth-only (the OpenVPN templates)', async () => {
  const server = await sign('vpn-server', 'vpn.example.com');
  assert.equal(server.status, 201, server.body);
  assert.equal(line(server.text, 'X509v3 Extended Key Usage')!.value, 'TLS Web Server Authentication');
  assert.equal(line(server.text, 'X509v3 Key Usage')!.value, 'Digital Signature, Key Encipherment, Key Agreement');
  const client = await sign('vpn-client', 'alice', { subj: '/CN=alice' });
  assert.equal(client.status, 201, client.body);
  assert.equal(line(client.text, 'X509v3 Extended Key Usage')!.value, 'TLS Web Client Authentication');
  assert.equal(line(client.text, 'X509v3 Key Usage')!.value, 'Digital Signature, Key Agreement');
  assert.equal(subject(client.text), 'CN=alice');
});

test('a SPIFFE URI from the token subject', async () => {
  const r = await sign('spiffe', 'billing-api');
  assert.equal(r.status, 201, r.body);
  assert.equal(line(r.text, 'X509v3 Subject Alternative Name')!.value, 'URI:spiffe://trust.example/billing-api');
  assert.equal(subject(r.text), 'CN=billing-api');
});

test('user data (.Insecure.User from the request\'s templateData), judged by the name policy', async () => {
  const withUser = await sign('user-data', 'front.example.com', { templateData: { dnsName: 'backend.example.com' } });
  assert.equal(withUser.status, 201, withUser.body);
  assert.equal(line(withUser.text, 'X509v3 Subject Alternative Name')!.value, 'DNS:backend.example.com');
  const without = await sign('user-data', 'front.example.com');
  assert.equal(line(without.text, 'X509v3 Subject Alternative Name')!.value, 'DNS:front.example.com');
  const denied = await sign('user-data', 'front.example.com', { templateData: { dnsName: 'forbidden.example.com' } });
  assert.equal(denied.status, 403);
  assert.match(denied.json.message, /dns name "forbidden\.example\.com" not allowed: denied by the authority policy/);
});

test('the documented ASN.1 extensions (asn1Enc, asn1Marshal, asn1Set, asn1Seq) land in the certificate as written', async () => {
  const r = await sign('asn1', 'hsm.example.com', { csrSans: ['hsm.example.com'] });
  assert.equal(r.status, 201, r.body);
  assert.match(r.text, /1\.2\.3\.4:\s*\n\s*\S/);
  const { x509 } = await import('../../src/pki/x509.ts');
  const cert = new x509.X509Certificate(r.json.crt);
  const ext = (oid: string) => Buffer.from(cert.getExtension(oid)!.value).toString('hex');
  assert.equal(ext('1.2.3.4'), '02033ab859');
  assert.equal(ext('1.2.3.5'), `3116${'0c0f'}${Buffer.from('hsm.example.com').toString('hex')}020301e240`);
  assert.equal(ext('1.2.3.6'), '300e1307597562694b6579020301e240');
  assert.equal(cert.getExtension('1.2.3.4')!.critical, false);
});

test('a template that would make a CA certificate, or one without names, is a 400 and nothing is recorded', async () => {
  const before = cli(['ledger', 'events', '--home', ca.home, '--json', '--type', 'issued']).stdout.trim().split('\n').length;
  const ca1 = await sign('makes-ca', 'x.example.com');
  assert.equal(ca1.status, 400);
  assert.match(ca1.json.message, /template authority\.provisioners\[\d+\]\.options\.x509\.template: (would make a CA certificate \(basicConstraints\.isCA\)|would make a CA certificate \(keyUsage certSign\))/);
  const ca2 = await sign('raw-ca', 'x.example.com');
  assert.equal(ca2.status, 400);
  assert.match(ca2.json.message, /extension 2\.5\.29\.19 \(basicConstraints\) cannot be set raw/);
  const none = await sign('no-names', 'x.example.com');
  assert.equal(none.status, 400);
  assert.match(none.json.message, /leaves the certificate without a subject common name or any subject alternative name/);
  const failed = await sign('fails', 'host.other.org');
  assert.equal(failed.status, 400);
  assert.match(failed.json.message, /line 1: fail: only example\.com names/);
  assert.equal((await sign('fails', 'ok.example.com')).status, 201);
  const afterCount = cli(['ledger', 'events', '--home', ca.home, '--json', '--type', 'issued']).stdout.trim().split('\n').length;
  assert.equal(afterCount, before + 1, 'only the last request was recorded');
});

test('a template syntax error stops the start, naming the file and the line', () => {
  const cfg = JSON.parse(readFileSync(ca.configPath, 'utf8'));
  const file = join(ca.home, 'templates', 'x509', 'broken.tpl');
  writeFileSync(file, '{\n  "subject": {{ toJson .Subject }},\n  "sans": {{ toJsn .SANs }}\n}\n');
  cfg.authority.provisioners[1].options = { x509: { templateFile: 'templates/x509/broken.tpl' } };
  const bad = join(ca.home, 'config', 'broken.json');
  writeFileSync(bad, JSON.stringify(cfg));
  const r = cli(['serve', bad, '--password-file', ca.passwordFile, '--address', '127.0.0.1:0']);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, new RegExp(`template ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:3: function "toJsn" not defined`));
  cfg.authority.provisioners[1].options = { x509: { template: '{{ template "other" }}' } };
  writeFileSync(bad, JSON.stringify(cfg));
  const r2 = cli(['serve', bad, '--password-file', ca.passwordFile, '--address', '127.0.0.1:0']);
  assert.match(r2.stderr, /template authority\.provisioners\[1\]\.options\.x509\.template:1: "template" is not supported/);
});
