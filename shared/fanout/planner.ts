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
  /** At most this many segments per status (bigger segments beyond): bounds the stream consumer's time on one record. At least `groups`. */
  readonly maxSegments: number;
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
  const pieces = shareSegments(
    counts.map((count) => Math.ceil(count / options.segmentSize)),
    options.maxSegments,
  );
  const byGroup = pieces.map((n, group) => Array.from({ length: n }, (_, i): Segment => ({ group, range: part(part(WHOLE, options.groups, group), n, i) })));
  // Queued round-robin across groups (each group's own segments still in order): SQS FIFO hands out
  // the group whose oldest message is oldest, so the groups advance side by side and end together,
  // instead of the first groups finishing while the last ones are left to a few workers.
  const rounds = Math.max(0, ...pieces);
  const segments = Array.from({ length: rounds }, (_, round) => byGroup.flatMap((group) => group[round] ?? []));
  return { kind: 'queue', segments: segments.flat(), estimatedSubscribers: Math.round(counts.reduce((sum, n) => sum + n, 0)) };
}

/**
 * Segments per group: as wanted, or, over `max` in all, one for every group with anyone in it
 * and the rest of `max` shared in proportion to what each wanted beyond that one.
 */
function shareSegments(wanted: readonly number[], max: number): number[] {
  const total = wanted.reduce((sum, n) => sum + n, 0);
  if (total <= max) return [...wanted];
  const groups = wanted.filter((n) => n > 0).length;
  const scale = (max - groups) / (total - groups);
  return wanted.map((n) => (n === 0 ? 0 : 1 + Math.floor((n - 1) * scale)));
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
