import { BatchGetCommand, GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { NativeAttributeValue } from '@aws-sdk/util-dynamodb';
import { Connections } from '../schema';
import { stringAt } from './attributes';
import { updateIf } from './conditional';

const { presence } = Connections.rows;
const presenceKey = (userId: string) => ({ [Connections.partitionKey]: `${presence.prefix}${userId}`, [Connections.sortKey]: presence.sortKey });

/** Rounds of BatchGetItem for keys DynamoDB left unprocessed (it does so under throttling). */
const ROUNDS = 5;

/**
 * When each user was last seen: rows `presence#<userId> / presence` of the
 * Connections table, written as a connection opens and closes. They have no
 * TTL: "last seen" outlives connections, and a user with a row is a user who
 * has connected at least once (which posting needs): "seen". Whether a user is
 * online now is ConnectionStore's (their connection rows).
 */
export class PresenceStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /**
   * Seen at `atMs`, unless the row already says later: a user's connections open and close in
   * handlers that may finish out of order (ISO 8601 instants in UTC sort as text).
   */
  async touch(userId: string, atMs: number): Promise<void> {
    await updateIf(this.db, {
      TableName: this.table,
      Key: presenceKey(userId),
      UpdateExpression: 'SET lastSeen = :at',
      ConditionExpression: 'attribute_not_exists(lastSeen) OR lastSeen < :at',
      ExpressionAttributeValues: { ':at': new Date(atMs).toISOString() },
    });
  }

  /** Whether `userId` has ever connected: one strongly consistent read of one key. */
  async seen(userId: string): Promise<boolean> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.table, Key: presenceKey(userId), ProjectionExpression: Connections.partitionKey, ConsistentRead: true }),
    );
    return Item !== undefined;
  }

  /** When each of `userIds` was last seen (ISO 8601), for those ever seen: one read per id. */
  async lastSeen(userIds: readonly string[]): Promise<Map<string, string>> {
    const seen = new Map<string, string>();
    const byPartition = new Map(userIds.map((userId) => [presenceKey(userId)[Connections.partitionKey], userId]));
    let keys: Record<string, NativeAttributeValue>[] = [...byPartition.values()].map(presenceKey);
    for (let round = 0; keys.length > 0 && round < ROUNDS; round++) {
      const { Responses, UnprocessedKeys } = await this.db.send(
        new BatchGetCommand({ RequestItems: { [this.table]: { Keys: keys, ProjectionExpression: `${Connections.partitionKey}, lastSeen` } } }),
      );
      for (const item of Responses?.[this.table] ?? []) {
        const userId = byPartition.get(stringAt(item, Connections.partitionKey));
        if (userId !== undefined) seen.set(userId, stringAt(item, 'lastSeen'));
      }
      keys = UnprocessedKeys?.[this.table]?.Keys ?? [];
    }
    return seen;
  }
}
