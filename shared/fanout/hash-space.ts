import { createHash } from 'node:crypto';

/**
 * Subscribers are placed in a 32-bit hash space by their connection id. The space is cut
 * three ways, each cut nesting in the coarser one:
 * - write shards: the partitions a channel's subscription rows are spread across (a power of two);
 * - delivery groups: the SQS FIFO message groups of a channel, each inside one shard (a power of
 *   two, at least the shards);
 * - segments: one queued piece of work, a range inside one group (any number of them per group).
 * A connection's hash never changes, so it is always in the same group: that group's
 * FIFO order is the order it receives the channel's statuses in.
 */
export const HASH_SPACE = 2 ** 32;

/** [lo, hi) of the hash space. */
export interface HashRange {
  readonly lo: number;
  readonly hi: number;
}

/** The first 32 bits of the connection id's SHA-256: uniform, and the same wherever it is computed. */
export function connectionHash(connectionId: string): number {
  return createHash('sha256').update(connectionId).digest().readUInt32BE(0);
}

/** Hex digits of a hash in a sort key. */
const HASH_DIGITS = 8;

/** A hash as the 8 hex digits that begin a subscription row's sort key: string order is hash order. */
export const hashKey = (hash: number): string => hash.toString(16).padStart(HASH_DIGITS, '0');

/** A subscription row's sort key: `<8 hex digits>#<connectionId>`. */
export const subscriptionSortKey = (hash: number, connectionId: string): string => `${hashKey(hash)}#${connectionId}`;

/** The hash in a subscription row's sort key. */
export const hashOfKey = (sortKey: string): number => Number.parseInt(sortKey.slice(0, HASH_DIGITS), 16);

/** The connection id in a subscription row's sort key. */
export const connectionOfKey = (sortKey: string): string => sortKey.slice(HASH_DIGITS + 1);

/** The i-th of `parts` equal ranges of `range` (parts divides it evenly when both are powers of two). */
export function part(range: HashRange, parts: number, i: number): HashRange {
  const width = (range.hi - range.lo) / parts;
  return { lo: range.lo + Math.round(width * i), hi: i === parts - 1 ? range.hi : range.lo + Math.round(width * (i + 1)) };
}

export const WHOLE: HashRange = { lo: 0, hi: HASH_SPACE };

/** Which of `parts` equal ranges of the whole space holds `hash`. */
export const indexOf = (hash: number, parts: number): number => Math.floor(hash / (HASH_SPACE / parts));

export function assertPowerOfTwo(name: string, n: number): void {
  if (!Number.isInteger(n) || n < 1 || (n & (n - 1)) !== 0) throw new RangeError(`${name} must be a power of two, not ${n}`);
}
