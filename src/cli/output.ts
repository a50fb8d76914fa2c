import type { Pin } from '../pins/types';
import type { RotationResult } from '../contract';

/**
 * Text that came from an operator, a workflow input or the platform, made safe for a terminal: escape sequences
 * (CSI, OSC such as a clipboard write, DCS/APC/PM/SOS) removed whole, then every remaining C0 and C1 control, DEL
 * and the bidirectional overrides that reorder what is shown. A line break survives only where the caller means
 * one (`multiline`); otherwise it and tabs become spaces, so one field cannot fake a second line.
 */
// eslint-disable-next-line no-control-regex
const ESCAPE_SEQUENCES = /\x1b\[[0-?]*[ -/]*[@-~]?|\x9b[0-?]*[ -/]*[@-~]?|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?|\x1b[ -/]*[0-~]?/g;
// eslint-disable-next-line no-control-regex
const CONTROLS = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

export function safeText(text: unknown, opts: { multiline?: boolean } = {}): string {
  const s = String(text ?? '')
    .replace(/\r\n?/g, '\n')
    .replace(ESCAPE_SEQUENCES, '')
    .replace(/\t/g, ' ')
    .replace(CONTROLS, '');
  return opts.multiline ? s : s.replace(/\n/g, ' ');
}

/**
 * JSON for a terminal: JSON.stringify already escapes C0 controls; C1 controls and bidi overrides are escaped too
 * (`\u009b`), so the output parses to the same value and shows nothing a terminal would act on.
 */
export function safeJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function formatPins(pins: Pin[], indent = '  '): string {
  if (pins.length === 0) return `${indent}(no pins)`;
  return pins
    .map((p) => `${indent}${safeText(p.role).padEnd(8)} spki ${safeText(p.sha256Spki)}  cert ${safeText(p.sha256Certificate)}  ${safeText(p.subject)} (until ${safeText(p.notAfter)})`)
    .join('\n');
}

/** `CODE: message`, without saying the code twice when the message already starts with it. */
export function errorLine(error: { code: string; message: string }): string {
  const message = error.message.startsWith(`${error.code}: `) ? error.message.slice(error.code.length + 2) : error.message;
  return `${safeText(error.code)}: ${safeText(message)}`;
}

export function printResult(result: RotationResult, json: boolean): void {
  if (json) {
    process.stdout.write(`${safeJson(result)}\n`);
    return;
  }
  const lines = [
    `${safeText(result.workflowId)}: ${safeText(result.status)} (phase ${safeText(result.phase)})`,
    `pins on the platform:`,
    formatPins(result.pins),
  ];
  if (result.plannedPins) lines.push('planned pins:', formatPins(result.plannedPins));
  if (result.pinMatchRate !== null) lines.push(`pin match rate: ${safeText(result.pinMatchRate)}`);
  if (result.latencyMs !== null) lines.push(`latency: ${safeText(result.latencyMs)} ms`);
  if (result.error) {
    lines.push(`error: ${errorLine(result.error)}`);
    const headline = result.error.message;
    // The headline is the first problem: the bullets list the others, not it again.
    for (const p of (result.error.problems ?? []).filter((p, i) => !(i === 0 && headline.includes(p.message)))) lines.push(`  - ${safeText(p.code)}: ${safeText(p.message)}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}
