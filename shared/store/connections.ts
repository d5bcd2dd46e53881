import { PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { NativeAttributeValue } from '@aws-sdk/util-dynamodb';
import { batchWriteAll } from './batch';

/**
 * The Connections table holds what lives as long as a connection, all of it
 * with the TTL attribute `expiresAt`:
 * - `pk=conn#<connectionId>, sk=conn`: the connection and its user;
 * - `pk=chan#<channel>, sk=<connectionId>`: a subscription. Fan-out reads a
 *   channel's subscribers with one strongly consistent Query on the base table;
 * - the GSI `byConnection` (partition key `connectionId`) finds every row of a
 *   connection, to remove them on disconnect or when API Gateway says Gone.
 */
export const ConnectionsSchema = {
  partitionKey: 'pk',
  sortKey: 'sk',
  byConnectionIndex: 'byConnection',
  ttlAttribute: 'expiresAt',
} as const;

/** API Gateway cuts every connection at 2 hours; rows outlive that by a margin, then expire. */
const CONNECTION_ROW_SECONDS = 2 * 60 * 60 + 10 * 60;

export const connectionKey = (connectionId: string) => ({ pk: `conn#${connectionId}`, sk: 'conn' });
const subscriptionKey = (channel: string, connectionId: string) => ({ pk: `chan#${channel}`, sk: connectionId });

export interface SubscriberPage {
  readonly connectionIds: string[];
  readonly next?: Record<string, NativeAttributeValue>;
}

export class ConnectionStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async add(connectionId: string, userId: string, connectedAtMs: number): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.table,
        Item: { ...connectionKey(connectionId), connectionId, userId, connectedAt: connectedAtMs, expiresAt: expiry(connectedAtMs) },
      }),
    );
  }

  async subscribe(connectionId: string, channels: readonly string[], connectedAtMs: number): Promise<void> {
    const expiresAt = expiry(connectedAtMs);
    await batchWriteAll(
      this.db,
      this.table,
      channels.map((channel) => ({
        PutRequest: { Item: { ...subscriptionKey(channel, connectionId), connectionId, channel, expiresAt } },
      })),
    );
  }

  async unsubscribe(connectionId: string, channels: readonly string[]): Promise<void> {
    await batchWriteAll(
      this.db,
      this.table,
      channels.map((channel) => ({ DeleteRequest: { Key: subscriptionKey(channel, connectionId) } })),
    );
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

  /** Removes a connection and all its subscriptions. */
  async remove(connectionId: string): Promise<void> {
    const keys: { pk: string; sk: string }[] = [];
    let start: Record<string, NativeAttributeValue> | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.table,
          IndexName: ConnectionsSchema.byConnectionIndex,
          KeyConditionExpression: 'connectionId = :id',
          ExpressionAttributeValues: { ':id': connectionId },
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) keys.push({ pk: item['pk'] as string, sk: item['sk'] as string });
      start = page.LastEvaluatedKey;
    } while (start);
    // The index is eventually consistent; the connection row is deleted by key whatever it shows.
    if (!keys.some((key) => key.sk === 'conn')) keys.push(connectionKey(connectionId));
    await batchWriteAll(this.db, this.table, keys.map((Key) => ({ DeleteRequest: { Key } })));
  }
}

const expiry = (connectedAtMs: number) => Math.floor(connectedAtMs / 1000) + CONNECTION_ROW_SECONDS;
