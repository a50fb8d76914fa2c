import { open } from 'node:fs/promises';
import type { Problem } from '../pins/errors';
import { UsageError } from './usage';

/** Where a command writes; tests pass collectors instead of patching process.stdout. */
export interface CommandIo {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown };
}

export const processIo: CommandIo = {
  stdout: { write: (chunk: string) => process.stdout.write(chunk) },
  stderr: { write: (chunk: string) => process.stderr.write(chunk) },
};

export type BoundedRead = { tooLarge: false; bytes: Buffer } | { tooLarge: true };

/**
 * Reads at most `maxBytes + 1` bytes of a file (or stdin for `-`): enough to know it is too large
 * without holding a huge file in memory. Throws UsageError when the file cannot be read.
 */
export async function readFileBounded(path: string, maxBytes: number): Promise<BoundedRead> {
  const limit = maxBytes + 1;
  if (path === '-') {
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of process.stdin) {
      const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
      chunks.push(buf.subarray(0, limit - total));
      total += Math.min(buf.length, limit - total);
      if (total >= limit) break;
    }
    const bytes = Buffer.concat(chunks);
    return bytes.length > maxBytes ? { tooLarge: true } : { tooLarge: false, bytes };
  }
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw new UsageError(`cannot open ${path}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
  try {
    const buf = Buffer.alloc(limit);
    let total = 0;
    while (total < limit) {
      const { bytesRead } = await handle.read(buf, total, limit - total, null);
      if (bytesRead === 0) break;
      total += bytesRead;
    }
    return total > maxBytes ? { tooLarge: true } : { tooLarge: false, bytes: buf.subarray(0, total) };
  } catch (err) {
    throw new UsageError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  } finally {
    await handle.close();
  }
}

export function tooLargeProblem(maxBytes: number): Problem {
  return { code: 'INPUT_TOO_LARGE', message: `input is larger than ${maxBytes} bytes` };
}

