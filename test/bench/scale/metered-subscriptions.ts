import { indexOf, type HashRange } from '../../../shared/fanout/hash-space';
import { Connections } from '../../../shared/schema';
import { subscriptionPartition } from '../../../shared/store/connection-rows';
import type { FirstPages, PageStart, SubscriberPage } from '../../../shared/store/subscriptions';
import type { FanOutSubscriptions } from './memory-subscriptions';

const { sortKey: SK, partitionKey: PK, ttlAttribute } = Connections;
const { fanOutMark, subscription } = Connections.rows;

/** DynamoDB's size of a number: about one byte per two significant digits, plus one. */
const numberBytes = (digits: number) => 1 + Math.ceil(digits / 2);

/**
 * The size DynamoDB bills for a subscription row: attribute names and values, i.e. the keys
 * (the sort key is 8 hex digits, `#` and the connection id) and the TTL's 10-digit epoch seconds.
 */
export const subscriptionRowBytes = (pk: string, connectionId: string): number =>
  PK.length + pk.length + SK.length + 9 + connectionId.length + ttlAttribute.length + numberBytes(10);

/** The fan-out mark's row: keys, `until` (epoch ms, 13 digits) and the TTL. */
export const markRowBytes = (pk: string): number =>
  PK.length + pk.length + SK.length + fanOutMark.sortKey.length + fanOutMark.untilAttribute.length + numberBytes(13) + ttlAttribute.length + numberBytes(10);

/** A strongly consistent read: one read request unit per 4 KB the Query read, rounded up, at least one. */
export const consistentReadUnits = (bytes: number): number => Math.max(1, Math.ceil(bytes / 4096));

export interface StoreMeter {
  queries: number;
  /** Summed over Queries (the first pages' four count as one call), and the slowest. */
  queryMs: number;
  maxQueryMs: number;
  /** Of those, the first page of each segment: the only ones a worker waits for (later pages are read ahead). */
  firstRangePageMs: number;
  /** The stream consumer's reads and its mark. */
  firstPagesMs: number;
  markMs: number;
  rowsRead: number;
  readUnits: number;
  writeUnits: number;
}

export const newStoreMeter = (): StoreMeter => ({ queries: 0, queryMs: 0, maxQueryMs: 0, firstRangePageMs: 0, firstPagesMs: 0, markMs: 0, rowsRead: 0, readUnits: 0, writeUnits: 0 });

/**
 * Counts what the stream consumer and the workers read and write, in DynamoDB's units,
 * whichever store answers: each Query's rows are sized as the table holds them (the
 * projection does not change what a read costs).
 */
export class MeteredSubscriptions implements FanOutSubscriptions {
  meter = newStoreMeter();

  constructor(private readonly inner: FanOutSubscriptions) {}

  async firstPages(channel: string, limit: number): Promise<FirstPages> {
    const started = performance.now();
    const pages = await this.inner.firstPages(channel, limit);
    this.meter.firstPagesMs += this.timed(started, false);
    for (const page of pages.shards) {
      const pk = subscriptionPartition(channel, page.shard);
      let bytes = page.shard === 0 && pages.queuedUntil !== undefined ? markRowBytes(pk) : 0;
      for (const connectionId of page.connectionIds) bytes += subscriptionRowBytes(pk, connectionId);
      this.meter.queries++;
      this.meter.rowsRead += page.connectionIds.length;
      this.meter.readUnits += consistentReadUnits(bytes);
    }
    return pages;
  }

  async rangePage(channel: string, range: HashRange, pageSize: number, start?: PageStart): Promise<SubscriberPage> {
    const started = performance.now();
    const page = await this.inner.rangePage(channel, range, pageSize, start);
    this.timed(started, start === undefined);
    const pk = subscriptionPartition(channel, indexOf(range.lo, subscription.shards));
    let bytes = 0;
    for (const connectionId of page.connectionIds) bytes += subscriptionRowBytes(pk, connectionId);
    this.meter.queries++;
    this.meter.rowsRead += page.connectionIds.length;
    this.meter.readUnits += consistentReadUnits(bytes);
    return page;
  }

  async markQueued(channel: string, until: number): Promise<void> {
    const started = performance.now();
    await this.inner.markQueued(channel, until);
    this.meter.markMs += performance.now() - started;
    // One PutItem of a row under 1 KB.
    this.meter.writeUnits += 1;
  }

  private timed(started: number, firstRangePage: boolean): number {
    const ms = performance.now() - started;
    this.meter.queryMs += ms;
    this.meter.maxQueryMs = Math.max(this.meter.maxQueryMs, ms);
    if (firstRangePage) this.meter.firstRangePageMs += ms;
    return ms;
  }
}
