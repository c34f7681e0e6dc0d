// `stepstone serve` started at a terminal that then goes away (the ssh session drops, `script`
// dies): its stdout and stderr are a hung-up pty where every write fails with EIO. The CA must
// keep serving (the log lines are lost) and still stop promptly, with status 0, on SIGTERM. The
// same for a stdout that fails otherwise (a full disk), which stderr then reports once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, cli, request, stopProc } from '../helpers/ca.ts';

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

test('serve whose terminal vanished keeps serving, and exits 0 on SIGTERM within 15 s', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'stepstone-vanished-'));
  const home = join(dir, 'ca');
  const passwordFile = join(dir, 'password.txt');
  const statusFile = join(dir, 'status');
  writeFileSync(passwordFile, 'vanishing-terminal-pw\n', { mode: 0o600 });
  let pid = 0;
  let terminal: ReturnType<typeof spawn> | undefined;
  try {
    const init = cli(['init', '--name', 'Vanished', '--dns', 'localhost,127.0.0.1', '--address', '127.0.0.1:0', '--password-file', passwordFile, '--home', home]);
    assert.equal(init.status, 0, init.stderr);
    // The shell between `script` and the CLI ignores the hangup and outlives the terminal, so it
    // can record the CLI's exit status (the CLI is no child of this test).
    const serve = [process.execPath, BIN, 'serve', '--home', home, '--password-file', passwordFile, '--address', '127.0.0.1:0'].map(quote).join(' ');
    const shell = `trap '' HUP; ${serve}; echo $? > ${quote(statusFile)}`;
    terminal = spawn('script', ['-q', '-e', '-c', `sh -c ${quote(shell)}`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, SHELL: '/bin/sh' } });
    let out = '';
    terminal.stdout!.on('data', (d: Buffer) => { out += d.toString('utf8'); });
    terminal.stderr!.on('data', (d: Buffer) => { out += d.toString('utf8'); });
    const deadline = Date.now() + 60_000;
    let port = 0;
    while (!port && Date.now() < deadline) {
      port = Number(/"address":"127\.0\.0\.1:(\d+)"/.exec(out)?.[1] ?? 0);
      if (!port) await sleep(100);
    }
    assert.ok(port, `serve did not start on the terminal:\n${out}`);
    pid = Number(readFileSync(join(home, 'stepstone.pid'), 'utf8').trim());
    const ca = { url: `https://127.0.0.1:${port}`, rootPem: readFileSync(join(home, 'certs', 'root_ca.crt'), 'utf8') };

    // The terminal goes away.
    const gone = new Promise((r) => terminal!.once('exit', r));
    terminal.kill('SIGKILL');
    await gone;
    await sleep(500);
    assert.ok(alive(pid), 'serve died with its terminal');
    // A reload logs a line, to the dead terminal; so does each request.
    process.kill(pid, 'SIGHUP');
    await sleep(1000);
    const health = await Promise.race([request(ca, 'GET', '/health'), sleep(10_000).then(() => null)]);
    assert.equal(health?.status, 200, 'the CA stopped answering once its terminal vanished');

    process.kill(pid, 'SIGTERM');
    const stopBy = Date.now() + 15_000;
    while (!existsSync(statusFile) && Date.now() < stopBy) await sleep(100);
    assert.ok(existsSync(statusFile), 'serve did not exit within 15 s of SIGTERM');
    assert.equal(readFileSync(statusFile, 'utf8').trim(), '0');
  } finally {
    if (terminal && terminal.exitCode === null && terminal.signalCode === null) terminal.kill('SIGKILL');
    if (pid && alive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('serve whose stdout cannot be written (/dev/full) keeps serving, says so once on stderr, and exits 0 on SIGTERM', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'stepstone-devfull-'));
  const home = join(dir, 'ca');
  const passwordFile = join(dir, 'password.txt');
  writeFileSync(passwordFile, 'full-stdout-pw\n', { mode: 0o600 });
  const full = openSync('/dev/full', 'w');
  try {
    const init = cli(['init', '--name', 'Full', '--dns', 'localhost,127.0.0.1', '--address', '127.0.0.1:0', '--password-file', passwordFile, '--home', home]);
    assert.equal(init.status, 0, init.stderr);
    // No log line tells the port: pick one.
    const port = await new Promise<number>((res) => {
      const s = createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => res(p)); });
    });
    const proc = spawn(process.execPath, [BIN, 'serve', '--home', home, '--password-file', passwordFile, '--address', `127.0.0.1:${port}`], { stdio: ['ignore', full, 'pipe'] });
    let stderr = '';
    proc.stderr!.on('data', (d: Buffer) => { stderr += d.toString('utf8'); });
    try {
      const ca = { url: `https://127.0.0.1:${port}`, rootPem: readFileSync(join(home, 'certs', 'root_ca.crt'), 'utf8') };
      let health: Awaited<ReturnType<typeof request>> | null = null;
      // Each try bounded: a CA stuck at exit takes the connection and never answers.
      for (const end = Date.now() + 60_000; !health && proc.exitCode === null && Date.now() < end; await sleep(200)) {
        health = await Promise.race([request(ca, 'GET', '/health').catch(() => null), sleep(10_000).then(() => null)]);
      }
      assert.equal(health?.status, 200, `the CA did not serve (exit ${proc.exitCode}):\n${stderr}`);
      assert.equal((await request(ca, 'GET', '/health')).status, 200);
      assert.equal(stderr.match(/logging stopped, stdout cannot be written \(ENOSPC\)/g)?.length, 1, stderr);
      // stopProc SIGKILLs a process still running 15 s after SIGTERM (then null, not 0).
      assert.equal(await stopProc(proc), 0, stderr);
    } finally {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    }
  } finally {
    closeSync(full);
    rmSync(dir, { recursive: true, force: true });
  }
});
