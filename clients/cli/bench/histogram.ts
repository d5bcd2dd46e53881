/**
 * Latencies as a sparse histogram of whole milliseconds: `{ "<ms>": count }`.
 * Exact at a millisecond, small in JSON (one key per distinct value, at most
 * a few thousand in a run), and merged by adding counts, so the percentiles of
 * merged reports are those of all their latencies together, never averages.
 */
export type Histogram = Record<string, number>;

export function record(histogram: Histogram, latencyMs: number): void {
  const key = String(Math.max(0, Math.round(latencyMs)));
  histogram[key] = (histogram[key] ?? 0) + 1;
}

export function mergeHistograms(histograms: readonly Histogram[]): Histogram {
  const merged: Histogram = {};
  for (const histogram of histograms) {
    for (const [key, count] of Object.entries(histogram)) merged[key] = (merged[key] ?? 0) + count;
  }
  return merged;
}

export interface Percentiles {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

/** Nearest-rank percentiles: p is the smallest value with at least p% of the values at or below it. */
export function percentiles(histogram: Histogram): Percentiles | undefined {
  const values = Object.entries(histogram)
    .map(([key, count]) => [Number(key), count] as const)
    .filter(([, count]) => count > 0)
    .sort(([a], [b]) => a - b);
  const count = values.reduce((sum, [, n]) => sum + n, 0);
  const last = values.at(-1);
  if (last === undefined) return undefined;
  const at = (p: number): number => {
    const rank = Math.max(1, Math.ceil((p / 100) * count));
    let seen = 0;
    for (const [value, n] of values) {
      seen += n;
      if (seen >= rank) return value;
    }
    return last[0];
  };
  return { count, p50: at(50), p90: at(90), p99: at(99), max: last[0] };
}
