import { GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Connections } from '../schema';
import { optionalNumberAt } from './attributes';
import { updateIf } from './conditional';

export interface RateLimit {
  /** Requests allowed at once. */
  readonly burst: number;
  /** Requests per second allowed once the burst is spent. */
  readonly perSecond: number;
}

export type Charge = { readonly allowed: true } | { readonly allowed: false; readonly retryAfterMs: number };

/** Attempts at the conditional write before a caller racing itself is told to slow down. */
const ATTEMPTS = 4;

/** Which kind of row holds the buckets: the post budget's (`rate#`) or the action budget's (`budget#`). */
export interface BucketRow {
  readonly prefix: string;
  readonly sortKey: string;
}

/**
 * A token bucket per subject (a user), kept as one row in the Connections
 * table so that it holds across connections and Lambda containers. The row
 * stores the bucket the GCRA way: `tat`, the time (epoch ms) at which the
 * bucket would be full again. A request at `now` is allowed when
 * `max(tat, now) <= now + (burst - 1) * interval`, and moves `tat` on by one
 * interval. DynamoDB cannot compute `max` in an update, so there are two
 * conditional writes, one for an idle bucket (`tat` in the past) and one for a
 * busy one; each holds under any number of concurrent writers, because the
 * condition is checked against the row as it is at the write. A write whose
 * condition fails reads the row to learn which case applies, or that the
 * bucket is empty.
 */
export class RateLimiter {
  private readonly interval: number;
  private readonly tolerance: number;

  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly limit: RateLimit,
    private readonly row: BucketRow = Connections.rows.rate,
  ) {
    this.interval = Math.max(1, Math.round(1000 / limit.perSecond));
    this.tolerance = (limit.burst - 1) * this.interval;
  }

  private key(subject: string) {
    return { [Connections.partitionKey]: `${this.row.prefix}${subject}`, [Connections.sortKey]: this.row.sortKey };
  }

  /**
   * Takes `weight` tokens from `subject`'s bucket at once, or says how long until
   * they are there (a refused request takes none). A weight of n is n requests
   * at once: allowed when `max(tat, now) <= now + (burst - n) * interval`.
   */
  async take(subject: string, nowMs: number, weight = 1): Promise<Charge> {
    if (!Number.isInteger(weight) || weight < 1 || weight > this.limit.burst) {
      throw new RangeError(`a weight must be a whole number from 1 to the burst (${this.limit.burst}), not ${weight}`);
    }
    const latest = nowMs + this.tolerance - (weight - 1) * this.interval;
    let busy = false;
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      if (await this.write(subject, nowMs, weight, busy)) return { allowed: true };
      const tat = await this.theoreticalArrival(subject);
      if (tat !== undefined && tat > latest) return { allowed: false, retryAfterMs: Math.ceil(tat - latest) };
      busy = tat !== undefined && tat >= nowMs;
    }
    // Only this subject's own concurrent requests move the row between a read and a write.
    return { allowed: false, retryAfterMs: this.interval };
  }

  /** Gives a token back: for a request that turned out to cost nothing (an idempotent retry). */
  async refund(subject: string): Promise<void> {
    await updateIf(this.db, {
      TableName: this.table,
      Key: this.key(subject),
      UpdateExpression: 'SET tat = tat - :interval',
      ConditionExpression: 'attribute_exists(tat)',
      ExpressionAttributeValues: { ':interval': this.interval },
    });
  }

  private async write(subject: string, nowMs: number, weight: number, busy: boolean): Promise<boolean> {
    // The row is of no use once `tat` has passed; it outlives the fullest bucket by a minute.
    const expiresAt = Math.ceil((nowMs + this.tolerance + this.interval) / 1000) + 60;
    const step = weight * this.interval;
    return updateIf(this.db, {
      TableName: this.table,
      Key: this.key(subject),
      ...(busy
        ? {
            UpdateExpression: `SET tat = tat + :step, ${Connections.ttlAttribute} = :expiresAt`,
            ConditionExpression: 'tat BETWEEN :now AND :latest',
            ExpressionAttributeValues: { ':step': step, ':now': nowMs, ':latest': nowMs + this.tolerance - step + this.interval, ':expiresAt': expiresAt },
          }
        : {
            UpdateExpression: `SET tat = :next, ${Connections.ttlAttribute} = :expiresAt`,
            ConditionExpression: 'attribute_not_exists(tat) OR tat < :now',
            ExpressionAttributeValues: { ':next': nowMs + step, ':now': nowMs, ':expiresAt': expiresAt },
          }),
    });
  }

  private async theoreticalArrival(subject: string): Promise<number | undefined> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.table, Key: this.key(subject), ConsistentRead: true, ProjectionExpression: 'tat' }));
    return Item ? optionalNumberAt(Item, 'tat') : undefined;
  }
}
