// Passwords for CLI verbs: from --password-file, or typed at a terminal as step asks for them
// (hidden, and twice when it will protect a new key). Without a terminal there is no one to ask,
// so a missing file stays a usage error naming the flag.
import { CliError, readPasswordFile } from './common.js';

export interface PasswordSource {
  /** The file given on the command line, if any. */
  file?: string;
  /** The flag that names the file, for the error when there is neither file nor terminal. */
  flag: string;
  /** What the password is for, completing "Please enter the password to …". */
  purpose: string;
  /** Ask twice: the password will protect something new, and a typo would lock it away. */
  confirm?: boolean;
  /** Another way out, named in the error when there is no terminal (e.g. --no-password --insecure). */
  otherwise?: string;
}

/** stdin is a terminal someone can type at. */
export function canPrompt(): boolean {
  return process.stdin.isTTY === true && typeof process.stdin.setRawMode === 'function';
}

/** The password from `file`, else typed at the terminal, else a usage error. */
export async function obtainPassword(s: PasswordSource): Promise<string> {
  if (s.file !== undefined) return readPasswordFile(s.file);
  if (!canPrompt()) throw new CliError(`${s.flag} is required ${s.purpose}${s.otherwise ? ` (or ${s.otherwise})` : ''}; stdin is not a terminal to prompt on`, 2);
  const pw = await readHidden(`Please enter the password ${s.purpose}: `);
  if (!pw) throw new CliError('the password is empty');
  if (s.confirm && (await readHidden('Please enter the same password again to confirm: ')) !== pw) throw new CliError('the passwords do not match');
  return pw;
}

/**
 * One line from the terminal with echo off (raw mode), the prompt on stderr so stdout stays for
 * what scripts read. Backspace and Ctrl-U edit; Ctrl-C stops the command with 130 as a shell would.
 */
function readHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  // Echo goes off before the prompt shows: whatever is typed after seeing it is never echoed.
  stdin.setRawMode(true);
  process.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let value = '';
    const finish = (err?: CliError) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003') return finish(new CliError('interrupted', 130));
        if (ch === '\u0004') return value ? finish() : finish(new CliError('no password was typed'));
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else if (ch === '\u0015') value = '';
        else if (ch >= ' ') value += ch;
      }
    };
    stdin.setEncoding('utf8');
    stdin.on('data', onData);
    stdin.resume();
  });
}
