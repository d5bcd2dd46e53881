/** What `updraft bench` reports, alone or merged from several shards' JSON (`updraft bench merge`). */
import { mergeHistograms, percentiles, type Histogram } from './histogram';

export interface BenchReport {
  readonly type: 'bench';
  /** The run's name: every shard of one run carries the same. */
  readonly run: string;
  /** The shards in the report, as `i/n`. */
  readonly shards: readonly string[];
  readonly channels: number;
  readonly subscribers: { readonly planned: number; readonly subscribed: number };
  readonly posts: { readonly planned: number; readonly sent: number; readonly posted: number };
  /** Connections the server refused or never answered, by reason (`HTTP 401`, `ECONNRESET`, `timeout`). */
  readonly handshakeFailures: { readonly total: number; readonly byReason: Readonly<Record<string, number>> };
  /** Error frames by protocol code, and connections closed under the run (`closed <code>`). */
  readonly errors: Readonly<Record<string, number>>;
  readonly deliveries: {
    /** Subscribed subscribers × the run's posts to their channel (all shards' posts). */
    readonly expected: number;
    /** Every status frame of the run that arrived, duplicates included. */
    readonly received: number;
    readonly duplicates: number;
    readonly missing: number;
    /** Distinct deliveries from the first post sent to the last delivery. */
    readonly perSecond: number;
  };
  /** From the post's send time (carried in its text) to its delivery, in ms. */
  readonly latencyMs: { readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number; readonly histogram: Histogram } | null;
  /** Epoch ms: the first post sent and the last delivery, for deliveries per second across shards. */
  readonly firstPostAt: number | null;
  readonly lastDeliveryAt: number | null;
}

export function perSecond(distinct: number, firstPostAt: number | null, lastDeliveryAt: number | null): number {
  if (firstPostAt === null || lastDeliveryAt === null || lastDeliveryAt <= firstPostAt) return 0;
  return Math.round((distinct / ((lastDeliveryAt - firstPostAt) / 1000)) * 10) / 10;
}

export function latencyOf(histogram: Histogram): BenchReport['latencyMs'] {
  const p = percentiles(histogram);
  return p === undefined ? null : { p50: p.p50, p90: p.p90, p99: p.p99, max: p.max, histogram };
}

const sumOf = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);

function addCounts(maps: readonly Readonly<Record<string, number>>[]): Record<string, number> {
  const sum: Record<string, number> = {};
  for (const map of maps) for (const [key, n] of Object.entries(map)) sum[key] = (sum[key] ?? 0) + n;
  return sum;
}

/**
 * One report from the shards of one run: counts add up, and latencies are
 * merged histograms. Posts planned are the run's, the same in every shard.
 */
export function mergeReports(reports: readonly BenchReport[]): BenchReport {
  const [first] = reports;
  if (first === undefined) throw new Error('nothing to merge');
  for (const report of reports) {
    if (report.run !== first.run) throw new Error(`reports of different runs: ${first.run} and ${report.run}`);
  }
  const shards = reports.flatMap((r) => r.shards);
  const repeated = shards.find((shard, i) => shards.indexOf(shard) !== i);
  if (repeated !== undefined) throw new Error(`shard ${repeated} is in two reports`);
  const starts = reports.map((r) => r.firstPostAt).filter((t): t is number => t !== null);
  const ends = reports.map((r) => r.lastDeliveryAt).filter((t): t is number => t !== null);
  const firstPostAt = starts.length > 0 ? Math.min(...starts) : null;
  const lastDeliveryAt = ends.length > 0 ? Math.max(...ends) : null;
  const received = sumOf(reports.map((r) => r.deliveries.received));
  const duplicates = sumOf(reports.map((r) => r.deliveries.duplicates));
  return {
    type: 'bench',
    run: first.run,
    shards,
    channels: first.channels,
    subscribers: { planned: sumOf(reports.map((r) => r.subscribers.planned)), subscribed: sumOf(reports.map((r) => r.subscribers.subscribed)) },
    posts: { planned: first.posts.planned, sent: sumOf(reports.map((r) => r.posts.sent)), posted: sumOf(reports.map((r) => r.posts.posted)) },
    handshakeFailures: {
      total: sumOf(reports.map((r) => r.handshakeFailures.total)),
      byReason: addCounts(reports.map((r) => r.handshakeFailures.byReason)),
    },
    errors: addCounts(reports.map((r) => r.errors)),
    deliveries: {
      expected: sumOf(reports.map((r) => r.deliveries.expected)),
      received,
      duplicates,
      missing: sumOf(reports.map((r) => r.deliveries.missing)),
      perSecond: perSecond(received - duplicates, firstPostAt, lastDeliveryAt),
    },
    latencyMs: latencyOf(mergeHistograms(reports.map((r) => r.latencyMs?.histogram ?? {}))),
    firstPostAt,
    lastDeliveryAt,
  };
}

/** A report read from a file: its shape checked where merging relies on it. */
export function parseReport(text: string, name: string): BenchReport {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`${name} is not JSON`);
  }
  const report = value as Partial<BenchReport> | null;
  const ok =
    typeof report === 'object' && report !== null && report.type === 'bench' && typeof report.run === 'string' && Array.isArray(report.shards) &&
    typeof report.deliveries?.received === 'number' && typeof report.subscribers?.planned === 'number' && typeof report.posts?.planned === 'number' &&
    typeof report.handshakeFailures?.total === 'number' && typeof report.errors === 'object' && report.latencyMs !== undefined;
  if (!ok) throw new Error(`${name} is not a report of updraft bench --json`);
  return report as BenchReport;
}

const counts = (map: Readonly<Record<string, number>>) => {
  const entries = Object.entries(map).sort(([, a], [, b]) => b - a);
  return entries.length === 0 ? 'none' : entries.map(([key, n]) => `${key} ${n}`).join(', ');
};

/** The report for people. */
export function formatReport(report: BenchReport): string {
  const l = report.latencyMs;
  return [
    `run ${report.run}${report.shards.length === 1 && report.shards[0] === '1/1' ? '' : ` (shards ${report.shards.join(', ')})`}: ${report.subscribers.subscribed} of ${report.subscribers.planned} subscribers on ${report.channels} channels, ${report.posts.posted} of ${report.posts.planned} posts`,
    `post to delivery   ${l === null ? 'no deliveries' : `p50 ${l.p50} ms  p90 ${l.p90} ms  p99 ${l.p99} ms  max ${l.max} ms`}`,
    `deliveries         ${report.deliveries.received - report.deliveries.duplicates} of ${report.deliveries.expected} expected, ${report.deliveries.perSecond}/s`,
    `missing            ${report.deliveries.missing}`,
    `duplicates         ${report.deliveries.duplicates}`,
    `handshake failures ${report.handshakeFailures.total}${report.handshakeFailures.total === 0 ? '' : ` (${counts(report.handshakeFailures.byReason)})`}`,
    `errors             ${counts(report.errors)}`,
  ].join('\n');
}
