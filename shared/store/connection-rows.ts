import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { connectionHash, indexOf, subscriptionSortKey } from '../fanout/hash-space';
import { Connections } from '../schema';
import { numberAt, optionalNumberAt, optionalStringAt, stringAt, stringSetAt, type Item } from './attributes';
import { batchWriteAll } from './batch';

/**
 * The rows of the Connections table that live as long as a connection, shared
 * by ConnectionStore (a connection's row, and its subscriptions as it opens
 * and closes) and SubscriptionStore (subscriptions made while it is open):
 * - `conn#<connectionId> / conn`: the connection, its user, and what it is
 *   subscribed to, so that its rows can be found and removed on disconnect or
 *   when API Gateway says Gone: `followed`, the channels $connect subscribed it
 *   to, as one space-separated string (up to 1,000 channels: a string set that
 *   size is slow to write), `followedLater`, a set of the channels of people
 *   followed since, and `channels`, the set of channels it asked for with
 *   `subscribe`. Only `channels` counts towards the subscription limit; the
 *   two others are bounded by the follow limit;
 * - `chan#<channel>#<shard> / <hash>#<connectionId>`: a subscription, in one of
 *   the channel's write shards by a hash of the connection id (see
 *   shared/fanout/hash-space.ts). Fan-out reads any hash range of a channel with
 *   strongly consistent Queries on the base table. These rows are in no index: a
 *   subscription costs one write, which matters when $connect subscribes a
 *   connection to everyone its user follows.
 */
const { partitionKey: PK, sortKey: SK } = Connections;
const { connection, subscription } = Connections.rows;

/** API Gateway cuts every connection at 2 hours; rows outlive that by a margin, then expire. */
const CONNECTION_ROW_SECONDS = 2 * 60 * 60 + 10 * 60;

export type RowKey = Readonly<Record<string, string>>;

export const connectionKey = (connectionId: string): RowKey => ({ [PK]: `${connection.prefix}${connectionId}`, [SK]: connection.sortKey });
/** One of the partitions holding a channel's subscriptions. */
export const subscriptionPartition = (channel: string, shard: number): string => `${subscription.prefix}${channel}#${shard}`;
export function subscriptionKey(channel: string, connectionId: string): RowKey {
  const hash = connectionHash(connectionId);
  return { [PK]: subscriptionPartition(channel, indexOf(hash, subscription.shards)), [SK]: subscriptionSortKey(hash, connectionId) };
}
export const expiry = (connectedAtMs: number): number => Math.floor(connectedAtMs / 1000) + CONNECTION_ROW_SECONDS;

/** The channel sets a connection row keeps, by attribute name. */
export type ChannelSet = 'channels' | 'followedLater';

export interface OpenConnection {
  readonly connectionId: string;
  /** When API Gateway accepted it, epoch milliseconds. */
  readonly connectedAt: number;
  /** When its token expires, epoch seconds; absent when not known (no subscription row then carries it). */
  readonly tokenExpiresAt?: number;
}

export interface ConnectionRow extends OpenConnection {
  readonly userId: string;
  /** Channels of the people its user followed when it connected. */
  readonly followed: readonly string[];
  /** Channels of the people its user followed since. */
  readonly followedLater: ReadonlySet<string>;
  /** Channels it asked for with `subscribe`: what the subscription limit counts. */
  readonly channels: ReadonlySet<string>;
}

export function connectionRowItem(row: OpenConnection & { readonly userId: string }, followed: readonly string[]): Item {
  return {
    ...connectionKey(row.connectionId),
    [Connections.connectionIdAttribute]: row.connectionId,
    [Connections.userIdAttribute]: row.userId,
    [Connections.connectedAtAttribute]: row.connectedAt,
    [Connections.ttlAttribute]: expiry(row.connectedAt),
    ...tokenExpiry(row),
    ...(followed.length > 0 ? { followed: followed.join(' ') } : {}),
  };
}

const tokenExpiry = ({ tokenExpiresAt }: OpenConnection) => (tokenExpiresAt === undefined ? {} : { [Connections.tokenExpiresAtAttribute]: tokenExpiresAt });

export function parseConnectionRow(item: Item): ConnectionRow {
  return {
    connectionId: stringAt(item, Connections.connectionIdAttribute),
    userId: stringAt(item, Connections.userIdAttribute),
    connectedAt: numberAt(item, Connections.connectedAtAttribute),
    ...optionalTokenExpiry(item),
    followed: (optionalStringAt(item, 'followed') ?? '').split(' ').filter(Boolean),
    followedLater: stringSetAt(item, 'followedLater'),
    channels: stringSetAt(item, 'channels'),
  };
}

function optionalTokenExpiry(item: Item): { tokenExpiresAt?: number } {
  const tokenExpiresAt = optionalNumberAt(item, Connections.tokenExpiresAtAttribute);
  return tokenExpiresAt === undefined ? {} : { tokenExpiresAt };
}

/** An open connection as the byUser index projects it (without its token's expiry). */
export function parseOpenConnection(item: Item): OpenConnection {
  return { connectionId: stringAt(item, Connections.connectionIdAttribute), connectedAt: numberAt(item, Connections.connectedAtAttribute) };
}

/** Every channel a connection row lists, once. */
export const channelsOf = (row: ConnectionRow): string[] => [...new Set([...row.followed, ...row.followedLater, ...row.channels])];

export async function writeSubscriptions(
  db: DynamoDBDocumentClient,
  table: string,
  subscriptions: readonly (OpenConnection & { readonly channel: string })[],
): Promise<void> {
  await batchWriteAll(
    db,
    table,
    subscriptions.map((subscription) => ({
      PutRequest: {
        Item: { ...subscriptionKey(subscription.channel, subscription.connectionId), [Connections.ttlAttribute]: expiry(subscription.connectedAt), ...tokenExpiry(subscription) },
      },
    })),
  );
}

export async function deleteRows(db: DynamoDBDocumentClient, table: string, keys: readonly RowKey[]): Promise<void> {
  await batchWriteAll(db, table, keys.map((Key) => ({ DeleteRequest: { Key } })));
}
