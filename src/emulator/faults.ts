import { z } from 'zod';
import type { FaultSpec, QueuedFault } from './types';

/** Faults only ever hit the platform's own surface: the API and the login endpoint. */
export function faultablePath(path: string): boolean {
  return path.startsWith('/api/') || path.startsWith('/oauth/');
}

export const faultSchema = z.strictObject({
  method: z
    .string()
    .regex(/^(\*|[A-Za-z]+)$/, 'an HTTP method or *')
    .transform((m) => m.toUpperCase()),
  pathPrefix: z.string().startsWith('/', 'must start with /').max(2048),
  status: z
    .number()
    .int()
    .refine((s) => s === 0 || (s >= 400 && s <= 599), 'must be 0 (connection reset) or 400..599'),
  times: z.number().int().min(1).max(1_000_000),
  retryAfter: z.number().int().min(0).max(86_400).optional(),
  delayMs: z.number().int().min(0).max(120_000).optional(),
});

/**
 * Queued faults, first in first out. A request is failed by the first queued fault that matches it
 * (method equal or '*', path starting with pathPrefix); each fault is dropped after `times` uses.
 */
export class FaultQueue {
  private faults: QueuedFault[] = [];
  private nextId = 1;

  add(spec: FaultSpec): QueuedFault {
    const fault: QueuedFault = { ...spec, id: this.nextId++, remaining: spec.times };
    this.faults.push(fault);
    return { ...fault };
  }

  /** Consumes one use of the first matching fault. */
  take(method: string, path: string): QueuedFault | undefined {
    if (!faultablePath(path)) return undefined;
    const index = this.faults.findIndex((f) => (f.method === '*' || f.method === method) && path.startsWith(f.pathPrefix));
    if (index === -1) return undefined;
    const fault = this.faults[index];
    fault.remaining -= 1;
    if (fault.remaining <= 0) this.faults.splice(index, 1);
    return { ...fault };
  }

  list(): QueuedFault[] {
    return this.faults.map((f) => ({ ...f }));
  }

  clear(): number {
    const n = this.faults.length;
    this.faults = [];
    return n;
  }
}
