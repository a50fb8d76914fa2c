/**
 * Reads the worker's Prometheus endpoint (service metrics plus the Temporal runtime's) and turns histogram
 * differences between two scrapes into count, mean and bucket-bound quantiles.
 */

export type Samples = Map<string, number>;

export async function scrape(url: string): Promise<Samples> {
  const text = await (await fetch(url, { signal: AbortSignal.timeout(5000) })).text();
  const samples: Samples = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([A-Za-z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m) samples.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
  }
  return samples;
}

function labelsOf(key: string): Record<string, string> {
  const out: Record<string, string> = {};
  const body = /\{(.*)\}$/.exec(key)?.[1] ?? '';
  for (const m of body.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) out[m[1]] = m[2];
  return out;
}

export interface HistogramDelta {
  count: number;
  /** Mean in the histogram's unit. */
  mean: number;
  p50: number;
  p95: number;
  p99: number;
}

/**
 * The difference `after - before` of histogram `name` (summed over series whose labels include `match`).
 * Quantiles are the upper bound of the bucket they fall in; +Inf reports the largest finite bound.
 */
export function histogramDelta(before: Samples, after: Samples, name: string, match: Record<string, string> = {}): HistogramDelta | undefined {
  const matches = (key: string): boolean => {
    const labels = labelsOf(key);
    return Object.entries(match).every(([k, v]) => labels[k] === v);
  };
  const buckets = new Map<number, number>();
  let sum = 0;
  let count = 0;
  for (const [key, value] of after) {
    if (!matches(key)) continue;
    const delta = value - (before.get(key) ?? 0);
    if (key.startsWith(`${name}_bucket{`)) {
      const le = labelsOf(key).le;
      const bound = le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le);
      buckets.set(bound, (buckets.get(bound) ?? 0) + delta);
    } else if (key.startsWith(`${name}_sum`)) sum += delta;
    else if (key.startsWith(`${name}_count`)) count += delta;
  }
  if (count <= 0) return undefined;
  const bounds = [...buckets.keys()].sort((a, b) => a - b);
  const finite = bounds.filter(Number.isFinite);
  const quantile = (q: number): number => {
    const rank = q * count;
    for (const b of bounds) if ((buckets.get(b) ?? 0) >= rank) return Number.isFinite(b) ? b : (finite[finite.length - 1] ?? Number.NaN);
    return Number.NaN;
  };
  return { count, mean: sum / count, p50: quantile(0.5), p95: quantile(0.95), p99: quantile(0.99) };
}

/** Sum of counter `name` over series matching `match`, after - before. */
export function counterDelta(before: Samples, after: Samples, name: string, match: Record<string, string> = {}): number {
  let total = 0;
  for (const [key, value] of after) {
    if (key !== name && !key.startsWith(`${name}{`)) continue;
    const labels = labelsOf(key);
    if (!Object.entries(match).every(([k, v]) => labels[k] === v)) continue;
    total += value - (before.get(key) ?? 0);
  }
  return total;
}

export function metricNames(samples: Samples): string[] {
  return [...new Set([...samples.keys()].map((k) => k.replace(/\{.*$/, '').replace(/_(bucket|sum|count)$/, '')))].sort();
}
