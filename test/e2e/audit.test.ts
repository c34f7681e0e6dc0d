// The audit trail end to end: a real CA records its decisions (issued, renewed, revoked, refused,
// a refusal storm aggregated), `ledger events` reads them (filters, JSON, --follow), and
// `ledger verify` catches a real ledger file edited, cut, padded or shuffled, naming the first bad row.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { BIN, cli, request, startTestCa, stopProc, type TestCa } from '../helpers/ca.ts';
import { mintToken, opensslCsr, provisionerKey, type ProvisionerKey } from '../helpers/tokens.ts';
import { chainHash, type StoredAuditRow } from '../../src/ledger/audit-chain.ts';
import { verifyLedger } from '../../src/ledger/maintenance.ts';
import { openRaw } from '../../src/ledger/raw.ts';

let ca: TestCa;
let prov: ProvisionerKey;
let work: string;
const STORM = 150;
const tokens: string[] = [];

before(async () => {
  ca = await startTestCa({ configure: (c) => { c.stepstone = { ...c.stepstone, replica: 'replica-a', audit: { refusalWindow: '2s' } }; } });
  prov = await provisionerKey(ca.configPath, ca.password);
  work = mkdtempSync(join(tmpdir(), 'stepstone-audit-e2e-'));
});
after(async () => {
  await ca?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

async function sign(cn: string) {
  const { csrPem, keyPem } = opensslCsr(cn, [cn]);
  const ott = await mintToken(prov, { aud: `${ca.url}/1.0/sign`, sub: cn, sans: [cn] });
  tokens.push(ott);
  const r = await request(ca, 'POST', '/sign', { csr: csrPem, ott }, { headers: { 'x-request-id': `req-${cn}` } });
  assert.equal(r.status, 201, r.body);
  return { cert: r.json.crt as string, key: keyPem, serial: BigInt(`0x${new X509Certificate(r.json.crt).serialNumber}`).toString() };
}

const events = (args: string[] = []) => {
  const r = cli(['ledger', 'events', '--home', ca.home, '--json', ...args]);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);
};

/** `n` forged-token requests over one keep-alive connection: a storm from one client. */
async function storm(n: number): Promise<void> {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: ca.rootPem });
  const { csrPem } = opensslCsr('storm.internal', ['storm.internal']);
  const body = JSON.stringify({ csr: csrPem, ott: 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln' });
  try {
    for (let i = 0; i < n; i++) {
      const status = await new Promise<number>((resolve, reject) => {
        const req = https.request(`${ca.url}/1.0/sign`, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end(body);
      });
      assert.equal(status, 401);
    }
  } finally {
    agent.destroy();
  }
}

test('every decision is recorded with who, what and why; a refusal storm becomes at most two rows per window', async () => {
  const a = await sign('a.internal');
  const b = await sign('b.internal');
  assert.equal((await request(ca, 'POST', '/renew', undefined, { cert: a.cert, key: a.key, headers: { 'x-request-id': 'req-renew' } })).status, 201);
  const revokeOtt = await mintToken(prov, { aud: `${ca.url}/1.0/revoke`, sub: b.serial, sans: undefined });
  tokens.push(revokeOtt);
  assert.equal((await request(ca, 'POST', '/revoke', { serial: b.serial, ott: revokeOtt, reasonCode: 1, reason: 'laptop stolen' })).status, 200);
  const t0 = Date.now();
  await storm(STORM);
  const stormMs = Date.now() - t0;

  const all = events();
  const issued = all.find((e) => e.type === 'issued' && e.subject === 'a.internal')!;
  assert.ok(issued, JSON.stringify(all));
  assert.equal(issued.requestId, 'req-a.internal');
  assert.equal(issued.replica, 'replica-a');
  assert.equal(issued.clientAddress, '127.0.0.1');
  assert.equal(issued.provisioner, 'admin');
  assert.equal(issued.serial, a.serial);
  assert.deepEqual(issued.sans, ['a.internal']);
  assert.equal(issued.outcome, 'sign');
  const renewed = all.find((e) => e.type === 'renewed')!;
  assert.equal(renewed.requestId, 'req-renew');
  assert.equal(renewed.subject, 'a.internal');
  const revoked = all.filter((e) => e.type === 'revoked');
  assert.equal(revoked.length, 1);
  assert.equal(revoked[0]!.serial, b.serial);
  assert.equal(revoked[0]!.reason, '1: laptop stolen');
  assert.equal(revoked[0]!.outcome, 'token');
  // The CA's own serving certificate is on the record too.
  assert.ok(all.some((e) => e.type === 'issued' && e.outcome === 'serving'));
  // Never a token, in any field.
  const text = JSON.stringify(all);
  for (const t of tokens) for (const part of t.split('.')) assert.ok(!text.includes(part), 'a token reached the audit trail');

  // The storm: per 2 s window, its first refusal at once (with its request id), the rest of the
  // window as one aggregate row when the window closes.
  let refused: Record<string, any>[] = [];
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    refused = events(['--type', 'refused']).filter((e) => e.reason === 'token_invalid');
    if (refused.reduce((n, e) => n + e.count, 0) >= STORM) break;
    await new Promise((r) => setTimeout(r, 300));
  }
  assert.equal(refused.reduce((n, e) => n + e.count, 0), STORM, JSON.stringify(refused));
  // Windows last at least 2 s each, so the storm touched at most the one it began in, the whole
  // ones inside it, and the one it ended in.
  const windows = Math.floor(stormMs / 2000) + 2;
  assert.ok(refused.length <= 2 * windows, `${refused.length} rows for ${STORM} refusals over ${windows} windows`);
  assert.equal(refused[0]!.count, 1);
  for (const e of refused) {
    assert.equal(e.outcome, 'sign');
    assert.equal(e.clientAddress, '127.0.0.1');
    assert.equal(e.provisioner, null, 'a forged token names no provisioner');
    if (e.count === 1) assert.match(e.requestId, /^[0-9a-f-]{36}$/);
    else assert.equal(e.requestId, null);
  }
});

test('ledger events: --type, --since, table output, and --follow printing what happens next', async () => {
  const onlyRevoked = events(['--type', 'revoked', '--since', '1h']);
  assert.equal(onlyRevoked.length, 1);
  assert.deepEqual(events(['--since', '2000-01-01T00:00:00Z', '--type', 'renewed']).map((e) => e.type), ['renewed']);
  assert.equal(events(['--limit', '2']).length, 2);
  const table = cli(['ledger', 'events', '--home', ca.home, '--type', 'revoked']);
  assert.equal(table.status, 0, table.stderr);
  assert.match(table.stdout, /^\d+ {2}\S+Z {2}revoked {2}token: 1: laptop stolen {2}\d+ {2}admin {2}127\.0\.0\.1\n$/);
  const bad = cli(['ledger', 'events', '--home', ca.home, '--type', 'exploded']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /'exploded' is not an event type/);

  const follow = spawn(process.execPath, [BIN, 'ledger', 'events', '--home', ca.home, '--json', '--follow', '--type', 'issued'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    let out = '';
    follow.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const waitFor = async (re: RegExp) => {
      const deadline = Date.now() + 10_000;
      while (!re.test(out)) {
        assert.ok(Date.now() < deadline, `--follow never printed ${re}: ${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    await waitFor(/"subject":"b\.internal"/); // the backlog: the newest ten
    await sign('followed.internal');
    await waitFor(/"subject":"followed\.internal"/);
    assert.equal(out.split('\n').filter((l) => l.includes('followed.internal')).length, 1);
  } finally {
    await stopProc(follow, 'SIGINT');
  }
});

test('ledger verify: the untouched ledger is whole; an edit, a deletion, an insertion and a reordering are each caught at the first bad row', async () => {
  await ca.stop();
  const ok = cli(['ledger', 'verify', '--home', ca.home]);
  assert.equal(ok.status, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /audit trail: (\d+) events, chain head \1:[0-9a-f]{64}\n/);
  const n = Number(/audit trail: (\d+) events/.exec(ok.stdout)![1]);
  assert.ok(n >= 7);

  // Each on its own copy of the real ledger file. The four kinds go through the CLI (exit 1, the
  // first bad row named); the variants through the same check in process, which is quicker.
  const tampered = async (name: string, fn: (db: Database.Database) => void, via: 'cli' | 'process' = 'process') => {
    const file = join(work, `${name}.sqlite`);
    copyFileSync(ca.dbPath, file);
    if (existsSync(`${ca.dbPath}-wal`)) copyFileSync(`${ca.dbPath}-wal`, `${file}-wal`);
    const db = new Database(file);
    try {
      fn(db);
    } finally {
      db.close();
    }
    if (via === 'process') {
      const raw = await openRaw({ kind: 'sqlite', file }, { write: false });
      try {
        const report = await verifyLedger(raw, []);
        assert.equal(report.problemCount, 1, `${name}: ${report.problems.join('; ')}`);
        return report.problems[0]!;
      } finally {
        await raw.close();
      }
    }
    const r = cli(['ledger', 'verify', '--home', ca.home, '--db', file]);
    assert.equal(r.status, 1, `${name}: ${r.stdout}`);
    assert.match(r.stderr, /ledger verify: 1 problem/);
    return r.stdout;
  };
  const row = (db: Database.Database, seq: number) => db.prepare('SELECT * FROM audit_events WHERE seq = ?').get(seq) as StoredAuditRow;

  assert.match(await tampered('edited', (db) => db.prepare("UPDATE audit_events SET subject = 'evil.internal' WHERE seq = 3").run(), 'cli'),
    /^audit event 3 was edited: its content does not match its hash$/m);
  assert.match(await tampered('edited-count', (db) => db.prepare('UPDATE audit_events SET count = 1 WHERE count > 1').run()), /^audit event \d+ was edited/m);
  assert.match(await tampered('deleted', (db) => db.prepare('DELETE FROM audit_events WHERE seq = 4').run(), 'cli'),
    /^audit event 4 was deleted: the chain jumps from 3 to 5$/m);
  assert.match(await tampered('deleted-renumbered', (db) => {
    db.prepare('DELETE FROM audit_events WHERE seq = 4').run();
    db.prepare('UPDATE audit_events SET seq = -seq WHERE seq > 4').run();
    db.prepare('UPDATE audit_events SET seq = -seq - 1 WHERE seq < 0').run();
    db.prepare('UPDATE audit_head SET seq = seq - 1').run();
  }), /^an audit event before 4 was deleted/m);
  assert.match(await tampered('deleted-last', (db) => db.prepare('DELETE FROM audit_events WHERE seq = (SELECT max(seq) FROM audit_events)').run()),
    new RegExp(`^audit event ${n} deleted: the chain head records ${n} events$`, 'm'));
  // An insertion made to look right: renumbered after it, its own hash computed properly.
  assert.match(await tampered('inserted', (db) => {
    db.prepare('UPDATE audit_events SET seq = -seq WHERE seq >= 3').run();
    db.prepare('UPDATE audit_events SET seq = -seq + 1 WHERE seq < 0').run();
    const prev = row(db, 2);
    const forged = { ...row(db, 4), id: 'forged', subject: 'backdoor.internal', serial: '1', request_id: null };
    db.prepare('INSERT INTO audit_events (seq, id, time, type, actor, request_id, replica, client_address, provisioner, subject, sans, serial, outcome, reason, count, prev_hash, hash) VALUES (@seq, @id, @time, @type, @actor, @request_id, @replica, @client_address, @provisioner, @subject, @sans, @serial, @outcome, @reason, @count, @prev_hash, @hash)')
      .run({ ...forged, seq: 3, prev_hash: prev.hash, hash: chainHash(prev.hash, forged) });
    db.prepare('UPDATE audit_head SET seq = seq + 1').run();
  }, 'cli'), /^audit event 3 was inserted: 4 was written after 2$/m);
  assert.match(await tampered('appended', (db) => {
    const last = row(db, n);
    const forged = { ...last, id: 'forged' };
    db.prepare('INSERT INTO audit_events (seq, id, time, type, actor, request_id, replica, client_address, provisioner, subject, sans, serial, outcome, reason, count, prev_hash, hash) VALUES (@seq, @id, @time, @type, @actor, @request_id, @replica, @client_address, @provisioner, @subject, @sans, @serial, @outcome, @reason, @count, @prev_hash, @hash)')
      .run({ ...forged, seq: n + 1, prev_hash: last.hash, hash: chainHash(last.hash, forged) });
  }), new RegExp(`^audit event ${n + 1} was inserted after the last recorded event \\(${n}\\)$`, 'm'));
  assert.match(await tampered('reordered', (db) => {
    db.prepare('UPDATE audit_events SET seq = -1 WHERE seq = 3').run();
    db.prepare('UPDATE audit_events SET seq = 3 WHERE seq = 4').run();
    db.prepare('UPDATE audit_events SET seq = 4 WHERE seq = -1').run();
  }, 'cli'), /^audit event 3 is out of order: it was written after the row now at 4$/m);
});
