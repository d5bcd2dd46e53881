import { connectionOfKey, hashKey, hashOfKey, indexOf, type HashRange } from '../../../shared/fanout/hash-space';
import { Connections } from '../../../shared/schema';
import { subscriptionKey, subscriptionPartition } from '../../../shared/store/connection-rows';
import type { FirstPages, PageStart, ShardPage, SubscriberPage, SubscriptionStore } from '../../../shared/store/subscriptions';

/** What fan-out reads of subscriptions: the stream consumer's first pages and mark, the workers' range pages. */
export type FanOutSubscriptions = Pick<SubscriptionStore, 'firstPages' | 'rangePage' | 'markQueued'>;

const { partitionKey: PK, sortKey: SK } = Connections;
const { subscription, fanOutMark } = Connections.rows;

/**
 * Subscriptions in memory, for channels bigger than bench:scale loads into DynamoDB
 * Local: the same rows (keys from connection-rows.ts), read as SubscriptionStore's
 * Queries read them: each partition sorted by sort key, pages cut at `Limit` with a
 * LastEvaluatedKey whenever the limit is reached (as DynamoDB does, even when no row
 * follows), the fan-out mark first in shard 0. Each Query waits `queryMs`, a model of
 * DynamoDB's latency.
 */
export class MemorySubscriptions implements FanOutSubscriptions {
  /** Sort keys by partition key, ascending once sorted. */
  private readonly partitions = new Map<string, string[]>();
  private readonly marks = new Map<string, number>();
  private sorted = true;

  constructor(private readonly queryMs = 0) {}

  add(channel: string, connectionIds: readonly string[]): void {
    for (const connectionId of connectionIds) {
      const key = subscriptionKey(channel, connectionId);
      const pk = key[PK] ?? '';
      const rows = this.partitions.get(pk);
      if (rows) rows.push(key[SK] ?? '');
      else this.partitions.set(pk, [key[SK] ?? '']);
    }
    // Sorted now, while loading, not in the first Query of a measured run.
    this.sorted = false;
    this.sort();
  }

  /** Every row of the channel (the mark included), in the table's order: what a Scan reads. */
  rows(channel: string): { readonly pk: string; readonly sk: string }[] {
    this.sort();
    const rows: { pk: string; sk: string }[] = [];
    const mark = this.mark(channel);
    if (mark) rows.push(mark);
    for (let shard = 0; shard < subscription.shards; shard++) {
      const pk = subscriptionPartition(channel, shard);
      for (const sk of this.partitions.get(pk) ?? []) rows.push({ pk, sk });
    }
    return rows;
  }

  async firstPages(channel: string, limit: number): Promise<FirstPages> {
    this.sort();
    await this.latency();
    const queuedUntil = this.marks.get(channel);
    const shards = Array.from({ length: subscription.shards }, (_, shard): ShardPage => {
      const rows = this.partitions.get(subscriptionPartition(channel, shard)) ?? [];
      // The mark is the first row of shard 0 and counts towards its Limit of limit + 1.
      const queryLimit = shard === 0 ? limit + 1 : limit;
      const take = shard === 0 && queuedUntil !== undefined ? queryLimit - 1 : queryLimit;
      const keys = rows.slice(0, take);
      const read = keys.length + (shard === 0 && queuedUntil !== undefined ? 1 : 0);
      return { shard, connectionIds: keys.map(connectionOfKey), hashes: keys.map(hashOfKey), complete: read < queryLimit };
    });
    return { shards, ...(queuedUntil === undefined ? {} : { queuedUntil }) };
  }

  async rangePage(channel: string, range: HashRange, pageSize: number, start?: PageStart): Promise<SubscriberPage> {
    this.sort();
    const shard = indexOf(range.lo, subscription.shards);
    if (indexOf(range.hi - 1, subscription.shards) !== shard) throw new RangeError(`hash range [${range.lo}, ${range.hi}) spans two write shards`);
    await this.latency();
    const rows = this.partitions.get(subscriptionPartition(channel, shard)) ?? [];
    const lo = hashKey(range.lo);
    const hi = `${hashKey(range.hi - 1)}~`;
    const after: unknown = start?.[SK];
    // BETWEEN :lo AND :hi, after the ExclusiveStartKey if any.
    const from = typeof after === 'string' ? upperBound(rows, after) : lowerBound(rows, lo);
    const to = upperBound(rows, hi);
    const keys = rows.slice(from, Math.min(to, from + pageSize));
    const last = keys.at(-1);
    return {
      connectionIds: keys.map(connectionOfKey),
      ...(keys.length === pageSize && last !== undefined ? { next: { [PK]: subscriptionPartition(channel, shard), [SK]: last } } : {}),
    };
  }

  markQueued(channel: string, until: number): Promise<void> {
    this.marks.set(channel, until);
    return this.latency();
  }

  /** The fan-out mark's row, if any, for the bytes a Query of shard 0 reads. */
  mark(channel: string): { readonly pk: string; readonly sk: string } | undefined {
    return this.marks.has(channel) ? { pk: subscriptionPartition(channel, 0), sk: fanOutMark.sortKey } : undefined;
  }

  private latency(): Promise<void> {
    return this.queryMs > 0 ? new Promise((resolve) => setTimeout(resolve, this.queryMs)) : Promise.resolve();
  }

  private sort(): void {
    if (this.sorted) return;
    // Code-unit order is byte order for these ASCII keys: DynamoDB's order of a string sort key.
    for (const rows of this.partitions.values()) rows.sort();
    this.sorted = true;
  }
}

/** The first index whose key is ≥ `key`. */
function lowerBound(rows: readonly string[], key: string): number {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((rows[mid] ?? '') < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The first index whose key is > `key`. */
function upperBound(rows: readonly string[], key: string): number {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((rows[mid] ?? '') <= key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
