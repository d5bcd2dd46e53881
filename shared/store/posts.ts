import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, TransactWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Limits, type Status } from '../protocol';
import { toStatus, type LogItem, type NotificationItem } from './items';

export interface RetryKey {
  readonly userId: string;
  readonly requestId: string;
}

export type AppendResult = { readonly status: Status; readonly duplicate: boolean };

/**
 * Writes a post: every log item it makes (the status on each of its channels,
 * a notification) in one transaction, so a status is either stored everywhere
 * or nowhere. With a retry key, a row in the Connections table claims the
 * user's request id for 10 minutes in the same transaction; a second post with
 * that id finds the claim and gets the first status back, writing nothing.
 */
export class PostLog {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tables: { readonly statuses: string; readonly connections: string },
  ) {}

  async append(status: Status, items: readonly LogItem[], retry?: RetryKey, nowMs = Date.now()): Promise<AppendResult> {
    const claim = retry && {
      Put: {
        TableName: this.tables.connections,
        Item: { ...retryRowKey(retry), status, expiresAt: Math.floor(nowMs / 1000) + Limits.idempotencySeconds },
        // DynamoDB's TTL deletes late, so an expired claim is treated as absent.
        ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now',
        ExpressionAttributeValues: { ':now': Math.floor(nowMs / 1000) },
      },
    };
    const puts = items.map((Item) => ({ Put: { TableName: this.tables.statuses, Item } }));
    for (let attempt = 1; ; attempt++) {
      try {
        await this.db.send(new TransactWriteCommand({ TransactItems: claim ? [claim, ...puts] : puts }));
        return { status, duplicate: false };
      } catch (error) {
        const reason = error instanceof TransactionCanceledException ? error.CancellationReasons?.[0]?.Code : undefined;
        if (retry && reason === 'ConditionalCheckFailed') {
          const first = await this.claimed(retry, nowMs);
          if (first) return { status: first, duplicate: true };
        }
        // A retry racing the first attempt's transaction collides with it; once that one has
        // finished, the claim answers.
        if (retry && reason === 'TransactionConflict' && attempt < 4) {
          await new Promise((resolve) => setTimeout(resolve, 20 * 2 ** attempt * Math.random()));
          continue;
        }
        throw error;
      }
    }
  }

  /** A notification on its own (a follow): one row, delivered by the stream like any other. */
  async notify(item: NotificationItem): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.tables.statuses, Item: item }));
  }

  /** The status a live claim on this request id holds, if any: the answer to a retry. */
  async claimed(retry: RetryKey, nowMs = Date.now()): Promise<Status | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tables.connections, Key: retryRowKey(retry), ConsistentRead: true }),
    );
    // DynamoDB's TTL deletes late: an expired claim is no claim.
    if (!Item || (Item['expiresAt'] as number) < Math.floor(nowMs / 1000)) return undefined;
    return toStatus(Item['status'] as Record<string, unknown>);
  }
}

const retryRowKey = ({ userId, requestId }: RetryKey) => ({ pk: `post#${userId}#${requestId}`, sk: 'post' });
