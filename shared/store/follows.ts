import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, TransactWriteCommand, paginateQuery, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { NativeAttributeValue } from '@aws-sdk/util-dynamodb';
import { Follows } from '../schema';
import { stringAt } from './attributes';

const { partitionKey: FOLLOWER, sortKey: FOLLOWED, countSortKey: COUNT_KEY } = Follows;

/** Rounds of BatchGetItem for keys DynamoDB left unprocessed (it does so under throttling). */
const ROUNDS = 5;

export class FollowLimitReached extends Error {
  override readonly name = 'FollowLimitReached';
}

/** Who follows whom: the Follows table (see shared/schema.ts), one row per follow and one count per follower. */
export class FollowStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly maxFollows: number,
  ) {}

  /** Records a follow; false when it already existed. */
  async follow(follower: string, followed: string, atMs: number): Promise<boolean> {
    try {
      await this.db.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.table,
                Item: { [FOLLOWER]: follower, [FOLLOWED]: followed, since: new Date(atMs).toISOString() },
                ConditionExpression: `attribute_not_exists(${FOLLOWED})`,
              },
            },
            {
              Update: {
                TableName: this.table,
                Key: { [FOLLOWER]: follower, [FOLLOWED]: COUNT_KEY },
                UpdateExpression: 'ADD #n :one',
                ConditionExpression: 'attribute_not_exists(#n) OR #n < :max',
                ExpressionAttributeNames: { '#n': 'count' },
                ExpressionAttributeValues: { ':one': 1, ':max': this.maxFollows },
              },
            },
          ],
        }),
      );
      return true;
    } catch (error) {
      const reasons = error instanceof TransactionCanceledException ? (error.CancellationReasons ?? []) : [];
      if (reasons[0]?.Code === 'ConditionalCheckFailed') return false;
      if (reasons[1]?.Code === 'ConditionalCheckFailed') throw new FollowLimitReached(`you follow ${this.maxFollows} people, the most allowed`);
      throw error;
    }
  }

  /** Removes a follow; false when there was none. */
  async unfollow(follower: string, followed: string): Promise<boolean> {
    try {
      await this.db.send(
        new TransactWriteCommand({
          TransactItems: [
            { Delete: { TableName: this.table, Key: { [FOLLOWER]: follower, [FOLLOWED]: followed }, ConditionExpression: `attribute_exists(${FOLLOWED})` } },
            {
              Update: {
                TableName: this.table,
                Key: { [FOLLOWER]: follower, [FOLLOWED]: COUNT_KEY },
                UpdateExpression: 'ADD #n :minus',
                ExpressionAttributeNames: { '#n': 'count' },
                ExpressionAttributeValues: { ':minus': -1 },
              },
            },
          ],
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof TransactionCanceledException && error.CancellationReasons?.[0]?.Code === 'ConditionalCheckFailed') return false;
      throw error;
    }
  }

  /**
   * Which of `users` `follower` follows: one BatchGetItem of their follow rows
   * (strongly consistent, so a follow just answered counts), at most 100 keys.
   */
  async followedAmong(follower: string, users: readonly string[]): Promise<Set<string>> {
    const followed = new Set<string>();
    let keys: Record<string, NativeAttributeValue>[] = [...new Set(users)].map((user) => ({ [FOLLOWER]: follower, [FOLLOWED]: user }));
    for (let round = 0; keys.length > 0 && round < ROUNDS; round++) {
      const { Responses, UnprocessedKeys } = await this.db.send(
        new BatchGetCommand({ RequestItems: { [this.table]: { Keys: keys, ProjectionExpression: FOLLOWED, ConsistentRead: true } } }),
      );
      for (const item of Responses?.[this.table] ?? []) followed.add(stringAt(item, FOLLOWED));
      keys = UnprocessedKeys?.[this.table]?.Keys ?? [];
    }
    return followed;
  }

  /** Everyone `follower` follows: at most the follow limit, so a bounded read. */
  async following(follower: string): Promise<string[]> {
    const followed: string[] = [];
    const pages = paginateQuery(
      { client: this.db },
      {
        TableName: this.table,
        KeyConditionExpression: `${FOLLOWER} = :f AND ${FOLLOWED} > :count`,
        ExpressionAttributeValues: { ':f': follower, ':count': COUNT_KEY },
        ProjectionExpression: FOLLOWED,
        ConsistentRead: true,
      },
    );
    for await (const page of pages) for (const item of page.Items ?? []) followed.push(stringAt(item, FOLLOWED));
    return followed;
  }
}
