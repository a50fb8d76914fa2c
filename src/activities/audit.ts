import { appendFile, mkdir, readFile } from 'node:fs/promises';
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

export class JsonlAuditSink implements AuditSink {
  private written?: Set<string>;
  private queue: Promise<void> = Promise.resolve();

  constructor(readonly path: string) {}

  private async load(): Promise<Set<string>> {
    if (this.written) return this.written;
    const keys = new Set<string>();
    try {
      const text = await readFile(this.path, 'utf8');
      for (const line of text.split('\n')) {
        if (!line.trim()) continue;
        try {
          keys.add(keyOf(JSON.parse(line) as AuditRecord));
        } catch {
          // A torn last line from a crash is skipped, not fatal.
        }
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    this.written = keys;
    return keys;
  }

  write(record: AuditRecord): Promise<boolean> {
    // Serialised so two concurrent writes never interleave within a line.
    const next = this.queue.then(async () => {
      const keys = await this.load();
      const key = keyOf(record);
      if (keys.has(key)) return false;
      await mkdir(dirname(this.path), { recursive: true });
      await appendFile(this.path, `${JSON.stringify(record)}\n`, 'utf8');
      keys.add(key);
      return true;
    });
    this.queue = next.then(
      () => undefined,
      () => undefined,
    );
    return next;
  }
}
