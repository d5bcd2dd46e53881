import fc from 'fast-check';
import { mergeHistograms, percentiles, record, type Histogram } from '../../../../../clients/cli/bench/histogram';
import { mergeReports, type BenchReport } from '../../../../../clients/cli/bench/report';

/** Nearest-rank percentiles of raw values, the definition the histogram must meet. */
function rawPercentiles(values: readonly number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1];
  return { count: sorted.length, p50: at(50), p90: at(90), p99: at(99), max: sorted.at(-1) };
}

const histogramOf = (values: readonly number[]): Histogram => {
  const histogram: Histogram = {};
  for (const value of values) record(histogram, value);
  return histogram;
};

const latencies = fc.array(fc.integer({ min: 0, max: 5000 }), { minLength: 1, maxLength: 300 });

function report(shard: string, values: readonly number[], counts: { expected: number; received: number; duplicates: number; firstPostAt: number; lastDeliveryAt: number }): BenchReport {
  return {
    type: 'bench',
    run: 'r1',
    shards: [shard],
    channels: 2,
    subscribers: { planned: 5, subscribed: 5 },
    posts: { planned: 20, sent: 10, posted: 10 },
    handshakeFailures: { total: 1, byReason: { 'HTTP 429': 1 } },
    errors: { rate_limited: 2 },
    deliveries: { expected: counts.expected, received: counts.received, duplicates: counts.duplicates, missing: counts.expected - (counts.received - counts.duplicates), perSecond: 0 },
    latencyMs: { p50: 0, p90: 0, p99: 0, max: 0, histogram: histogramOf(values) },
    firstPostAt: counts.firstPostAt,
    lastDeliveryAt: counts.lastDeliveryAt,
  };
}

describe('bench reports', () => {
  it("a histogram's percentiles are those of its values", () => {
    fc.assert(
      fc.property(latencies, (values) => {
        expect(percentiles(histogramOf(values))).toEqual(rawPercentiles(values));
      }),
    );
  });

  it('percentiles of merged histograms are those of the union of their values, not averages', () => {
    fc.assert(
      fc.property(fc.array(latencies, { minLength: 2, maxLength: 5 }), (parts) => {
        // Act
        const merged = percentiles(mergeHistograms(parts.map(histogramOf)));

        // Assert
        expect(merged).toEqual(rawPercentiles(parts.flat()));
      }),
    );
  });

  it('merging shard reports adds their counts and merges their latencies', () => {
    // Prepare: two shards of one run, their latencies skewed apart so an average would show.
    const a = report('1/2', [10, 11, 12, 13], { expected: 40, received: 41, duplicates: 1, firstPostAt: 1_000, lastDeliveryAt: 3_000 });
    const b = report('2/2', [500, 20], { expected: 40, received: 38, duplicates: 0, firstPostAt: 1_200, lastDeliveryAt: 5_000 });

    // Act
    const merged = mergeReports([a, b]);

    // Assert
    expect(merged.shards).toEqual(['1/2', '2/2']);
    expect(merged.subscribers).toEqual({ planned: 10, subscribed: 10 });
    expect(merged.posts).toEqual({ planned: 20, sent: 20, posted: 20 });
    expect(merged.handshakeFailures).toEqual({ total: 2, byReason: { 'HTTP 429': 2 } });
    expect(merged.errors).toEqual({ rate_limited: 4 });
    expect(merged.deliveries).toEqual({ expected: 80, received: 79, duplicates: 1, missing: 2, perSecond: 19.5 });
    expect(merged.latencyMs).toMatchObject({ p50: 12, p90: 500, p99: 500, max: 500 });
    expect(merged.firstPostAt).toBe(1_000);
    expect(merged.lastDeliveryAt).toBe(5_000);
  });

  it('refuses reports of different runs, or one shard twice', () => {
    const counts = { expected: 1, received: 1, duplicates: 0, firstPostAt: 0, lastDeliveryAt: 1 };
    expect(() => mergeReports([report('1/2', [1], counts), { ...report('2/2', [1], counts), run: 'other' }])).toThrow('different runs');
    expect(() => mergeReports([report('1/2', [1], counts), report('1/2', [1], counts)])).toThrow('shard 1/2 is in two reports');
  });
});
