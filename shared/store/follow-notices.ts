import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Limits } from '../protocol';
import { Connections } from '../schema';
import { updateIf } from './conditional';

const { followNotice } = Connections.rows;
const epochSeconds = (ms: number) => Math.floor(ms / 1000);

/**
 * Which follows have been announced: rows `notice#<follower>#<followed>` of
 * the Connections table, kept for Limits.followNoticeSeconds by TTL. A follow
 * row goes at unfollow; this one stays, so following again within the window
 * notifies no one.
 */
export class FollowNoticeStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /**
   * Claims the right to notify `followed` that `follower` follows them: true
   * for the one caller that writes the row (a conditional write, so concurrent
   * follows get one true between them), false while a live claim exists.
   */
  async claim(follower: string, followed: string, nowMs: number): Promise<boolean> {
    return updateIf(this.db, {
      TableName: this.table,
      Key: { [Connections.partitionKey]: `${followNotice.prefix}${follower}#${followed}`, [Connections.sortKey]: followNotice.sortKey },
      UpdateExpression: 'SET #ttl = :expires',
      // DynamoDB's TTL deletes late, so an expired claim is treated as absent.
      ConditionExpression: `attribute_not_exists(${Connections.partitionKey}) OR #ttl < :now`,
      ExpressionAttributeNames: { '#ttl': Connections.ttlAttribute },
      ExpressionAttributeValues: { ':expires': epochSeconds(nowMs) + Limits.followNoticeSeconds, ':now': epochSeconds(nowMs) },
    });
  }
}
