import { GetCommand, PutCommand, QueryCommand, paginateQuery, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Connections } from '../schema';
import {
  channelsOf,
  connectionKey,
  connectionRowItem,
  deleteRows,
  parseConnectionRow,
  parseOpenConnection,
  subscriptionKey,
  writeSubscriptions,
  type ConnectionRow,
  type OpenConnection,
} from './connection-rows';

export type { ConnectionRow, OpenConnection } from './connection-rows';

/**
 * API Gateway answers Gone for a connection whose $connect has not finished,
 * and $connect already writes subscriptions; a Gone within this time of
 * connecting is not taken as a dead connection.
 */
const SETTLING_MS = 10_000;

/**
 * A connection's life in the Connections table: its `conn#` row, found by
 * user through the sparse `byUser` index, and, when it opens and closes, the
 * subscription rows that come with it (see connection-rows.ts). Subscriptions
 * made while it is open are SubscriptionStore's.
 */
export class ConnectionStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /** Records a connection, already subscribed to `channels` (the people its user follows). */
  async open(connection: OpenConnection & { readonly userId: string }, channels: readonly string[]): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.table, Item: connectionRowItem(connection, channels) }));
    await writeSubscriptions(this.db, this.table, channels.map((channel) => ({ ...connection, channel })));
  }

  /** The connection's row, read strongly consistent; undefined once it is gone. */
  async row(connectionId: string): Promise<ConnectionRow | undefined> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.table, Key: connectionKey(connectionId), ConsistentRead: true }));
    return Item ? parseConnectionRow(Item) : undefined;
  }

  /** A user's open connections, from the sparse byUser index (eventually consistent). */
  async connectionsOf(userId: string): Promise<OpenConnection[]> {
    const connections: OpenConnection[] = [];
    const pages = paginateQuery(
      { client: this.db },
      {
        TableName: this.table,
        IndexName: Connections.byUserIndex,
        KeyConditionExpression: `${Connections.userIdAttribute} = :u`,
        ExpressionAttributeValues: { ':u': userId },
      },
    );
    for await (const page of pages) for (const item of page.Items ?? []) connections.push(parseOpenConnection(item));
    return connections;
  }

  /** Whether each of `userIds` has an open connection: one index read of at most one row per id. */
  async online(userIds: readonly string[]): Promise<boolean[]> {
    return Promise.all(
      userIds.map(async (userId) => {
        const { Count = 0 } = await this.db.send(
          new QueryCommand({
            TableName: this.table,
            IndexName: Connections.byUserIndex,
            KeyConditionExpression: `${Connections.userIdAttribute} = :u`,
            ExpressionAttributeValues: { ':u': userId },
            Select: 'COUNT',
            Limit: 1,
          }),
        );
        return Count > 0;
      }),
    );
  }

  /**
   * Removes a connection API Gateway called Gone, unless it is still connecting:
   * its $connect may be subscribing it to the people its user follows.
   */
  async removeGone(connectionId: string, nowMs = Date.now()): Promise<boolean> {
    const row = await this.row(connectionId);
    if (row && nowMs - row.connectedAt < SETTLING_MS) return false;
    await this.removeRows(connectionId, row);
    return true;
  }

  /** Removes a connection and all its subscriptions. */
  async remove(connectionId: string): Promise<void> {
    await this.removeRows(connectionId, await this.row(connectionId));
  }

  /** The connection row and every subscription it lists, in one batch; subscriptions it does not list expire by TTL. */
  private async removeRows(connectionId: string, row: ConnectionRow | undefined): Promise<void> {
    const subscriptions = row ? channelsOf(row).map((channel) => subscriptionKey(channel, connectionId)) : [];
    await deleteRows(this.db, this.table, [...subscriptions, connectionKey(connectionId)]);
  }
}
