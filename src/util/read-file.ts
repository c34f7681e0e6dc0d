import { readFileSync } from 'node:fs';

/** A file's bytes, or one error line saying which file (as `what`) and why (ENOENT, EACCES…). */
export function readFileExplained(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : code ?? (e as Error).message;
    throw new Error(`cannot read ${what} ${path}: ${why}`);
  }
}

export function readTextExplained(path: string, what: string): string {
  return readFileExplained(path, what).toString('utf8');
}
