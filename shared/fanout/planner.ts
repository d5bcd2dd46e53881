import type { FirstPages, ShardPage } from '../store/subscriptions';
import { assertPowerOfTwo, indexOf, part, WHOLE, type HashRange } from './hash-space';

/**
 * Decides how one status reaches its channel's subscribers, from the first page of
 * each write shard (which the stream consumer reads anyway):
 * - `direct`: every shard's page is complete, so the pages are everyone. The stream
 *   consumer delivers to them itself, with no further read and no queue in between.
 * - `queue`: a large channel. Its hash space is cut into delivery groups (the SQS FIFO
 *   message groups) and each group into segments of about `segmentSize` subscribers or
 *   fewer, counted from the pages where they are complete and estimated from their density
 *   where not (a page of 500 hashes estimates its shard within about 5%). Segments are
 *   read and delivered by the delivery workers; a group's segments arrive in the order
 *   they are queued, so a subscriber receives the channel's statuses in order.
 *   Every group with anyone in it gets the same number of segments, one that fits the
 *   receive batch (see `segmentsPerGroup`), so that a receive never splits a group's
 *   segments of a status between two workers' batches.
 * A channel marked as queued (a recent status went through the queue) stays on the queue
 * even when it has shrunk, so that a direct delivery cannot overtake a queued one.
 */
export interface PlanOptions {
  /** SQS FIFO message groups per channel: how many workers may deliver one channel at once. A power of two, at least the write shards. */
  readonly groups: number;
  /** Subscribers per queued segment, about: at most this many in an average group's, fewer where the batch asks for more segments. */
  readonly segmentSize: number;
  /** At most this many segments per status (bigger segments beyond): bounds the stream consumer's time on one record. At least `groups`. */
  readonly maxSegments: number;
  /** Messages a delivery worker receives at once: the delivery queue's event source batch size. */
  readonly receiveBatch: number;
}

export interface Segment {
  readonly group: number;
  readonly range: HashRange;
}

export type Plan =
  | { readonly kind: 'direct'; readonly connectionIds: readonly string[] }
  | { readonly kind: 'queue'; readonly segments: readonly Segment[]; readonly estimatedSubscribers: number };

/** `direct`: whether the stream consumer may still deliver this status itself (its invocation's budget of direct posts is not spent). */
export function planFanOut(pages: FirstPages, now: number, options: PlanOptions, direct = true): Plan {
  const shards = pages.shards.length;
  assertPowerOfTwo('groups', options.groups);
  assertPowerOfTwo('write shards', shards);
  if (options.groups < shards) throw new RangeError(`groups (${options.groups}) must be at least the write shards (${shards})`);
  if (options.maxSegments < options.groups) throw new RangeError(`maxSegments (${options.maxSegments}) must be at least groups (${options.groups})`);

  const queued = pages.queuedUntil !== undefined && pages.queuedUntil > now;
  const everyone = pages.shards.every((page) => page.complete);
  if (direct && !queued && everyone) return { kind: 'direct', connectionIds: pages.shards.flatMap((page) => page.connectionIds) };

  const counts = Array.from({ length: options.groups }, (_, group) => subscribersIn(part(WHOLE, options.groups, group), pages.shards));
  const total = counts.reduce((sum, n) => sum + n, 0);
  const filled = counts.filter((count) => count > 0).length;
  // From the groups' mean, not the busiest: one group a little over would double every group's segments.
  const wanted = filled === 0 ? 0 : Math.ceil(total / filled / options.segmentSize);
  const perGroup = segmentsPerGroup(wanted, options.receiveBatch, Math.floor(options.maxSegments / Math.max(1, filled)));
  const pieces = counts.map((count) => (count > 0 ? perGroup : 0));
  const byGroup = pieces.map((n, group) => Array.from({ length: n }, (_, i): Segment => ({ group, range: part(part(WHOLE, options.groups, group), n, i) })));
  // Queued round-robin across groups, a batch's worth of a group at a time (each group's own segments
  // still in order): SQS FIFO hands out the group whose oldest message is oldest, so the groups advance
  // side by side and end together, instead of the first groups finishing while the last ones are left
  // to a few workers. A turn (all of a group's segments, or a batch of them) divides 10, and
  // SqsSegmentQueue sends in tens from the first, so no turn is cut between two SendMessageBatch calls
  // either: a receive never finds half a turn visible.
  const turn = Math.min(perGroup, options.receiveBatch);
  const rounds = turn === 0 ? 0 : perGroup / turn;
  const segments = Array.from({ length: rounds }, (_, round) => byGroup.flatMap((group) => group.slice(round * turn, (round + 1) * turn)));
  return { kind: 'queue', segments: segments.flat(), estimatedSubscribers: Math.round(total) };
}

/**
 * Segments for each group with anyone in it: the fewest, at least `wanted`, that fit the
 * receive batch, that is a divisor of `batch` (1, 2, 5 or 10 for 10) up to it and a multiple
 * of it beyond; the most such at or under `most` when that is fewer (`maxSegments` shared
 * between the groups). The same for every group, because the event source fills a batch with
 * each group's messages in turn, as many as fit: with k segments a group and k dividing the
 * batch, a batch holds batch / k whole groups; with a multiple of the batch, each batch is one
 * group's. Mixed counts (5 and 2, say) would leave the last group of a batch cut in two, its
 * segments waiting for a second batch while other workers idle.
 */
export function segmentsPerGroup(wanted: number, batch: number, most: number): number {
  if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`the receive batch must be a whole number of at least 1, not ${batch}`);
  if (wanted <= 0) return 0;
  const fits = (n: number) => (n <= batch ? batch % n === 0 : n % batch === 0);
  let up = Math.ceil(wanted);
  while (!fits(up)) up++;
  if (up <= most) return up;
  // Over the cap: the most that fits under it (1 always does, and maxSegments ≥ groups makes most ≥ 1).
  let down = Math.max(1, Math.floor(most));
  while (!fits(down)) down--;
  return down;
}

/**
 * Subscribers with a hash in `range` (inside one shard): counted where the shard's page is
 * complete, else estimated from the density of the hashes the page holds.
 */
function subscribersIn(range: HashRange, shards: readonly ShardPage[]): number {
  const shard = shards[indexOf(range.lo, shards.length)];
  if (!shard) throw new RangeError(`no page for the shard of hash ${range.lo}`);
  if (shard.complete) return shard.hashes.filter((hash) => hash >= range.lo && hash < range.hi).length;
  const shardLo = part(WHOLE, shards.length, shard.shard).lo;
  const last = shard.hashes.at(-1);
  // DynamoDB says there is more only after at least one row (there is no filter).
  if (last === undefined) throw new RangeError(`shard ${shard.shard}'s page is empty yet incomplete`);
  const density = shard.hashes.length / (last - shardLo + 1);
  return density * (range.hi - range.lo);
}
