import { FLEET_OUTCOMES, fleetSucceeded, type FleetProgress, type FleetSummary } from '../contract';
import type { FleetEnd } from './client';

/** How a fleet looks to an operator: a progress line while it runs, a table (or one JSON object) at the end. */

function seconds(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const m = Math.floor(ms / 60_000);
  return m < 60 ? `${m}m${Math.floor((ms % 60_000) / 1000)}s` : `${Math.floor(m / 60)}h${m % 60}m`;
}

export function progressLine(p: FleetProgress, now: number = Date.now(), width = 24): string {
  const total = Math.max(p.total, p.done + p.running);
  const filled = total === 0 ? (p.totalFinal ? width : 0) : Math.round((p.done / total) * width);
  const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
  const notOk = p.byStatus.failed + p.byStatus.rolled_back + p.byStatus.refused;
  const parts = [
    `[${bar}] ${p.done}/${total}${p.totalFinal ? '' : '+'}`,
    `going live ${p.running}`,
    `live ${p.live ?? 0}`,
    `finalized ${p.byStatus.finalized}`,
    p.byStatus.rotated ? `rotated ${p.byStatus.rotated}` : '',
    p.byStatus.dry_run ? `dry run ${p.byStatus.dry_run}` : '',
    notOk ? `not ok ${notOk}` : '',
    p.byStatus.skipped ? `skipped ${p.byStatus.skipped}` : '',
    p.state !== 'running' ? p.state : '',
    p.runs > 1 ? `run ${p.runs}` : '',
    seconds(Math.max(0, now - Date.parse(p.startedAt))),
    etaText(p, now),
  ];
  return parts.filter(Boolean).join('  ');
}

/** The estimate of when every client is live (from the fleet's own rate so far). */
function etaText(p: FleetProgress, now: number): string {
  if (!p.etaLive) return '';
  const at = Date.parse(p.etaLive);
  const pending = p.queued + p.running;
  return pending === 0 ? `all live after ${seconds(Math.max(0, at - Date.parse(p.startedAt)))}` : `all live in ~${seconds(Math.max(0, at - now))}`;
}

/** What makes a progress line worth printing again off a TTY (elapsed time alone does not). */
function keyOf(p: FleetProgress): string {
  return JSON.stringify([p.done, p.running, p.live, p.total, p.byStatus, p.state, p.runs]);
}

/**
 * On a TTY one line rewritten in place; elsewhere (CI logs, pipes) a line whenever the counts change, at most
 * one every `intervalMs`, and the last state always.
 */
export class ProgressReporter {
  private lastKey = '';
  private lastWrite = 0;
  private pending: FleetProgress | undefined;
  private wrote = false;

  constructor(
    private readonly write: (chunk: string) => unknown,
    private readonly tty: boolean,
    private readonly intervalMs = 2000,
    private readonly now: () => number = Date.now,
  ) {}

  update(p: FleetProgress): void {
    if (this.tty) {
      this.write(`\r\x1b[2K${progressLine(p, this.now())}`);
      this.wrote = true;
      return;
    }
    const key = keyOf(p);
    if (key === this.lastKey) {
      this.pending = undefined;
      return;
    }
    if (this.now() - this.lastWrite < this.intervalMs) {
      this.pending = p;
      return;
    }
    this.emit(p, key);
  }

  end(): void {
    if (this.tty) {
      if (this.wrote) this.write('\n');
      return;
    }
    const p = this.pending;
    if (p) this.emit(p, keyOf(p));
  }

  private emit(p: FleetProgress, key: string): void {
    this.write(`${progressLine(p, this.now())}\n`);
    this.lastKey = key;
    this.lastWrite = this.now();
    this.pending = undefined;
  }
}

function clip(text: string, n: number): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > n ? `${one.slice(0, n - 1)}…` : one;
}

export function summaryTable(s: FleetSummary, end: FleetEnd, error?: string): string {
  const elapsed = seconds(Math.max(0, Date.parse(s.endedAt) - Date.parse(s.startedAt)));
  const lines = [
    `fleet ${s.fleetId}: ${end === 'completed' ? 'done' : end}, ${s.done} of ${s.total} clients in ${elapsed} ` +
      `(concurrency ${s.concurrency}, at most ${s.maxRunning} in flight, ${s.runs} run${s.runs === 1 ? '' : 's'})`,
  ];
  if (error && end !== 'completed') lines.push(`error: ${error}`);
  if (s.listing?.error) lines.push(`listing stopped: ${s.listing.error.code}: ${s.listing.error.message}`);
  lines.push('', '  outcome       clients');
  for (const status of FLEET_OUTCOMES) {
    const reasons = status === 'skipped' ? Object.entries(s.skippedBy).map(([r, n]) => `${r} ${n}`).join(', ') : '';
    lines.push(`  ${status.padEnd(12)}${String(s.byStatus[status]).padStart(8)}${reasons ? `  ${reasons}` : ''}`);
  }
  const notDone = s.total - s.done;
  if (notDone > 0) lines.push(`  ${'not done'.padEnd(12)}${String(notDone).padStart(8)}`);
  const shown = s.failures.length;
  if (shown > 0) {
    const idWidth = Math.min(40, Math.max(6, ...s.failures.map((f) => f.clientId.length)));
    const codeWidth = Math.min(28, Math.max(4, ...s.failures.map((f) => f.code.length)));
    lines.push('', `did not finalize (${shown + s.failuresOmitted}):`, `  ${'client'.padEnd(idWidth)}  ${'status'.padEnd(11)}  ${'code'.padEnd(codeWidth)}  why`);
    for (const f of s.failures) {
      lines.push(`  ${f.clientId.padEnd(idWidth)}  ${f.status.padEnd(11)}  ${f.code.padEnd(codeWidth)}  ${clip(f.message, 100)}`);
    }
    if (s.failuresOmitted > 0) lines.push(`  … and ${s.failuresOmitted} more (the list is capped; the counts above are exact)`);
  }
  return `${lines.join('\n')}\n`;
}

/** The `--wait --json` object: the fleet id first, then the counts, then the failures. */
export function summaryJson(s: FleetSummary, end: FleetEnd, error?: string): Record<string, unknown> {
  return {
    fleetId: s.fleetId,
    end,
    ok: end === 'completed' && fleetSucceeded(s),
    total: s.total,
    done: s.done,
    byStatus: s.byStatus,
    skippedBy: s.skippedBy,
    maxRunning: s.maxRunning,
    concurrency: s.concurrency,
    runs: s.runs,
    runId: s.runId,
    startedAt: s.startedAt,
    endedAt: s.endedAt,
    ...(s.listing ? { listing: s.listing } : {}),
    ...(error && end !== 'completed' ? { error } : {}),
    failures: s.failures,
    failuresOmitted: s.failuresOmitted,
  };
}
