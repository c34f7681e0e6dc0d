// The web console on a PostgreSQL ledger, through a real CA process (the browser suite runs on
// SQLite, console.test.ts): counts, search, lineage and an admin revocation, over mTLS from node.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import https from 'node:https';
import pg from 'pg';
import { request, startTestCa, type TestCa } from '../helpers/ca.ts';
import { createDatabase, postgresMissing, type TestDatabase } from '../helpers/postgres.ts';
import { mintToken, opensslCsr, provisionerKey, type ProvisionerKey } from '../helpers/tokens.ts';

let ca: TestCa | undefined;
let db: TestDatabase | undefined;
let prov: ProvisionerKey;
let consoleUrl: string;
let missing: string | null = null;

interface Issued { crt: string; key: string; chain: string; serial: string }

async function issue(sub: string, sans: string[]): Promise<Issued> {
  const { csrPem, keyPem } = opensslCsr('', []);
  const r = await request(ca!, 'POST', '/sign', { csr: csrPem, ott: await mintToken(prov, { aud: `${ca!.url}/1.0/sign`, sub, sans }) });
  assert.equal(r.status, 201, r.body);
  return { crt: r.json.crt, key: keyPem, chain: r.json.certChain.join(''), serial: BigInt(`0x${new X509Certificate(r.json.crt).serialNumber}`).toString() };
}

function get(path: string, who: Issued, o: { method?: string; body?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; body: string; location?: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(`${consoleUrl}${path}`, {
      method: o.method ?? 'GET', ca: ca!.rootPem, cert: who.chain, key: who.key, agent: false, servername: 'localhost',
      headers: { ...(o.body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(Buffer.byteLength(o.body)) } : {}), ...o.headers },
    }, (res) => {
      let b = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (b += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b, location: res.headers.location }));
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

before(async () => {
  missing = await postgresMissing();
  if (missing) return;
  db = await createDatabase();
  ca = await startTestCa({
    configure: (c) => {
      c.db = { type: 'postgresql', dataSource: db!.url };
      c.stepstone.console = { address: '127.0.0.1:0', admins: ['pg-admin.example'] };
    },
  });
  const m = ca.logs.map((l) => /"consoleAddress":"127\.0\.0\.1:(\d+)"/.exec(l)).find(Boolean);
  assert.ok(m, ca.logs.join('\n'));
  consoleUrl = `https://127.0.0.1:${m[1]}`;
  prov = await provisionerKey(ca.configPath, ca.password);
});

after(async () => {
  await ca?.cleanup();
  await db?.drop();
});

test('console on PostgreSQL: counts, search, lineage, and a revocation recorded with its audit events', async (t) => {
  if (missing) return t.skip(missing);
  const admin = await issue('pg-admin.example', ['pg-admin.example']);
  const first = await issue('pg-web.example', ['pg-web.example']);
  const r = await request(ca!, 'POST', '/renew', undefined, { cert: first.chain, key: first.key });
  assert.equal(r.status, 201, r.body);
  const second = BigInt(`0x${new X509Certificate(r.json.crt).serialNumber}`).toString();

  const overview = await get('/', admin);
  assert.equal(overview.status, 200);
  const count = (id: string) => Number(new RegExp(`id="${id}"[^>]*><span class="value">([\\d,]+)<`).exec(overview.body)![1]!.replace(/,/g, ''));
  assert.equal(count('count-valid'), 3, 'admin, first, its renewal');
  assert.equal(count('count-expiring'), 3);
  assert.equal(count('count-revoked'), 0);
  assert.equal(count('count-issued-today'), 3);

  const list = await get('/certificates?q=pg-web&match=prefix', admin);
  assert.deepEqual([...list.body.matchAll(/<tr data-serial="(\d+)"/g)].map((x) => x[1]).sort(), [first.serial, second].sort());
  const contains = await get('/certificates?q=web.exa&match=contains&sort=issued&dir=desc', admin);
  assert.deepEqual([...contains.body.matchAll(/<tr data-serial="(\d+)"/g)].map((x) => x[1]), [second, first.serial]);

  const detail = await get(`/certificates/${first.serial}`, admin);
  assert.deepEqual([...detail.body.matchAll(/<li class="[^"]*" data-serial="(\d+)"/g)].map((x) => x[1]), [first.serial, second]);

  const form = await get(`/certificates/${second}/revoke`, admin);
  const csrf = /name="csrf" value="([^"]+)"/.exec(form.body)![1]!;
  const host = new URL(consoleUrl).host;
  const done = await get(`/certificates/${second}/revoke`, admin, { method: 'POST', body: `csrf=${csrf}&reasonCode=4&reason=replaced&confirm=yes`, headers: { origin: consoleUrl, host } });
  assert.equal(done.status, 303);
  assert.equal(done.location, `/certificates/${second}?done=revoked`);

  const sql = new pg.Client({ connectionString: db!.url });
  await sql.connect();
  try {
    const row = (await sql.query('SELECT revocation_reason_code, revocation_reason FROM certificates WHERE serial = $1', [second])).rows[0];
    assert.deepEqual(row, { revocation_reason_code: 4, revocation_reason: 'replaced' });
    const events = (await sql.query("SELECT type, actor, outcome FROM audit_events WHERE serial = $1 AND type IN ('revoked', 'admin') ORDER BY seq", [second])).rows;
    const actor = `pg-admin.example (certificate ${admin.serial})`;
    assert.deepEqual(events, [{ type: 'revoked', actor, outcome: 'admin' }, { type: 'admin', actor, outcome: 'revoke' }]);
  } finally {
    await sql.end();
  }
  // The counts follow (loads within 2 s share one count: wait it out rather than race it).
  let revoked = 0;
  for (let i = 0; i < 40 && revoked !== 1; i++) {
    await new Promise((res) => setTimeout(res, 250));
    const again = await get('/', admin);
    revoked = Number(/id="count-revoked"[^>]*><span class="value">(\d+)</.exec(again.body)![1]);
  }
  assert.equal(revoked, 1);
});
