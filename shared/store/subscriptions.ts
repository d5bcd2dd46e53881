import { GetCommand, PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { NativeAttributeValue } from '@aws-sdk/util-dynamodb';
import { ChannelPrefix, Connections } from '../schema';
import { connectionOfKey, hashKey, hashOfKey, indexOf, type HashRange } from '../fanout/hash-space';
import { numberAt, optionalNumberAt, stringAt } from './attributes';
import { updateIf } from './conditional';
import { connectionKey, deleteRows, subscriptionKey, subscriptionPartition, writeSubscriptions, type ChannelSet, type ConnectionRow, type OpenConnection } from './connection-rows';
import type { ConnectionStore } from './connections';

/** A `subscribe` would take the connection past its limit; nothing of it was subscribed. */
export class SubscriptionLimitReached extends Error {
  override readonly name = 'SubscriptionLimitReached';
  constructor(
    readonly limit: number,
    readonly current: number,
  ) {
    super(`a connection may subscribe to at most ${limit} channels; this one has ${current}`);
  }
}

/** Attempts at the conditional write when concurrent frames on one connection keep changing its channels. */
const SUBSCRIBE_ATTEMPTS = 5;

/** Where the next page of subscribers starts: DynamoDB's LastEvaluatedKey, passed back as it came. */
export type PageStart = Record<string, NativeAttributeValue>;

export interface SubscriberPage {
  readonly connectionIds: string[];
  /** Subscribers left out of `connectionIds` because their token had expired: fan-out closes them. Absent: none. */
  readonly expired?: readonly string[];
  readonly next?: PageStart;
}

/** The first page of one write shard of a channel. */
export interface ShardPage {
  readonly shard: number;
  readonly connectionIds: readonly string[];
  /** The hash of each, in the same (ascending) order. */
  readonly hashes: readonly number[];
  /** The page holds every subscriber of the shard. */
  readonly complete: boolean;
}

export interface FirstPages {
  readonly shards: readonly ShardPage[];
  /** Subscribers left out of the pages because their token had expired: fan-out closes them. Absent: none. */
  readonly expired?: readonly string[];
  /** Epoch ms until which the channel's statuses go through the delivery queue; absent if never. */
  readonly queuedUntil?: number;
}

const { subscription, fanOutMark } = Connections.rows;

/**
 * Subscriptions made while a connection is open (`subscribe`, and follows
 * from any of its user's connections), and who subscribes to a channel: the
 * `chan#` rows of the Connections table, and the channel sets on the
 * connection row that list them for removal (see connection-rows.ts).
 */
export class SubscriptionStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly connections: Pick<ConnectionStore, 'row'>,
  ) {}

  /**
   * Subscribes a connection to `channels`, keeping it within `limit` channels
   * in all (a channel it already has does not count twice), or throws
   * SubscriptionLimitReached and subscribes it to none of them.
   */
  async subscribe(connection: OpenConnection, channels: readonly string[], limit: number): Promise<void> {
    await this.addWithin(connection.connectionId, channels, limit);
    await writeSubscriptions(this.db, this.table, channels.map((channel) => ({ ...connection, channel })));
  }

  async unsubscribe(connectionId: string, channels: readonly string[]): Promise<void> {
    await deleteRows(this.db, this.table, channels.map((channel) => subscriptionKey(channel, connectionId)));
    await this.track(connectionId, 'DELETE', channels);
  }

  /**
   * Subscribes each of a user's open connections to one channel (a follow). The byUser index does
   * not hold their tokens' expiry, which each subscription row carries: it is read from the
   * connection rows (a few, by the connection cap) while they are updated.
   */
  async subscribeConnections(connections: readonly OpenConnection[], channel: string): Promise<void> {
    const known = await Promise.all(
      connections.map(async (c) => {
        const [, tokenExpiresAt] = await Promise.all([this.track(c.connectionId, 'ADD', [channel], 'followedLater'), c.tokenExpiresAt ?? this.tokenExpiry(c.connectionId)]);
        return tokenExpiresAt === undefined ? c : { ...c, tokenExpiresAt };
      }),
    );
    await writeSubscriptions(this.db, this.table, known.map((c) => ({ ...c, channel })));
  }

  async unsubscribeConnections(connections: readonly OpenConnection[], channel: string): Promise<void> {
    await deleteRows(this.db, this.table, connections.map((c) => subscriptionKey(channel, c.connectionId)));
    await Promise.all(connections.map((c) => this.track(c.connectionId, 'DELETE', [channel], 'followedLater')));
  }

  /**
   * The first `limit` subscribers of each of the channel's write shards, read side by side, and
   * until when its statuses go through the delivery queue (see markQueued). A shard whose page is
   * `complete` has no more; for small channels these pages are everyone.
   */
  async firstPages(channel: string, limit: number, nowMs = Date.now()): Promise<FirstPages> {
    let queuedUntil: number | undefined;
    const expired: string[] = [];
    const shards = await Promise.all(
      Array.from({ length: subscription.shards }, async (_, shard): Promise<ShardPage> => {
        const { Items = [], LastEvaluatedKey } = await this.db.send(
          new QueryCommand({
            TableName: this.table,
            KeyConditionExpression: `${Connections.partitionKey} = :pk`,
            ExpressionAttributeValues: { ':pk': subscriptionPartition(channel, shard) },
            ProjectionExpression: `${Connections.sortKey}, ${fanOutMark.untilAttribute}, ${Connections.tokenExpiresAtAttribute}`,
            ConsistentRead: true,
            // The mark, if any, is the first row of shard 0.
            Limit: shard === 0 ? limit + 1 : limit,
          }),
        );
        const rows = Items.filter((item) => {
          if (item[Connections.sortKey] === fanOutMark.sortKey) {
            queuedUntil = numberAt(item, fanOutMark.untilAttribute);
            return false;
          }
          if (!tokenExpired(item, nowMs)) return true;
          expired.push(connectionOfKey(stringAt(item, Connections.sortKey)));
          return false;
        });
        const keys = rows.map((item) => stringAt(item, Connections.sortKey));
        return { shard, connectionIds: keys.map(connectionOfKey), hashes: keys.map(hashOfKey), complete: LastEvaluatedKey === undefined };
      }),
    );
    return { shards, expired, ...(queuedUntil === undefined ? {} : { queuedUntil }) };
  }

  /** One page of the subscribers whose hash is in `range`, which lies inside one write shard. */
  async rangePage(channel: string, range: HashRange, pageSize: number, start?: PageStart, nowMs = Date.now()): Promise<SubscriberPage> {
    const shard = indexOf(range.lo, subscription.shards);
    if (indexOf(range.hi - 1, subscription.shards) !== shard) throw new RangeError(`hash range [${range.lo}, ${range.hi}) spans two write shards`);
    const { Items = [], LastEvaluatedKey } = await this.db.send(
      new QueryCommand({
        TableName: this.table,
        // `~` sorts above `#` and every character of a connection id, so the range's last hash is in.
        KeyConditionExpression: `${Connections.partitionKey} = :pk AND ${Connections.sortKey} BETWEEN :lo AND :hi`,
        ExpressionAttributeValues: { ':pk': subscriptionPartition(channel, shard), ':lo': hashKey(range.lo), ':hi': `${hashKey(range.hi - 1)}~` },
        ProjectionExpression: `${Connections.sortKey}, ${Connections.tokenExpiresAtAttribute}`,
        ConsistentRead: true,
        Limit: pageSize,
        ExclusiveStartKey: start,
      }),
    );
    const connectionIds: string[] = [];
    const expired: string[] = [];
    for (const item of Items) (tokenExpired(item, nowMs) ? expired : connectionIds).push(connectionOfKey(stringAt(item, Connections.sortKey)));
    return {
      connectionIds,
      expired,
      ...(LastEvaluatedKey ? { next: LastEvaluatedKey } : {}),
    };
  }

  /**
   * Records that the channel's statuses go through the delivery queue until `until` (epoch ms), so
   * that a later status is not delivered directly, ahead of queued ones, when the channel shrinks.
   */
  async markQueued(channel: string, until: number): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.table,
        Item: {
          [Connections.partitionKey]: subscriptionPartition(channel, 0),
          [Connections.sortKey]: fanOutMark.sortKey,
          [fanOutMark.untilAttribute]: until,
          [Connections.ttlAttribute]: Math.ceil(until / 1000) + 60 * 60,
        },
      }),
    );
  }

  /**
   * Adds `channels` to the connection row's `channels` set if the set then
   * holds at most `limit`. The condition is checked by DynamoDB against the row
   * as it is at the write, so concurrent frames on one connection cannot pass
   * the limit together: the write assumes the channels it knows the set to hold
   * are still there (`contains`) and that there is room for the rest (`size`).
   * When the condition fails, the row is read again and the write retried with
   * what it now holds. A missing row (the connection is going) is not
   * recreated, as in track().
   */
  private async addWithin(connectionId: string, channels: readonly string[], limit: number): Promise<void> {
    let held: ReadonlySet<string> = new Set<string>();
    let wanted = channels;
    // A `user:` channel may already be the connection's through a follow, which the limit does not
    // count: clients resubscribe to those with `since` after every reconnection. Learn which first.
    if (channels.some((channel) => channel.startsWith(ChannelPrefix.user))) {
      const row = await this.connections.row(connectionId);
      if (!row) return;
      ({ held, wanted } = toAdd(row, channels, limit));
      if (wanted.length === 0) return;
    }
    // Otherwise the first guess is right almost always: none of them is there yet, and there is room.
    for (let attempt = 1; attempt <= SUBSCRIBE_ATTEMPTS; attempt++) {
      const kept = wanted.filter((channel) => held.has(channel));
      const room = limit - (wanted.length - kept.length);
      if (room < 0) throw new SubscriptionLimitReached(limit, held.size);
      const values: Record<string, NativeAttributeValue> = { ':channels': new Set(wanted), ':room': room };
      kept.forEach((channel, i) => (values[`:k${i}`] = channel));
      const fits = kept.length > 0 ? 'size(channels) <= :room' : '(attribute_not_exists(channels) OR size(channels) <= :room)';
      const still = kept.map((_, i) => ` AND contains(channels, :k${i})`).join('');
      const added = await updateIf(this.db, {
        TableName: this.table,
        Key: connectionKey(connectionId),
        UpdateExpression: 'ADD channels :channels',
        ConditionExpression: `attribute_exists(${Connections.partitionKey}) AND ${fits}${still}`,
        ExpressionAttributeValues: values,
      });
      if (added) return;
      const row = await this.connections.row(connectionId);
      if (!row) return;
      ({ held, wanted } = toAdd(row, channels, limit));
      if (wanted.length === 0) return;
    }
    throw new Error(`the channels of connection ${connectionId} kept changing during ${SUBSCRIBE_ATTEMPTS} attempts to subscribe`);
  }

  /** The token expiry a connection row holds, if it holds one (and exists). */
  private async tokenExpiry(connectionId: string): Promise<number | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.table, Key: connectionKey(connectionId), ProjectionExpression: Connections.tokenExpiresAtAttribute }),
    );
    return Item ? optionalNumberAt(Item, Connections.tokenExpiresAtAttribute) : undefined;
  }

  /** Keeps one of the connection row's channel sets in step, for removal later; a missing row is not recreated. */
  private async track(connectionId: string, operation: 'ADD' | 'DELETE', channels: readonly string[], set: ChannelSet = 'channels'): Promise<void> {
    if (channels.length === 0) return;
    await updateIf(this.db, {
      TableName: this.table,
      Key: connectionKey(connectionId),
      UpdateExpression: `${operation} ${set} :channels`,
      ConditionExpression: `attribute_exists(${Connections.partitionKey})`,
      ExpressionAttributeValues: { ':channels': new Set(channels) },
    });
  }
}

/** Whether a subscription row says its connection's token had expired at `nowMs`: one comparison per subscriber. */
function tokenExpired(item: Record<string, NativeAttributeValue>, nowMs: number): boolean {
  const exp: unknown = item[Connections.tokenExpiresAtAttribute];
  return typeof exp === 'number' && nowMs >= exp * 1000;
}

/** Of `channels`, those the `channels` set must gain (not already the connection's through a follow), or the limit is reached. */
function toAdd(row: ConnectionRow, channels: readonly string[], limit: number): { held: ReadonlySet<string>; wanted: string[] } {
  const followed = new Set([...row.followed, ...row.followedLater]);
  const wanted = channels.filter((channel) => !followed.has(channel));
  const added = wanted.filter((channel) => !row.channels.has(channel)).length;
  if (row.channels.size + added > limit) throw new SubscriptionLimitReached(limit, row.channels.size);
  return { held: row.channels, wanted };
}
