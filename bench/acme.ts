// `npm run bench -- --acme`: full ACME order flows per second (newOrder → http-01 against a local
// responder → finalize → download, each client its own account) at concurrency C, beside POST
// /1.0/sign on the same CA. IP identifiers (127.0.0.1): no DNS in the measurement.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { startTestCa, request, type TestCa } from '../test/helpers/ca.ts';
import { freePort } from '../test/helpers/acme.ts';
import { AcmeTestClient, csrFor } from '../test/helpers/acme-client.ts';
import { mintToken, provisionerKey } from '../test/helpers/tokens.ts';
import { toPem } from '../src/pki/pem.ts';

export interface AcmeBenchOptions { flows: number; concurrency: number; progress: (msg: string) => void }
export interface AcmeBenchRow { path: string; n: number; concurrency: number; perSecond: number; p50Ms: number; p99Ms: number; failures: number }

async function pool(n: number, c: number, worker: (slot: number) => (i: number) => Promise<void>): Promise<{ ms: number[]; failures: number; seconds: number }> {
  const ms: number[] = [];
  let next = 0;
  let failures = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: c }, async (_, slot) => {
    const one = worker(slot);
    for (let i = next++; i < n; i = next++) {
      const t = performance.now();
      try {
        await one(i);
        ms.push(performance.now() - t);
      } catch {
        failures++;
      }
    }
  }));
  return { ms: ms.sort((a, b) => a - b), failures, seconds: (performance.now() - start) / 1000 };
}

const pct = (s: number[], p: number) => (s.length ? s[Math.min(s.length - 1, Math.floor(s.length * p))]! : 0);

export async function acmeBench(o: AcmeBenchOptions): Promise<AcmeBenchRow[]> {
  const answers = new Map<string, string>();
  const httpPort = await freePort();
  const responder = http.createServer((req, res) => {
    const a = answers.get(req.url?.split('/').pop() ?? '');
    if (a) res.end(a);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => responder.listen(httpPort, '127.0.0.1', r));
  let ca: TestCa | null = null;
  try {
    ca = await startTestCa({
      configure: (cfg) => {
        cfg.authority.provisioners.push({ type: 'ACME', name: 'acme', challenges: ['http-01'] });
        cfg.stepstone = { ...cfg.stepstone, rateLimit: { enabled: false }, acme: { validation: { httpPort, concurrency: 16 }, rateLimit: { enabled: false } } };
      },
    });
    const theCa = ca;
    const rows: AcmeBenchRow[] = [];

    o.progress(`/1.0/sign: ${o.flows} requests at c=${o.concurrency}`);
    const key = await provisionerKey(theCa.configPath, theCa.password);
    const csrs = await Promise.all(Array.from({ length: o.flows }, async (_, i) => toPem(Buffer.from((await csrFor({ dns: [`s${i}.bench.test`] }, `s${i}.bench.test`)).csr, 'base64url'), 'CERTIFICATE REQUEST')));
    const sign = await pool(o.flows, o.concurrency, () => async (i) => {
      const ott = await mintToken(key, { sub: `s${i}.bench.test`, sans: [`s${i}.bench.test`], aud: `${theCa.url}/1.0/sign` });
      const r = await request(theCa, 'POST', '/1.0/sign', { csr: csrs[i], ott });
      if (r.status !== 201) throw new Error(r.body);
    });
    rows.push({ path: 'POST /1.0/sign', n: o.flows, concurrency: o.concurrency, perSecond: (o.flows - sign.failures) / sign.seconds, p50Ms: pct(sign.ms, 0.5), p99Ms: pct(sign.ms, 0.99), failures: sign.failures });

    o.progress(`ACME order flow: ${o.flows} flows at c=${o.concurrency}`);
    const directory = `${theCa.url}/acme/acme/directory`;
    const clients = await Promise.all(Array.from({ length: o.concurrency }, async () => {
      const c = await AcmeTestClient.create(theCa.rootPem, directory);
      await c.register();
      return c;
    }));
    const flowCsr = await csrFor({ ip: ['127.0.0.1'] });
    const flows = await pool(o.flows, o.concurrency, (slot) => async () => {
      const c = clients[slot]!;
      const order = await c.newOrder([{ type: 'ip', value: '127.0.0.1' }]);
      if (order.status !== 201) throw new Error(order.body);
      const z = await c.post(order.json.authorizations[0], '');
      const ch = z.json.challenges.find((x: { type: string }) => x.type === 'http-01');
      answers.set(ch.token, await c.keyAuthorization(ch.token));
      await c.post(ch.url, {});
      const ready = await c.poll(String(order.headers.location), (r) => r.json.status !== 'pending', 60_000);
      answers.delete(ch.token);
      if (ready.json.status !== 'ready') throw new Error(ready.body);
      const fin = await c.post(ready.json.finalize, { csr: flowCsr.csr });
      if (fin.json?.status !== 'valid') throw new Error(fin.body);
      const cert = await c.post(fin.json.certificate, '');
      if (cert.status !== 200) throw new Error(cert.body);
    });
    rows.push({ path: 'ACME flow (newOrder→http-01→finalize→download)', n: o.flows, concurrency: o.concurrency, perSecond: (o.flows - flows.failures) / flows.seconds, p50Ms: pct(flows.ms, 0.5), p99Ms: pct(flows.ms, 0.99), failures: flows.failures });
    return rows;
  } finally {
    await ca?.cleanup();
    await new Promise((r) => responder.close(r));
  }
}

export function acmeTable(rows: AcmeBenchRow[]): string {
  const lines = ['| path | n | c | per second | p50 ms | p99 ms | failures |', '|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.path} | ${r.n} | ${r.concurrency} | ${r.perSecond.toFixed(1)} | ${r.p50Ms.toFixed(1)} | ${r.p99Ms.toFixed(1)} | ${r.failures} |`)];
  return lines.join('\n');
}
