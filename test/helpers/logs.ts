// Waiting for asynchronous output (a child's log line, a delivery, a file): polled with a
// deadline, never read once. pino writes asynchronously, so a line a request produced may reach
// us after its response; and a check satisfied by earlier lines proves nothing about this one.

/** Resolves with the first truthy value `probe` returns, or fails naming `what` at the deadline. */
export async function pollUntil<T>(what: string, ms: number, probe: () => T | undefined | null | false | Promise<T | undefined | null | false>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Resolves with the first match of `re` among `lines` (which keep growing), or rejects at the deadline. */
export async function waitForLog(lines: string[], re: RegExp, ms: number): Promise<RegExpExecArray> {
  try {
    return await pollUntil(`a log line matching ${re}`, ms, () => {
      for (const line of lines) {
        const m = re.exec(line);
        if (m) return m;
      }
      return null;
    });
  } catch (e) {
    throw new Error(`${(e as Error).message}:\n${lines.slice(-20).join('\n')}`);
  }
}

/** A request id to send as X-Request-Id, so its own log line can be awaited. */
export function markerId(label: string): string {
  return `${label}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}

/**
 * Waits for a log line of the request sent with X-Request-Id `id`: with message `msg` when it is a
 * string, matching it when it is a RegExp. Lines of one stream arrive in order, so once it is
 * here every earlier line is too.
 */
export async function waitForRequestLog(lines: string[], id: string, ms = 15_000, msg?: string | RegExp): Promise<string> {
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const mine = `"reqId":"${esc(id)}"`;
  const re = msg instanceof RegExp ? new RegExp(`^(?=.*${mine})(?=.*(?:${msg.source}))`) : new RegExp(`^(?=.*${mine})${msg ? `(?=.*"msg":"${esc(msg)}")` : ''}`);
  await waitForLog(lines, re, ms);
  return lines.find((l) => re.test(l))!;
}
