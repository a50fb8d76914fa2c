import { chmodSync, closeSync, fsyncSync, lstatSync, mkdirSync, openSync, renameSync, writeSync, constants } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * Files that hold secrets or state (worker.env, the emulator's CA and clients, audit lines, Temporal's SQLite):
 * owner-only. Directories 0700, files 0600, whatever the umask, and a file is never written through a link.
 */

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** Creates `path` (and missing parents, 0700) and narrows an existing directory to 0700; refuses a link or a file. */
export function ensurePrivateDir(path: string): void {
  mkdirSync(path, { recursive: true, mode: PRIVATE_DIR_MODE });
  const st = lstatSync(path);
  if (!st.isDirectory()) throw new Error(`${path} is not a directory`);
  if ((st.mode & 0o777) !== PRIVATE_DIR_MODE) chmodSync(path, PRIVATE_DIR_MODE);
}

/**
 * Writes `data` to `path` as 0600, atomically (a temporary file in the same directory, then rename), so a reader
 * never sees half a file and an existing symbolic link at `path` is replaced, not followed.
 */
export function writePrivateFile(path: string, data: string | Uint8Array): void {
  ensurePrivateDir(dirname(path));
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, PRIVATE_FILE_MODE);
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(tmp, PRIVATE_FILE_MODE);
  renameSync(tmp, path);
}

/** Narrows an existing file (one another program created, e.g. Temporal's SQLite) to 0600; missing is fine. */
export function restrictFile(path: string): void {
  try {
    const st = lstatSync(path);
    if (st.isFile() && (st.mode & 0o777) !== PRIVATE_FILE_MODE) chmodSync(path, PRIVATE_FILE_MODE);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
