// What every CLI verb shares: reading secrets from files, one-line errors, exit codes.
import { readTextExplained } from '../util/read-file.js';

/** An error meant for the user: printed as one line, exit status `exitCode`. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

/** A password file's content without its trailing newline (as step reads it). */
export function readPasswordFile(path: string): string {
  const text = readTextExplained(path, 'password file');
  const pw = text.replace(/\r?\n$/, '');
  if (!pw) throw new CliError(`password file ${path} is empty`);
  return pw;
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').map((s) => s.trim()).filter(Boolean)];
}

/** Chatter for humans goes to stderr; stdout is for what scripts consume. */
export function say(line: string): void {
  process.stderr.write(`${line}\n`);
}
