import type { DynamoDBDocumentClient, TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import type { ChannelName } from '../protocol';
import { Statuses } from '../schema';
import { numberAt, stringAt } from './attributes';
import { batchGetAll } from './batch';

type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

/** Where a channel stands: its last position (0 for a channel with nothing in it) and the id of the item there. */
export interface Head {
  readonly pos: number;
  readonly last?: string;
}

export const EMPTY_HEAD: Head = { pos: 0 };

const { head } = Statuses;
const headKey = (channel: ChannelName) => ({ [Statuses.partitionKey]: `${head.prefix}${channel}`, [Statuses.sortKey]: head.sortKey });

/**
 * Channel heads, rows `head#<channel>` of the Statuses table (see shared/schema.ts). PostLog
 * advances them in the transaction that writes to their channels; `subscribe` reads them so
 * that a client knows each channel's position when its subscription began.
 */
export class ChannelHeads {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /**
   * The heads of these channels, strongly consistent unless told otherwise; a channel never written
   * to is at EMPTY_HEAD. A write's conditions and a subscription's starting positions need them
   * exact; an eventually consistent read costs half, and may miss the last second's writes.
   */
  async read(channels: readonly ChannelName[], { consistent = true } = {}): Promise<Map<ChannelName, Head>> {
    const heads = new Map<ChannelName, Head>(channels.map((channel) => [channel, EMPTY_HEAD]));
    for (const item of await batchGetAll(this.db, this.table, [...heads.keys()].map(headKey), { consistent })) {
      const channel = stringAt(item, Statuses.partitionKey).slice(head.prefix.length);
      heads.set(channel, { pos: numberAt(item, head.positionAttribute), last: stringAt(item, head.lastIdAttribute) });
    }
    return heads;
  }

  /**
   * The write that moves a channel's head from `from` to the next position, at item `id`, for the
   * transaction that writes the item; it fails its condition if another write moved the head first.
   */
  advance(channel: ChannelName, from: Head, id: string): TransactItem {
    return {
      Update: {
        TableName: this.table,
        Key: headKey(channel),
        UpdateExpression: 'SET #pos = :next, #last = :id',
        ConditionExpression: from.pos === 0 ? 'attribute_not_exists(#pos)' : '#pos = :from',
        ExpressionAttributeNames: { '#pos': head.positionAttribute, '#last': head.lastIdAttribute },
        ExpressionAttributeValues: from.pos === 0 ? { ':next': 1, ':id': id } : { ':next': from.pos + 1, ':id': id, ':from': from.pos },
      },
    };
  }
}

export interface RecentHeadsOptions {
  /** How old a head kept in memory may be when it is used, in ms. @default 1000 */
  readonly maxAgeMs?: number;
  /** Heads kept at most, about 100 bytes each; the longest kept go first. @default 10000 */
  readonly maxEntries?: number;
  readonly now?: () => number;
}

/**
 * Heads for reads that may be a moment stale (the home feed, reply counts): read eventually
 * consistent, at half a read unit each, and kept in the container's memory for `maxAgeMs`.
 * Every follower's feed reads a celebrity's head, and one partition serves 3,000 read units a
 * second: kept for a second, one item costs at most one read a second per warm container of the
 * function (docs/protocol.md, "The home feed").
 */
export class RecentHeads {
  private readonly kept = new Map<ChannelName, { readonly head: Head; readonly at: number }>();
  private readonly maxAgeMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(
    private readonly heads: Pick<ChannelHeads, 'read'>,
    { maxAgeMs = 1_000, maxEntries = 10_000, now = Date.now }: RecentHeadsOptions = {},
  ) {
    this.maxAgeMs = maxAgeMs;
    this.maxEntries = maxEntries;
    this.now = now;
  }

  /** The heads of these channels, in the order given, none older than `maxAgeMs`. */
  async read(channels: readonly ChannelName[]): Promise<Map<ChannelName, Head>> {
    const now = this.now();
    const found = new Map<ChannelName, Head>();
    const stale: ChannelName[] = [];
    for (const channel of channels) {
      const entry = this.kept.get(channel);
      if (entry !== undefined && now - entry.at < this.maxAgeMs) found.set(channel, entry.head);
      else stale.push(channel);
    }
    if (stale.length > 0) {
      for (const [channel, head] of await this.heads.read(stale, { consistent: false })) {
        found.set(channel, head);
        this.keep(channel, head, now);
      }
    }
    return new Map(channels.map((channel) => [channel, found.get(channel) ?? EMPTY_HEAD]));
  }

  private keep(channel: ChannelName, head: Head, at: number): void {
    this.kept.delete(channel);
    this.kept.set(channel, { head, at });
    if (this.kept.size > this.maxEntries) {
      const oldest = this.kept.keys().next();
      if (!oldest.done) this.kept.delete(oldest.value);
    }
  }
}
