import type { RotationInput } from './rotation';

/**
 * What the Temporal UI shows for a rotation in the workflow list (`staticSummary`, one line) and on its page
 * (`staticDetails`, markdown), whoever starts it: the CLI, a schedule, a fleet, an upstream PKI manager. Pure, so
 * workflow code (fleet children, scheduled runs) and clients build the same text.
 *
 * Only fields the worker validates or that are bounded here reach it: the client id is the workflow id's own text,
 * free text (service id, origin detail) is cut to a line. Never the certificate itself, never a key path.
 */

/** Who started the rotation, as a reader of the workflow list wants to know it. */
export type RotationOrigin =
  | { by: 'cli' }
  | { by: 'schedule'; scheduleId?: string; reason?: string }
  | { by: 'fleet'; fleetId: string }
  | { by: 'upstream'; via: 'signal-with-start' | 'update-with-start' };

export interface RotationSummary {
  staticSummary: string;
  staticDetails: string;
}

const MAX_FIELD = 80;

/** One line of plain text at most MAX_FIELD long: controls and line breaks out, so a field cannot fake a row. */
function field(value: unknown, max = MAX_FIELD): string {
  // eslint-disable-next-line no-control-regex
  const s = String(value ?? '').replace(/[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, ' ').replace(/[`*_[\]<>|]/g, '').trim();
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

function originText(origin: RotationOrigin): string {
  switch (origin.by) {
    case 'cli':
      return 'CLI';
    case 'schedule':
      return `schedule${origin.scheduleId ? ` ${field(origin.scheduleId)}` : ''}${origin.reason ? `: ${field(origin.reason, 40)}` : ''}`;
    case 'fleet':
      return `fleet ${field(origin.fleetId)}`;
    case 'upstream':
      return `PKI manager (${origin.via})`;
  }
}

export function rotationSummary(input: Pick<RotationInput, 'clientId' | 'serviceId' | 'overlap' | 'dryRun' | 'approval'>, origin: RotationOrigin = { by: 'cli' }): RotationSummary {
  const client = field(input.clientId, 128);
  const overlap = field(input.overlap ?? '7d', 16);
  const flags = [input.dryRun ? 'dry run' : `overlap ${overlap}`, ...(input.approval?.required ? ['approval required'] : [])];
  const staticSummary = `Pin rotation of ${client} · ${flags.join(' · ')} · ${originText(origin)}`;
  const rows: Array<[string, string]> = [
    ['client', client],
    ['service', field(input.serviceId ?? input.clientId)],
    ['started by', originText(origin)],
    ['mode', input.dryRun ? 'dry run (plan only, nothing changes)' : 'rotate'],
    ['overlap', `${overlap} (old primary kept as fallback)`],
    ['approval', input.approval?.required ? `required, within ${field(input.approval.timeout ?? '24h', 16)}` : 'not required'],
  ];
  // Short enough for the UI's Details panel (about eight lines): where it stands now is in the current details.
  const staticDetails = ['| | |', '|---|---|', ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join('\n');
  return { staticSummary, staticDetails };
}
