// Server-side cost from /proc: CPU time and RSS of a process and every descendant, so the
// numbers stay right if the server ever forks workers (node:cluster, a signing helper).
import { execSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export const CLK_TCK = Number(execSync('getconf CLK_TCK', { encoding: 'utf8' }).trim()) || 100;

interface StatLine { ppid: number; ticks: number }

function readStat(pid: number): StatLine | undefined {
  let s: string;
  try {
    s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // exited between readdir and read
  }
  // comm (field 2) may contain spaces and parentheses; everything after the last ')' is fixed.
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state): ppid is field 4, utime..cstime are fields 14..17.
  // cutime/cstime hold the time of children that already exited and were reaped, so a worker
  // that dies mid-phase still counts and nothing is counted twice.
  const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  return { ppid: Number(f[1]), ticks };
}

/** The pid and all its live descendants, found by walking /proc/<n>/stat ppid links. */
export function processTree(root: number): Map<number, StatLine> {
  const all = new Map<number, StatLine>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(Number(name));
    if (st) all.set(Number(name), st);
  }
  const tree = new Map<number, StatLine>();
  const rootStat = all.get(root);
  if (!rootStat) return tree;
  tree.set(root, rootStat);
  // Repeated passes rather than a child index: the tree is a handful of processes.
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, st] of all) {
      if (!tree.has(pid) && tree.has(st.ppid)) {
        tree.set(pid, st);
        grew = true;
      }
    }
  }
  return tree;
}

/** CPU milliseconds (user + system) consumed so far by the process tree. */
export function treeCpuMs(root: number): number {
  let ticks = 0;
  for (const st of processTree(root).values()) ticks += st.ticks;
  return (ticks * 1000) / CLK_TCK;
}

function vmRssKiB(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Samples the tree's summed VmRSS every `everyMs` and keeps the maximum. The full /proc walk
 * runs only once a second because its cost lands on the client's CPU, which shares the cores.
 */
export function startRssSampler(root: number, everyMs = 100): { stop(): { startMiB: number; maxMiB: number } } {
  let pids = [...processTree(root).keys()];
  const sample = () => pids.reduce((sum, pid) => sum + vmRssKiB(pid), 0);
  const start = sample();
  let max = start;
  let n = 0;
  const timer = setInterval(() => {
    if (++n % Math.max(1, Math.round(1000 / everyMs)) === 0) pids = [...processTree(root).keys()];
    max = Math.max(max, sample());
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      max = Math.max(max, sample());
      return { startMiB: start / 1024, maxMiB: max / 1024 };
    },
  };
}

/** CPU milliseconds (user + system) of each thread of one process, keyed `comm#tid`. */
export function threadCpuMs(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      const s = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
      const comm = s.slice(s.indexOf('(') + 1, s.lastIndexOf(')'));
      const x = s.slice(s.lastIndexOf(')') + 2).split(' ');
      out.set(`${comm}#${t}`, (Number(x[11]) + Number(x[12])) * 1000 / CLK_TCK);
    } catch { /* gone */ }
  }
  return out;
}
