import { appendFile, mkdir, open, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Pin } from '../pins/types';

/** One JSON line per finished rotation (DESIGN.md §4). Keyed by workflow and run so a retried write is not doubled. */
export interface AuditRecord {
  timestamp: string;
  clientId: string;
  serviceId: string;
  workflowId: string;
  runId: string;
  pins: Pin[];
  /** Who asked: a verified id (signed start request) or `unverified:…`, `schedule:…`, `fleet:…` (DESIGN.md §4 Approval). */
  requester?: string | null;
  /** Who approved, when an approval was required and given. */
  approver?: string | null;
  latencyMs: number;
  /** Measured from handshakes since Apply (DESIGN.md §4); null when there was no traffic (older records: a number). */
  pinMatchRate: number | null;
  /** Handshake counts behind it, when measured. */
  pinMatch?: { accepted: number; rejected: number; probes: number; probesAccepted: number };
  status: string;
  errorCode: string | null;
  error?: string | null;
  /** Wall time from the workflow's start to this record. */
  durationMs?: number;
  /** Things that went wrong without changing the outcome (e.g. the PKI manager refused the rollback notice). */
  warnings?: string[];
}

export interface AuditSink {
  /** Resolves true when the record was written, false when it was already there (a retried write). */
  write(record: AuditRecord): Promise<boolean>;
}

function keyOf(r: Pick<AuditRecord, 'workflowId' | 'runId'>): string {
  return `${r.workflowId}#${r.runId}`;
}

/** How long a lock file may sit before it is taken for the leftover of a crashed writer. */
const STALE_LOCK_MS = 30_000;
const LOCK_WAIT_MS = 15_000;

/**
 * Appends audit lines to one file that several worker processes on a host may share. A write takes a lock file
 * (O_EXCL), reads whatever other processes appended since this one last looked, and appends only when no line of
 * that run is there yet: a completion lost in a crash and retried by another worker never gives a run two lines.
 */
export class JsonlAuditSink implements AuditSink {
  private readonly keys = new Set<string>();
  /** Bytes of the file already read into `keys`. */
  private offset = 0;
  private queue: Promise<void> = Promise.resolve();

  constructor(readonly path: string) {}

  /** Reads the complete lines appended since the last look; a torn last line (a crash mid-write) is left for later. */
  private async catchUp(): Promise<{ endsWithNewline: boolean }> {
    let fh;
    try {
      fh = await open(this.path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      this.keys.clear();
      this.offset = 0;
      return { endsWithNewline: true };
    }
    try {
      const { size } = await fh.stat();
      if (size < this.offset) {
        // Replaced or truncated (log rotation): start over.
        this.keys.clear();
        this.offset = 0;
      }
      if (size === this.offset) return { endsWithNewline: size === 0 || (await lastByte(fh, size)) === 0x0a };
      const buf = Buffer.alloc(size - this.offset);
      await fh.read(buf, 0, buf.length, this.offset);
      const end = buf.lastIndexOf(0x0a) + 1;
      for (const line of buf.subarray(0, end).toString('utf8').split('\n')) {
        if (!line.trim()) continue;
        try {
          this.keys.add(keyOf(JSON.parse(line) as AuditRecord));
        } catch {
          // A torn line from a crash is skipped, not fatal.
        }
      }
      this.offset += end;
      return { endsWithNewline: buf.length === 0 || buf[buf.length - 1] === 0x0a };
    } finally {
      await fh.close();
    }
  }

  private async withLock<T>(fn: () => Promise<T>): Promise<T> {
    const lockPath = `${this.path}.lock`;
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
      try {
        const fh = await open(lockPath, 'wx', 0o600);
        await fh.close();
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const age = await stat(lockPath).then((s) => Date.now() - s.mtimeMs, () => 0);
        if (age > STALE_LOCK_MS) {
          await rm(lockPath, { force: true });
          continue;
        }
        if (Date.now() > deadline) throw new Error(`audit log ${this.path} is locked by another writer (${lockPath})`);
        await new Promise((r) => setTimeout(r, delay));
      }
    }
    try {
      return await fn();
    } finally {
      await rm(lockPath, { force: true });
    }
  }

  write(record: AuditRecord): Promise<boolean> {
    // Serialised within the process; the lock file serialises processes.
    const next = this.queue.then(async () => {
      await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
      return this.withLock(async () => {
        const { endsWithNewline } = await this.catchUp();
        const key = keyOf(record);
        if (this.keys.has(key)) return false;
        // After a torn line, start a new one rather than glue this record onto it.
        await appendFile(this.path, `${endsWithNewline ? '' : '\n'}${JSON.stringify(record)}\n`, { encoding: 'utf8', mode: 0o600 });
        await this.catchUp();
        return true;
      });
    });
    this.queue = next.then(
      () => undefined,
      () => undefined,
    );
    return next;
  }
}

async function lastByte(fh: FileHandle, size: number): Promise<number> {
  const b = Buffer.alloc(1);
  await fh.read(b, 0, 1, size - 1);
  return b[0];
}
