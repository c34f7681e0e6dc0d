import { readFileSync } from 'node:fs';

/** A file's bytes, or one error line saying which file (as `what`) and why (ENOENT, EACCES…). */
export function readFileExplained(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

export function readTextExplained(path: string, what: string): string {
  return readFileExplained(path, what).toString('utf8');
}
