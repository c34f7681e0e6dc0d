// Micro-benchmark: leaf issuances per second, @peculiar/x509 reference (createLeafCertificate)
// against the DER template (src/authority/fast-leaf.ts). One process, P-256 issuer and leaf,
// a fresh serial per certificate, SANs/CDP/provisioner extension as /sign would add them.
// Each variant runs 5 × 2 s, interleaved; the median is reported. Not part of npm test.
//
//   node --import tsx bench/fast-leaf.ts [--seconds 2] [--runs 5]
import { X509Certificate } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { arch, cpus, release } from 'node:os';
import { x509 } from '../src/pki/x509.ts';
import { createLeafCertificate, randomSerialHex, type LeafRequest } from '../src/authority/profiles.ts';
import { LeafTemplate } from '../src/authority/fast-leaf.ts';
import { benchIssuer, DAY, flag } from './issuer.ts';

const SECONDS = flag('seconds', 2);
const RUNS = flag('runs', 5);

const { issuer, spki } = await benchIssuer();
const template = await LeafTemplate.create(issuer);

function request(): LeafRequest {
  const t = Date.now();
  return {
    serialHex: randomSerialHex(),
    commonName: 'host-1.bench.internal',
    sans: [{ type: 'dns', value: 'host-1.bench.internal' }],
    spki,
    notBefore: new Date(t - 60_000),
    notAfter: new Date(t + DAY),
    rsa: false,
    provisioner: { type: 1, name: 'admin@bench.internal', credentialId: 'x8Zb0Wn3c4T0CqAyKJq0nJbL1Z2pGZ9X3V0wqgQz7Zk' },
    crlDistributionPoints: ['https://ca.bench.internal/1.0/crl'],
  };
}

type Variant = { name: string; issue: () => Promise<unknown> | unknown };
const variants: Variant[] = [
  { name: 'reference (@peculiar/x509)', issue: () => createLeafCertificate(request(), issuer) },
  { name: 'fast (DER template, sync sign)', issue: () => template.build(request()) },
  { name: 'fast + node X509Certificate parse', issue: () => new X509Certificate(template.build(request()).der) },
  { name: 'fast + @peculiar/x509 parse', issue: () => new x509.X509Certificate(template.build(request()).der) },
];

async function run(v: Variant, seconds: number): Promise<number> {
  let n = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  let t = start;
  while (t < end) {
    for (let i = 0; i < 16; i++) await v.issue();
    n += 16;
    t = performance.now();
  }
  return n / ((t - start) / 1000);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

for (const v of variants) await run(v, 0.3); // warm-up
const rates = new Map<string, number[]>(variants.map((v) => [v.name, []]));
for (let r = 0; r < RUNS; r++) {
  for (const v of variants) {
    rates.get(v.name)!.push(await run(v, SECONDS));
    process.stderr.write('.');
  }
}
process.stderr.write('\n');

const cpu = cpus()[0]?.model ?? 'unknown CPU';
console.log(`fast-leaf micro-benchmark: ${new Date().toISOString()}, Node ${process.version}, ${arch()} ${release()}, ${cpu} ×${cpus().length}`);
console.log(`P-256 issuer and leaf, one process, median of ${RUNS} runs of ${SECONDS} s each\n`);
const ref = median(rates.get(variants[0]!.name)!);
for (const v of variants) {
  const xs = rates.get(v.name)!;
  const m = median(xs);
  console.log(`${v.name.padEnd(36)} ${m.toFixed(0).padStart(7)} /s  ${(1000 / m).toFixed(3).padStart(7)} ms each  ×${(m / ref).toFixed(1).padStart(5)}   runs: ${xs.map((x) => x.toFixed(0)).join(' ')}`);
}
console.log(`\nratio fast / reference: ${(median(rates.get(variants[1]!.name)!) / ref).toFixed(1)}×`);
