import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { isErrorNamed } from '../errors';
import { Connections } from '../schema';
import { asItem } from './attributes';
import { updateIf } from './conditional';

const { openConnections } = Connections.rows;
const MAP = openConnections.mapAttribute;
const slotsKey = (userId: string) => ({ [Connections.partitionKey]: `${openConnections.prefix}${userId}`, [Connections.sortKey]: openConnections.sortKey });

/** API Gateway ends every connection within 2 hours: an entry no $disconnect removed is stale after that. */
export const CONNECTION_LIFETIME_MS = 2 * 60 * 60 * 1000;

/** Rounds of write, read, prune; only a handshake racing the row's creation or a prune needs a second. */
const ATTEMPTS = 4;

/**
 * The cap on a user's open connections: one row per user (`open#<userId>`)
 * holding a map of their connection ids to when each ends at the latest.
 * A handshake takes a slot with one conditional UpdateItem,
 * `size(connections) < :max`, checked by DynamoDB against the row as it is at
 * the write, so concurrent handshakes cannot pass the cap together. $disconnect
 * gives the slot back. A connection that vanished without $disconnect holds its
 * slot until API Gateway's 2-hour limit has surely ended it: a handshake that
 * finds the map full removes such entries and tries again.
 */
export class ConnectionSlots {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly max: number,
    private readonly lifetimeMs = CONNECTION_LIFETIME_MS,
  ) {}

  /** Takes a slot for `connectionId`: false when the user already has `max` connections open. */
  async claim(userId: string, connectionId: string, nowMs: number): Promise<boolean> {
    const endsAt = nowMs + this.lifetimeMs;
    const expiresAt = Math.ceil(endsAt / 1000) + 60;
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      const added = await updateIf(this.db, {
        TableName: this.table,
        Key: slotsKey(userId),
        UpdateExpression: `SET #map.#c = :endsAt, ${Connections.ttlAttribute} = :expiresAt`,
        ConditionExpression: 'attribute_exists(#map) AND size(#map) < :max',
        ExpressionAttributeNames: { '#map': MAP, '#c': connectionId },
        ExpressionAttributeValues: { ':endsAt': endsAt, ':max': this.max, ':expiresAt': expiresAt },
      });
      if (added) return true;
      const held = await this.held(userId);
      if (held === undefined) {
        if (await this.create(userId, connectionId, endsAt, expiresAt)) return true;
        continue;
      }
      const stale = [...held].filter(([, ends]) => ends <= nowMs).map(([id]) => id);
      if (stale.length === 0 && held.size >= this.max) return false;
      await this.remove(userId, stale);
    }
    return false;
  }

  /** Gives the slot back; nothing happens when there is none. */
  async release(userId: string, connectionId: string): Promise<void> {
    await this.remove(userId, [connectionId]);
  }

  /** The user's slots, read strongly consistent; undefined when the row does not exist. */
  private async held(userId: string): Promise<Map<string, number> | undefined> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.table, Key: slotsKey(userId), ConsistentRead: true }));
    if (!Item) return undefined;
    const map = Item[MAP] === undefined ? {} : asItem(Item[MAP], MAP);
    return new Map(Object.entries(map).map(([id, ends]) => [id, typeof ends === 'number' ? ends : 0]));
  }

  private async create(userId: string, connectionId: string, endsAt: number, expiresAt: number): Promise<boolean> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...slotsKey(userId), [MAP]: { [connectionId]: endsAt }, [Connections.ttlAttribute]: expiresAt },
          ConditionExpression: `attribute_not_exists(${Connections.partitionKey})`,
        }),
      );
      return true;
    } catch (error) {
      if (isErrorNamed(error, 'ConditionalCheckFailedException')) return false;
      throw error;
    }
  }

  private async remove(userId: string, connectionIds: readonly string[]): Promise<void> {
    if (connectionIds.length === 0) return;
    const names = Object.fromEntries(connectionIds.map((id, i) => [`#c${i}`, id]));
    await updateIf(this.db, {
      TableName: this.table,
      Key: slotsKey(userId),
      UpdateExpression: `REMOVE ${connectionIds.map((_, i) => `#map.#c${i}`).join(', ')}`,
      ConditionExpression: 'attribute_exists(#map)',
      ExpressionAttributeNames: { '#map': MAP, ...names },
    });
  }
}
