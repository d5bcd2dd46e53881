import { GetCommand, type DynamoDBDocumentClient, type TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import { Limits, type Status } from '../protocol';
import { Connections } from '../schema';
import { asItem, numberAt } from './attributes';
import { parseStatus } from './items';

type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

export interface RetryKey {
  readonly userId: string;
  readonly requestId: string;
}

const { claim } = Connections.rows;
const claimKey = ({ userId, requestId }: RetryKey) => ({ [Connections.partitionKey]: `${claim.prefix}${userId}#${requestId}`, [Connections.sortKey]: claim.sortKey });
const epochSeconds = (ms: number) => Math.floor(ms / 1000);

/**
 * Idempotency claims, rows `post#<userId>#<requestId>` of the Connections
 * table: a claim holds the status its post made, for Limits.idempotencySeconds.
 * The claim is written in the post's own transaction (PostLog), so a retry
 * finds either no claim and no status, or both.
 */
export class ClaimStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /** The write that claims `retry` for `status`, to run in the post's transaction; it fails its condition when a live claim exists. */
  claimWrite(retry: RetryKey, status: Status, nowMs: number): TransactItem {
    return {
      Put: {
        TableName: this.table,
        Item: { ...claimKey(retry), status, [Connections.ttlAttribute]: epochSeconds(nowMs) + Limits.idempotencySeconds },
        // DynamoDB's TTL deletes late, so an expired claim is treated as absent.
        ConditionExpression: `attribute_not_exists(${Connections.partitionKey}) OR ${Connections.ttlAttribute} < :now`,
        ExpressionAttributeValues: { ':now': epochSeconds(nowMs) },
      },
    };
  }

  /** The status a live claim on this request id holds, if any: the answer to a retry. */
  async claimed(retry: RetryKey, nowMs: number): Promise<Status | undefined> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.table, Key: claimKey(retry), ConsistentRead: true }));
    // DynamoDB's TTL deletes late: an expired claim is no claim.
    if (!Item || numberAt(Item, Connections.ttlAttribute) < epochSeconds(nowMs)) return undefined;
    return parseStatus(asItem(Item['status'], 'attribute status'));
  }
}
