import type { Pin } from '../pins/types';
import type { RotationResult } from '../contract';

export function formatPins(pins: Pin[], indent = '  '): string {
  if (pins.length === 0) return `${indent}(no pins)`;
  return pins.map((p) => `${indent}${p.role.padEnd(8)} spki ${p.sha256Spki}  cert ${p.sha256Certificate}  ${p.subject} (until ${p.notAfter})`).join('\n');
}

export function printResult(result: RotationResult, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const lines = [
    `${result.workflowId}: ${result.status} (phase ${result.phase})`,
    `pins on the platform:`,
    formatPins(result.pins),
  ];
  if (result.plannedPins) lines.push('planned pins:', formatPins(result.plannedPins));
  if (result.pinMatchRate !== null) lines.push(`pin match rate: ${result.pinMatchRate}`);
  if (result.latencyMs !== null) lines.push(`latency: ${result.latencyMs} ms`);
  if (result.error) {
    lines.push(`error: ${result.error.code}: ${result.error.message}`);
    for (const p of result.error.problems ?? []) lines.push(`  - ${p.code}: ${p.message}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}
