// When to renew (api.md §3.6) and how to split --exec, as pure functions so every branch can be
// tested with a fixed clock and a fixed random source.

/** The two dates renewal timing depends on; an x509.X509Certificate fits. */
export interface Validity { notBefore: Date; notAfter: Date }

/** Returns a number in [0, 1), like Math.random. */
export type Random = () => number;

const lifetimeOf = (c: Validity) => c.notAfter.getTime() - c.notBefore.getTime();
const remainingOf = (c: Validity, now: Date) => c.notAfter.getTime() - now.getTime();

/** The threshold E: --expires-in, else a third of the lifetime (renew once 2/3 of it has passed). */
export function renewThreshold(cert: Validity, expiresIn?: number): number {
  return expiresIn ?? lifetimeOf(cert) / 3;
}

/** Due when what is left of the certificate's life is at most the threshold (expired counts as due). */
export function needsRenewal(cert: Validity, now: Date, expiresIn?: number): boolean {
  return remainingOf(cert, now) <= renewThreshold(cert, expiresIn);
}

export interface DaemonSchedule { expiresIn?: number; renewPeriod?: number }

/** Milliseconds the daemon waits before its next renewal of `cert` (api.md §3.6, step's rule). */
export function nextRenewalDelay(cert: Validity, now: Date, o: DaemonSchedule, random: Random): number {
  const remaining = remainingOf(cert, now);
  if (o.renewPeriod !== undefined && o.renewPeriod > 0) return remaining <= o.renewPeriod ? 0 : o.renewPeriod;
  const jitter = lifetimeOf(cert) / 20;
  const d = remaining - renewThreshold(cert, o.expiresIn);
  if (d <= 0) return 0;
  // Close to the threshold the whole wait is random, so a fleet that all started late still spreads out.
  if (d < jitter) return Math.floor(random() * d);
  return Math.floor(d - random() * jitter);
}

export const RETRY_FIRST_MS = 60_000;
export const RETRY_MAX_MS = 10 * 60_000;
/** The shortest wait between attempts near expiry, so a dead CA is not hammered. */
export const RETRY_FLOOR_MS = 5_000;

/**
 * Wait after the `failures`-th consecutive failed renewal: a minute, doubling, at most ten. While
 * the certificate is still valid the wait is also capped at half of what remains, so a failure a
 * few minutes before expiry is retried before the certificate lapses, not after.
 */
export function retryDelay(failures: number, cert: Validity, now: Date): number {
  const backoff = Math.min(RETRY_FIRST_MS * 2 ** Math.max(0, failures - 1), RETRY_MAX_MS);
  const remaining = remainingOf(cert, now);
  if (remaining <= 0) return backoff;
  return Math.max(Math.min(backoff, Math.floor(remaining / 2)), RETRY_FLOOR_MS);
}

/**
 * Splits a command line into argv without a shell: whitespace separates words, '...' is literal,
 * "..." allows \" \\ \$ \` escapes, and a backslash outside quotes escapes the next character.
 * No globbing, variables or operators: `a; b` is the two words "a;" and "b".
 */
export function splitExec(cmd: string): string[] {
  const out: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '' | "'" | '"' = '';
  for (let i = 0; i < cmd.length; i++) {
    const c = cmd[i]!;
    if (quote === "'") {
      if (c === "'") quote = '';
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = '';
      else if (c === '\\' && i + 1 < cmd.length && '"\\$`'.includes(cmd[i + 1]!)) word += cmd[++i];
      else word += c;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(word);
      word = '';
      inWord = false;
    } else {
      inWord = true;
      if (c === "'" || c === '"') quote = c;
      else if (c === '\\') {
        if (i + 1 >= cmd.length) throw new Error('the command ends with a lone backslash');
        word += cmd[++i];
      } else word += c;
    }
  }
  if (quote) throw new Error(`unbalanced ${quote === '"' ? 'double' : 'single'} quote in the command`);
  if (inWord) out.push(word);
  return out;
}
