// What a test needs from the machine (a binary, root's tmpfs mount, a PostgreSQL server). Outside
// CI a missing capability skips the test with one loud line; with CI set it FAILS with the reason,
// since a skip there would report a check that never ran as passed (issue 19).

/** True when the CI environment variable is set (to anything but "", "0" or "false"). */
export function inCi(): boolean {
  const v = process.env.CI;
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

/**
 * Returns true when `ok`. Otherwise: under CI throws, failing the test with `reason`; elsewhere
 * marks the test skipped, says why on stderr, and returns false (the caller returns at once):
 *
 *     if (!requireCapability(t, mounted, `cannot mount a tmpfs (${why})`)) return;
 */
export function requireCapability(t: { skip(message?: string): void }, ok: boolean, reason: string | null | undefined): boolean {
  if (ok) return true;
  const why = reason || 'a capability this test needs is missing';
  if (inCi()) throw new Error(`CI: ${why} (a skip under CI would hide a check that never ran)`);
  process.stderr.write(`\n!!! SKIPPING: ${why}\n\n`);
  t.skip(why);
  return false;
}
