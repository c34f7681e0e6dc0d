// The certificate and key files renewal works on: reading them as a checked pair, and replacing
// them so that a reader (or a crash) never sees a truncated file or a mismatched cert/key pair.
import { readTextExplained } from '../util/read-file.js';
import { createPrivateKey, createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import { chmodSync, chownSync, closeSync, fsyncSync, linkSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { CliError } from '../cli/common.js';
import { pemBlocks } from '../pki/pem.js';
import { x509 } from '../pki/x509.js';

export interface CertFile {
  file: string;
  /** The file's text, sent as the mTLS chain. */
  pem: string;
  /** Leaf first, as written by `ca certificate` and renew. */
  chain: x509.X509Certificate[];
  leaf: x509.X509Certificate;
}

const readText = readTextExplained;

export function loadCertFile(file: string): CertFile {
  const pem = readText(file, 'certificate');
  let chain: x509.X509Certificate[];
  try {
    chain = pemBlocks(pem, 'CERTIFICATE').map((der) => new x509.X509Certificate(der));
  } catch {
    throw new CliError(`${file}: a CERTIFICATE block cannot be parsed`);
  }
  if (chain.length === 0) throw new CliError(`${file} holds no PEM certificate`);
  return { file, pem, chain, leaf: chain[0]! };
}

export interface KeyFile { file: string; pem: string; key: KeyObject }

export function loadKeyFile(file: string): KeyFile {
  const pem = readText(file, 'key');
  if (/ENCRYPTED/.test(pem)) throw new CliError(`${file} is an encrypted key; renewal needs the key unencrypted (as \`ca certificate\` writes it)`);
  try {
    return { file, pem, key: createPrivateKey(pem) };
  } catch {
    throw new CliError(`${file} holds no PEM private key`);
  }
}

export const spkiDer = (k: KeyObject): Buffer => createPublicKey(k).export({ type: 'spki', format: 'der' }) as Buffer;

/** True when the certificate carries the public half of `key`. */
export function keyMatches(cert: x509.X509Certificate, key: KeyObject): boolean {
  return Buffer.from(cert.publicKey.rawData).equals(spkiDer(key));
}

export function assertPair(crt: CertFile, key: KeyFile): void {
  if (!keyMatches(crt.leaf, key.key)) {
    throw new CliError(`${key.file} is not the key of the certificate in ${crt.file} (an interrupted rekey leaves the previous files next to them as .NAME.*.old)`);
  }
}

/** What a replacement keeps of the file it replaces: mode and, where we may, owner. */
interface Keep { mode: number; uid?: number; gid?: number }

function keepOf(path: string, defaultMode: number): Keep {
  try {
    const st = statSync(path);
    return { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { mode: defaultMode };
    throw e;
  }
}

const tmpName = (path: string, tag: string) => join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.${tag}`);

function unlinkQuiet(path: string | undefined): void {
  if (!path) return;
  try {
    unlinkSync(path);
  } catch { /* already gone */ }
}

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is still atomic, only less durable.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** A fully written, fsynced temp file next to its destination, not yet renamed into place. */
export interface Staged { path: string; tmp: string }

/**
 * Writes `data` to a temp file in the destination's directory (so the rename cannot cross
 * filesystems), with the existing file's mode and owner, and fsyncs it. On any failure the temp
 * file is removed and the destination is untouched.
 */
export function stage(path: string, data: string, defaultMode = 0o600): Staged {
  const keep = keepOf(path, defaultMode);
  const tmp = tmpName(path, 'tmp');
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', 0o600);
    writeSync(fd, Buffer.from(data));
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    if (keep.uid !== undefined && keep.gid !== undefined && process.getuid?.() === 0) {
      // Root renewing a service's files must not hand them to root.
      chownSync(tmp, keep.uid, keep.gid);
    }
    chmodSync(tmp, keep.mode);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    unlinkQuiet(tmp);
    throw new CliError(`cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return { path, tmp };
}

export function discard(...staged: Staged[]): void {
  for (const s of staged) unlinkQuiet(s.tmp);
}

/** One file: stage, then rename over the old one. */
export function replaceFile(path: string, data: string, defaultMode = 0o600): void {
  const s = stage(path, data, defaultMode);
  try {
    renameSync(s.tmp, s.path);
  } catch (e) {
    discard(s);
    throw new CliError(`cannot replace ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  fsyncDir(dirname(path));
}

/** Test seam: lets a test make the n-th rename of a pair fail. */
export const pairHooks: { rename: (from: string, to: string) => void } = { rename: renameSync };

/**
 * Replaces the key and then the certificate (rekey). Both new files are fully written first, so
 * the only window is between two renames. Before them, the old files are hard-linked to
 * `.NAME.<pid>.<rand>.old`: if the second rename fails we rename the old key back, and if the
 * process dies in between, the old pair is still on disk beside the new key.
 *
 * Key first: the new key is the one thing that cannot be obtained again, so it is put in place
 * (and made durable) before the certificate that needs it; the certificate is public and
 * re-derivable from the key by another rekey/sign.
 */
export function replacePair(key: { path: string; data: string }, crt: { path: string; data: string }): void {
  const sk = stage(key.path, key.data);
  let sc: Staged;
  try {
    sc = stage(crt.path, crt.data);
  } catch (e) {
    discard(sk);
    throw e;
  }
  const backups: { path: string; old: string }[] = [];
  const cleanup = () => {
    discard(sk, sc);
    for (const b of backups) unlinkQuiet(b.old);
  };
  try {
    for (const path of [key.path, crt.path]) {
      const old = tmpName(path, 'old');
      try {
        linkSync(path, old);
        backups.push({ path, old });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
    pairHooks.rename(sk.tmp, key.path);
  } catch (e) {
    cleanup();
    throw new CliError(`cannot replace ${key.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    pairHooks.rename(sc.tmp, crt.path);
  } catch (e) {
    const oldKey = backups.find((b) => b.path === key.path);
    let rolledBack = false;
    try {
      if (oldKey) {
        renameSync(oldKey.old, key.path);
        backups.splice(backups.indexOf(oldKey), 1);
        rolledBack = true;
      }
    } catch { /* keep the .old link for the user */ }
    if (rolledBack || !oldKey) cleanup();
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new CliError(rolledBack
      ? `cannot replace ${crt.path} (${why}); the previous key was put back`
      : oldKey ? `cannot replace ${crt.path} (${why}) and could not restore the previous key; it is at ${oldKey.old}`
        : `cannot replace ${crt.path} (${why}); ${key.path} holds the new key`);
  }
  fsyncDir(dirname(key.path));
  if (dirname(crt.path) !== dirname(key.path)) fsyncDir(dirname(crt.path));
  for (const b of backups) unlinkQuiet(b.old);
}
