import { BatchGetCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand, paginateQuery, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { NativeAttributeValue } from '@aws-sdk/util-dynamodb';
import { batchWriteAll } from './batch';
import { updateIf } from './conditional';

/**
 * The Connections table holds what lives as long as a connection, all of it
 * with the TTL attribute `expiresAt`:
 * - `pk=conn#<connectionId>, sk=conn`: the connection, its user, and what it
 *   subscribes to, so that its rows can be found and removed on disconnect or
 *   when API Gateway says Gone: `followed`, the channels $connect subscribed it
 *   to, as one space-separated string (up to 1,000 channels: a string set that
 *   size is slow to write), `followedLater`, a set of the channels of people
 *   followed since, and `channels`, the set of channels it asked for with
 *   `subscribe`. Only `channels` counts towards the subscription limit; the
 *   two others are bounded by the follow limit;
 * - `pk=chan#<channel>, sk=<connectionId>`: a subscription. Fan-out reads a
 *   channel's subscribers with one strongly consistent Query on the base table.
 *   These rows are in no index: a subscription costs one write, which matters
 *   when $connect subscribes a connection to everyone its user follows;
 * - the sparse GSI `byUser` (partition key `userId`, on connection rows only)
 *   finds a user's open connections: to subscribe them when the user follows
 *   someone, and to answer presence;
 * - `pk=presence#<userId>, sk=presence`: when the user was last seen. It has
 *   no TTL: "last seen" outlives connections;
 * - `pk=post#<userId>#<requestId>, sk=post` (idempotency claims, see posts.ts)
 *   and `pk=rate#<userId>, sk=rate` (post rate buckets, see rates.ts), each
 *   with a TTL.
 */
export const ConnectionsSchema = {
  partitionKey: 'pk',
  sortKey: 'sk',
  byUserIndex: 'byUser',
  ttlAttribute: 'expiresAt',
} as const;

/** API Gateway cuts every connection at 2 hours; rows outlive that by a margin, then expire. */
const CONNECTION_ROW_SECONDS = 2 * 60 * 60 + 10 * 60;

/**
 * API Gateway answers Gone for a connection whose $connect has not finished,
 * and $connect already writes subscriptions; a Gone within this time of
 * connecting is not taken as a dead connection.
 */
const SETTLING_MS = 10_000;

export const connectionKey = (connectionId: string) => ({ pk: `conn#${connectionId}`, sk: 'conn' });
const subscriptionKey = (channel: string, connectionId: string) => ({ pk: `chan#${channel}`, sk: connectionId });
const presenceKey = (userId: string) => ({ pk: `presence#${userId}`, sk: 'presence' });
const expiry = (connectedAtMs: number) => Math.floor(connectedAtMs / 1000) + CONNECTION_ROW_SECONDS;

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

export interface OpenConnection {
  readonly connectionId: string;
  readonly connectedAt: number;
}

export interface SubscriberPage {
  readonly connectionIds: string[];
  readonly next?: Record<string, NativeAttributeValue>;
}

export class ConnectionStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /** Records a connection, already subscribed to `channels` (the people its user follows). */
  async add(connectionId: string, userId: string, connectedAtMs: number, channels: readonly string[] = []): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.table,
        Item: {
          ...connectionKey(connectionId),
          connectionId,
          userId,
          connectedAt: connectedAtMs,
          expiresAt: expiry(connectedAtMs),
          ...(channels.length > 0 ? { followed: channels.join(' ') } : {}),
        },
      }),
    );
    await this.writeSubscriptions(channels.map((channel) => ({ connectionId, connectedAt: connectedAtMs, channel })));
  }

  /**
   * Subscribes a connection to `channels`, keeping it within `limit` channels
   * in all (a channel it already has does not count twice), or throws
   * SubscriptionLimitReached and subscribes it to none of them.
   */
  async subscribe(connectionId: string, channels: readonly string[], connectedAtMs: number, limit: number): Promise<void> {
    await this.addWithin(connectionId, channels, limit);
    await this.writeSubscriptions(channels.map((channel) => ({ connectionId, connectedAt: connectedAtMs, channel })));
  }

  async unsubscribe(connectionId: string, channels: readonly string[]): Promise<void> {
    await this.deleteSubscriptions(channels.map((channel) => subscriptionKey(channel, connectionId)));
    await this.track(connectionId, 'DELETE', channels);
  }

  /** Subscribes each of a user's open connections to one channel (a follow). */
  async subscribeConnections(connections: readonly OpenConnection[], channel: string): Promise<void> {
    await Promise.all(connections.map((c) => this.track(c.connectionId, 'ADD', [channel], 'followedLater')));
    await this.writeSubscriptions(connections.map((c) => ({ ...c, channel })));
  }

  async unsubscribeConnections(connections: readonly OpenConnection[], channel: string): Promise<void> {
    await this.deleteSubscriptions(connections.map((c) => subscriptionKey(channel, c.connectionId)));
    await Promise.all(connections.map((c) => this.track(c.connectionId, 'DELETE', [channel], 'followedLater')));
  }

  /** One page of a channel's subscribers: cost follows the channel's live subscribers only. */
  async subscribers(channel: string, pageSize: number, start?: Record<string, NativeAttributeValue>): Promise<SubscriberPage> {
    const { Items = [], LastEvaluatedKey } = await this.db.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': `chan#${channel}` },
        ProjectionExpression: 'sk',
        ConsistentRead: true,
        Limit: pageSize,
        ExclusiveStartKey: start,
      }),
    );
    return { connectionIds: Items.map((item) => item['sk'] as string), next: LastEvaluatedKey };
  }

  /** A user's open connections, from the sparse byUser index. */
  async connectionsOf(userId: string): Promise<OpenConnection[]> {
    const connections: OpenConnection[] = [];
    const pages = paginateQuery(
      { client: this.db },
      { TableName: this.table, IndexName: ConnectionsSchema.byUserIndex, KeyConditionExpression: 'userId = :u', ExpressionAttributeValues: { ':u': userId } },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) connections.push({ connectionId: item['connectionId'] as string, connectedAt: item['connectedAt'] as number });
    }
    return connections;
  }

  /**
   * Removes a connection API Gateway called Gone, unless it is still connecting:
   * its $connect may be subscribing it to the people its user follows.
   */
  async removeGone(connectionId: string, nowMs = Date.now()): Promise<boolean> {
    const row = await this.connectionRow(connectionId);
    if (row && nowMs - (row['connectedAt'] as number) < SETTLING_MS) return false;
    await this.removeRows(connectionId, row);
    return true;
  }

  /** Removes a connection and all its subscriptions. */
  async remove(connectionId: string): Promise<void> {
    await this.removeRows(connectionId, await this.connectionRow(connectionId));
  }

  /** Who of `userIds` has an open connection, and when each was last seen: two reads per id asked, nothing more. */
  async presence(userIds: readonly string[], nowMs: number): Promise<{ user: string; online: boolean; lastSeen?: string }[]> {
    const [online, seen] = await Promise.all([
      Promise.all(
        userIds.map(async (userId) => {
          const { Count = 0 } = await this.db.send(
            new QueryCommand({
              TableName: this.table,
              IndexName: ConnectionsSchema.byUserIndex,
              KeyConditionExpression: 'userId = :u',
              ExpressionAttributeValues: { ':u': userId },
              Select: 'COUNT',
              Limit: 1,
            }),
          );
          return Count > 0;
        }),
      ),
      this.lastSeen(userIds),
    ]);
    return userIds.map((user, i) => {
      const lastSeen = online[i] ? new Date(nowMs).toISOString() : seen.get(user);
      return lastSeen === undefined ? { user, online: false } : { user, online: online[i]!, lastSeen };
    });
  }

  async touchPresence(userId: string, atMs: number): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: presenceKey(userId),
        UpdateExpression: 'SET lastSeen = :at',
        ExpressionAttributeValues: { ':at': new Date(atMs).toISOString() },
      }),
    );
  }

  private async connectionRow(connectionId: string): Promise<Record<string, unknown> | undefined> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.table, Key: connectionKey(connectionId), ConsistentRead: true }));
    return Item;
  }

  /** The connection row and every subscription it lists; subscriptions it does not list expire by TTL. */
  private async removeRows(connectionId: string, row: Record<string, unknown> | undefined): Promise<void> {
    const followed = ((row?.['followed'] as string | undefined) ?? '').split(' ').filter(Boolean);
    const sets = (['followedLater', 'channels'] as const).flatMap((name) => [...((row?.[name] as Set<string> | undefined) ?? [])]);
    const channels = [...new Set([...followed, ...sets])];
    await this.deleteSubscriptions([...channels.map((channel) => subscriptionKey(channel, connectionId)), connectionKey(connectionId)]);
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
    let held = new Set<string>();
    let wanted = channels;
    // A `user:` channel may already be the connection's through a follow, which the limit does not
    // count: clients resubscribe to those with `since` after every reconnection. Learn which first.
    if (channels.some((channel) => channel.startsWith('user:'))) {
      const row = await this.connectionRow(connectionId);
      if (!row) return;
      ({ held, wanted } = this.toAdd(row, channels, limit));
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
        ConditionExpression: `attribute_exists(pk) AND ${fits}${still}`,
        ExpressionAttributeValues: values,
      });
      if (added) return;
      const row = await this.connectionRow(connectionId);
      if (!row) return;
      ({ held, wanted } = this.toAdd(row, channels, limit));
      if (wanted.length === 0) return;
    }
    throw new Error(`the channels of connection ${connectionId} kept changing during ${SUBSCRIBE_ATTEMPTS} attempts to subscribe`);
  }

  /** Of `channels`, those the `channels` set must gain (not already the connection's through a follow), or the limit is reached. */
  private toAdd(row: Record<string, unknown>, channels: readonly string[], limit: number): { held: Set<string>; wanted: string[] } {
    const held = (row['channels'] as Set<string> | undefined) ?? new Set<string>();
    const followed = new Set([
      ...((row['followed'] as string | undefined) ?? '').split(' ').filter(Boolean),
      ...((row['followedLater'] as Set<string> | undefined) ?? []),
    ]);
    const wanted = channels.filter((channel) => !followed.has(channel));
    const added = wanted.filter((channel) => !held.has(channel)).length;
    if (held.size + added > limit) throw new SubscriptionLimitReached(limit, held.size);
    return { held, wanted };
  }

  /** Keeps one of the connection row's channel sets in step, for removal later; a missing row is not recreated. */
  private async track(
    connectionId: string,
    operation: 'ADD' | 'DELETE',
    channels: readonly string[],
    set: 'channels' | 'followedLater' = 'channels',
  ): Promise<void> {
    if (channels.length === 0) return;
    await updateIf(this.db, {
      TableName: this.table,
      Key: connectionKey(connectionId),
      UpdateExpression: `${operation} ${set} :channels`,
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeValues: { ':channels': new Set(channels) },
    });
  }

  private async lastSeen(userIds: readonly string[]): Promise<Map<string, string>> {
    const seen = new Map<string, string>();
    let keys: Record<string, NativeAttributeValue>[] = userIds.map(presenceKey);
    for (let round = 0; keys.length > 0 && round < 5; round++) {
      const { Responses, UnprocessedKeys } = await this.db.send(
        new BatchGetCommand({ RequestItems: { [this.table]: { Keys: keys, ProjectionExpression: 'pk, lastSeen' } } }),
      );
      for (const item of Responses?.[this.table] ?? []) seen.set((item['pk'] as string).slice('presence#'.length), item['lastSeen'] as string);
      keys = (UnprocessedKeys?.[this.table]?.Keys ?? []) as Record<string, NativeAttributeValue>[];
    }
    return seen;
  }

  private async writeSubscriptions(subscriptions: readonly (OpenConnection & { channel: string })[]): Promise<void> {
    await batchWriteAll(
      this.db,
      this.table,
      subscriptions.map(({ connectionId, connectedAt, channel }) => ({
        PutRequest: { Item: { ...subscriptionKey(channel, connectionId), expiresAt: expiry(connectedAt) } },
      })),
    );
  }

  private async deleteSubscriptions(keys: readonly { pk: string; sk: string }[]): Promise<void> {
    await batchWriteAll(this.db, this.table, keys.map((Key) => ({ DeleteRequest: { Key } })));
  }
}
