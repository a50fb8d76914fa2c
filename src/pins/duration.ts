/** Durations as operators write them: `7d`, `12h`, `30m`, `45s`, `250ms`, `0s`, or combined `1d12h`. */

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const WHOLE = /^(?:\d{1,9}(?:ms|s|m|h|d|w))+$/;
const PART = /(\d{1,9})(ms|s|m|h|d|w)/g;

/**
 * Parses a duration into milliseconds. Units: ms, s, m, h, d, w; parts may be combined largest first
 * or not (`1h30m`, `90m`). Throws RangeError for anything else (no unit, negative, fractions, spaces).
 */
export function parseDuration(text: string): number {
  if (typeof text !== 'string' || text.length > 64 || !WHOLE.test(text)) {
    throw new RangeError(`invalid duration ${JSON.stringify(String(text).slice(0, 40))}; use e.g. 7d, 12h, 30m, 45s or 0s`);
  }
  let total = 0;
  for (const [, amount, unit] of text.matchAll(PART)) total += Number(amount) * UNIT_MS[unit];
  if (!Number.isSafeInteger(total)) throw new RangeError('duration is too large');
  return total;
}

/** The inverse for messages and audit records: 604800000 → `7d`, 5400000 → `1h30m`, 0 → `0s`. */
export function formatDuration(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) throw new RangeError('formatDuration needs a non-negative integer');
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const unit of ['d', 'h', 'm', 's', 'ms']) {
    const size = UNIT_MS[unit];
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}
