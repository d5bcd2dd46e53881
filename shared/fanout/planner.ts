import type { FirstPages, ShardPage } from '../store/subscriptions';
import { assertPowerOfTwo, indexOf, part, WHOLE, type HashRange } from './hash-space';

/**
 * Decides how one status reaches its channel's subscribers, from the first page of
 * each write shard (which the stream consumer reads anyway):
 * - `direct`: every shard's page is complete, so the pages are everyone. The stream
 *   consumer delivers to them itself, with no further read and no queue in between.
 * - `queue`: a large channel. Its hash space is cut into delivery groups (the SQS FIFO
 *   message groups) and each group into segments of about `segmentSize` subscribers,
 *   counted from the pages where they are complete and estimated from their density
 *   where not (a page of 500 hashes estimates its shard within about 5%). Segments are
 *   read and delivered by the delivery workers; a group's segments arrive in the order
 *   they are queued, so a subscriber receives the channel's statuses in order.
 * A channel marked as queued (a recent status went through the queue) stays on the queue
 * even when it has shrunk, so that a direct delivery cannot overtake a queued one.
 */
export interface PlanOptions {
  /** SQS FIFO message groups per channel: how many workers may deliver one channel at once. A power of two, at least the write shards. */
  readonly groups: number;
  /** Subscribers per queued segment, about. */
  readonly segmentSize: number;
  /** At most this many segments per status (bigger segments beyond): bounds the stream consumer's time on one record. */
  readonly maxSegments: number;
}

export interface Segment {
  readonly group: number;
  readonly range: HashRange;
}

export type Plan =
  | { readonly kind: 'direct'; readonly connectionIds: readonly string[] }
  | { readonly kind: 'queue'; readonly segments: readonly Segment[]; readonly estimatedSubscribers: number };

export function planFanOut(pages: FirstPages, now: number, options: PlanOptions): Plan {
  const shards = pages.shards.length;
  assertPowerOfTwo('groups', options.groups);
  assertPowerOfTwo('write shards', shards);
  if (options.groups < shards) throw new RangeError(`groups (${options.groups}) must be at least the write shards (${shards})`);
  if (options.maxSegments < options.groups) throw new RangeError(`maxSegments (${options.maxSegments}) must be at least groups (${options.groups})`);

  const queued = pages.queuedUntil !== undefined && pages.queuedUntil > now;
  if (!queued && pages.shards.every((page) => page.complete)) return { kind: 'direct', connectionIds: pages.shards.flatMap((page) => page.connectionIds) };

  const counts = Array.from({ length: options.groups }, (_, group) => subscribersIn(part(WHOLE, options.groups, group), pages.shards));
  const wanted = counts.map((count) => Math.ceil(count / options.segmentSize));
  const total = wanted.reduce((sum, n) => sum + n, 0);
  // Over the cap, every group's share of segments shrinks alike (and each keeps at least one).
  const scale = total > options.maxSegments ? options.maxSegments / total : 1;
  const byGroup = wanted.map((n, group) => {
    const pieces = n === 0 ? 0 : Math.max(1, Math.floor(n * scale));
    const groupRange = part(WHOLE, options.groups, group);
    return Array.from({ length: pieces }, (_, i): Segment => ({ group, range: part(groupRange, pieces, i) }));
  });
  // Queued round-robin across groups (each group's own segments still in order): SQS FIFO hands out
  // the group whose oldest message is oldest, so the groups advance side by side and end together,
  // instead of the first groups finishing while the last ones are left to a few workers.
  const rounds = Math.max(0, ...byGroup.map((pieces) => pieces.length));
  const segments = Array.from({ length: rounds }, (_, round) => byGroup.flatMap((pieces) => pieces[round] ?? [])).flat();
  return { kind: 'queue', segments, estimatedSubscribers: Math.round(counts.reduce((sum, n) => sum + n, 0)) };
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
