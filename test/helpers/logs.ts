// Waiting for a line in a child process's log: polled with a deadline, never read once.

/** Resolves with the first match of `re` among `lines` (which keep growing), or rejects at the deadline. */
export async function waitForLog(lines: string[], re: RegExp, ms: number): Promise<RegExpExecArray> {
  const deadline = Date.now() + ms;
  for (;;) {
    for (const line of lines) {
      const m = re.exec(line);
      if (m) return m;
    }
    if (Date.now() > deadline) throw new Error(`no log line matched ${re} within ${ms} ms:\n${lines.slice(-20).join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
