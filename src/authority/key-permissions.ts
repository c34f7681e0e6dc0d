// A CA key readable by other users is a compromised CA: refused (or, when asked, reported).
import { statSync } from 'node:fs';

/** Refuses (or, with keyPermissions "warn", reports) a key file that group or others may open. */
export function checkKeyPermissions(path: string, policy: 'refuse' | 'warn', warn: (msg: string) => void): void {
  let mode: number;
  try {
    mode = statSync(path).mode & 0o777;
  } catch {
    return; // reading it next says what is wrong
  }
  if ((mode & 0o077) === 0) return;
  const msg = `${path} is open to other users (mode 0${mode.toString(8)}): chmod 600 it`;
  if (policy === 'refuse') throw new Error(`${msg}, or set stepstone.keyPermissions to "warn" to start anyway`);
  warn(`${msg}; starting anyway (stepstone.keyPermissions is "warn")`);
}
