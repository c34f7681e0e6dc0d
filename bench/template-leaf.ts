// Micro-benchmark: what a certificate template costs per issuance. The default leaf on its fast
// path (fast-leaf.ts, what provisioners without a template use), step-ca's default leaf template
// (rendered and checked, then signed on the fast path: same shape), and a custom template signed
// by the template builder (cert-template.ts, templated-leaf.ts). One process, P-256,
// interleaved runs, median reported. Not part of npm test.
//
//   node --import tsx bench/template-leaf.ts [--seconds 2] [--runs 5]
import { performance } from 'node:perf_hooks';
import { randomSerialHex } from '../src/authority/profiles.ts';
import { LeafTemplate } from '../src/authority/fast-leaf.ts';
import { CertTemplate, GoCertificateRequest, GoSubject, sanOf } from '../src/authority/cert-template.ts';
import { createTemplatedLeaf } from '../src/authority/templated-leaf.ts';
import { GO_TYPE } from '../src/authority/go-template.ts';
import type { ProvisionerConfig } from '../src/config/schema.ts';
import { DEFAULT_LEAF } from '../test/helpers/step-templates.ts';
import { benchIssuer, DAY, flag } from './issuer.ts';

const SECONDS = flag('seconds', 2);
const RUNS = flag('runs', 5);


const { issuer, spki } = await benchIssuer();
const fast = await LeafTemplate.create(issuer);
const tpl = CertTemplate.load({ type: 'JWK', name: 'bench', options: { x509: { template: DEFAULT_LEAF } } } as ProvisionerConfig, 0, (p) => p)!;
const name = 'host-1.bench.internal';
const sans = [{ type: 'dns' as const, value: name }];
const provisioner = { type: 1, name: 'admin@bench.internal', credentialId: 'x8Zb0Wn3c4T0CqAyKJq0nJbL1Z2pGZ9X3V0wqgQz7Zk' };
const cdp = ['https://ca.bench.internal/1.0/crl'];
const times = () => ({ notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + DAY) });
const input = () => ({
  subject: GoSubject.ofCommonName(name), sans: sans.map(sanOf), token: { sub: name },
  cr: new GoCertificateRequest(GoSubject.ofCommonName(name), [name], [], [], [], { [GO_TYPE]: '*ecdsa.PublicKey' }), user: {},
});

const OPENVPN_SERVER = '{ "subject": {{ toJson .Subject }}, "sans": {{ toJson .SANs }}, "keyUsage": ["digitalSignature", "keyEncipherment", "keyAgreement"], "extKeyUsage": ["serverAuth"] }';
const custom = CertTemplate.load({ type: 'JWK', name: 'bench', options: { x509: { template: OPENVPN_SERVER } } } as ProvisionerConfig, 0, (p) => p)!;

const variants: { name: string; issue: () => Promise<unknown> }[] = [
  { name: 'default leaf, fast path', issue: () => fast.buildAsync({ serialHex: randomSerialHex(), commonName: name, sans, spki, ...times(), rsa: false, provisioner, crlDistributionPoints: cdp }) },
  {
    name: 'default leaf as a template',
    // What the CA does with it: rendered and checked, then signed on the fast path (same shape).
    issue: () => {
      tpl.render(input());
      return fast.buildAsync({ serialHex: randomSerialHex(), commonName: name, sans, spki, ...times(), rsa: false, provisioner, crlDistributionPoints: cdp });
    },
  },
  {
    name: 'custom template (OpenVPN server)',
    issue: () => {
      const leaf = custom.render(input());
      return createTemplatedLeaf(leaf, { serialHex: randomSerialHex(), spki, ...times(), provisioner, crlDistributionPoints: cdp, ocspServers: [] }, issuer);
    },
  },
];

async function run(v: (typeof variants)[number], seconds: number): Promise<number> {
  let n = 0;
  const start = performance.now();
  let t = start;
  while (t < start + seconds * 1000) {
    for (let i = 0; i < 16; i++) await v.issue();
    n += 16;
    t = performance.now();
  }
  return n / ((t - start) / 1000);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
for (const v of variants) await run(v, Math.min(0.3, SECONDS));
const rates = new Map<string, number[]>(variants.map((v) => [v.name, []]));
for (let r = 0; r < RUNS; r++) for (const v of variants) rates.get(v.name)!.push(await run(v, SECONDS));
for (const v of variants) {
  const rate = median(rates.get(v.name)!);
  process.stdout.write(`${v.name.padEnd(30)} ${rate.toFixed(0).padStart(7)} leaves/s  ${(1000 / rate).toFixed(3)} ms/leaf\n`);
}
