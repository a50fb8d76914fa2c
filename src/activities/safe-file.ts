import { constants } from 'node:fs';
import { lstat, open, readlink, realpath, type FileHandle } from 'node:fs/promises';
import { isAbsolute, normalize, sep } from 'node:path';

/**
 * Reads a file that a workflow input names, but only one the worker's configuration allows: an absolute path in
 * canonical form inside an allowed directory, with no symbolic link anywhere on it, that is a regular file. It is
 * opened without following links and without blocking (a FIFO or a device never stalls a libuv thread), and read
 * up to a byte bound. Every refusal is the same `SourceRefusedError`, whatever the reason: a caller that may name
 * any path learns nothing about what exists there.
 */

export const SOURCE_REFUSED_MESSAGE = 'not allowed or unreadable';

export class SourceRefusedError extends Error {
  constructor() {
    super(SOURCE_REFUSED_MESSAGE);
    this.name = 'SourceRefusedError';
  }
}

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;
const MAX_PATH = 4096;

/** True when `path` is `dir` itself or below it (both canonical). */
export function isInside(path: string, dir: string): boolean {
  const base = dir.endsWith(sep) ? dir : dir + sep;
  return path.startsWith(base);
}

/** The path when it is absolute, canonical (no `.`, `..`, `//` or trailing `/`) and below an allowed directory. */
function lexicallyAllowed(path: unknown, allowedDirs: readonly string[]): string | undefined {
  if (typeof path !== 'string' || path.length === 0 || path.length > MAX_PATH || path.includes('\0')) return undefined;
  if (!isAbsolute(path) || normalize(path) !== path || path.endsWith(sep)) return undefined;
  if (path.split(sep).some((part) => part === '..' || part === '.')) return undefined;
  return allowedDirs.some((dir) => isInside(path, dir)) ? path : undefined;
}

export interface SafeReadOptions {
  /** Canonical (realpath'd) directories; see `canonicalDirs` in the worker configuration. */
  allowedDirs: readonly string[];
  /** Reads at most `maxBytes + 1` bytes, so the caller can tell "too large" without holding a huge file. */
  maxBytes: number;
}

export async function readAllowedFile(path: unknown, opts: SafeReadOptions): Promise<Buffer> {
  const candidate = lexicallyAllowed(path, opts.allowedDirs);
  if (!candidate) throw new SourceRefusedError();
  let handle: FileHandle | undefined;
  try {
    // Before opening: no link on the way (realpath equals the path) and a regular file, so a device or FIFO is
    // never even opened in the common case.
    if ((await realpath(candidate)) !== candidate) throw new SourceRefusedError();
    const before = await lstat(candidate);
    if (!before.isFile()) throw new SourceRefusedError();
    handle = await open(candidate, OPEN_FLAGS);
    // After opening: the descriptor is the same regular file, so a swap between the checks and open() is caught.
    const opened = await handle.stat();
    if (!opened.isFile() || opened.dev !== before.dev || opened.ino !== before.ino) throw new SourceRefusedError();
    if ((await realpath(candidate)) !== candidate) throw new SourceRefusedError();
    // On Linux the kernel names what the descriptor really is: closes the window where a directory on the path is
    // swapped for a link between the checks above and open() (O_NOFOLLOW guards only the last component).
    if (process.platform === 'linux' && (await readlink(`/proc/self/fd/${handle.fd}`)) !== candidate) throw new SourceRefusedError();
    const buf = Buffer.alloc(Math.min(opts.maxBytes + 1, opened.size + 1));
    let total = 0;
    while (total < buf.length) {
      const { bytesRead } = await handle.read(buf, total, buf.length - total, null);
      if (bytesRead === 0) break;
      total += bytesRead;
    }
    return buf.subarray(0, total);
  } catch {
    throw new SourceRefusedError();
  } finally {
    await handle?.close().catch(() => undefined);
  }
}
