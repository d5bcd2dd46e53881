import { DeleteItemCommand, paginateScan, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { TableModel } from './template';

/**
 * Keys the sweeper deleted, so the stream emulation can mark their REMOVE
 * records as DynamoDB marks TTL deletions (a Service user identity).
 */
export class ServiceDeletions {
  private readonly keys = new Set<string>();

  add(table: string, key: Record<string, AttributeValue>): void {
    this.keys.add(identify(table, key));
  }

  /** True, once, for a key the sweeper deleted. */
  take(table: string, key: Record<string, unknown>): boolean {
    return this.keys.delete(identify(table, key));
  }
}

const identify = (table: string, key: Record<string, unknown>) =>
  `${table}|${JSON.stringify(Object.keys(key).sort().map((name) => [name, key[name]]))}`;

/**
 * DynamoDB Local accepts a TTL setting but never expires anything. The sweeper
 * does what DynamoDB does in the background: deletes items whose TTL attribute
 * (epoch seconds) has passed.
 */
export class TtlSweeper {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;

  constructor(
    private readonly client: DynamoDBClient,
    private readonly tables: readonly TableModel[],
    private readonly deletions: ServiceDeletions,
    private readonly intervalMs: number,
    private readonly log: (line: string) => void,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.running ??= this.sweep()
        .then(
          () => undefined,
          (error: unknown) => {
            this.log(`TTL sweep failed: ${error instanceof Error ? error.message : String(error)}`);
          },
        )
        .finally(() => (this.running = undefined));
    }, this.intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One pass over every table with TTL; returns how many items expired. */
  async sweep(): Promise<number> {
    let expired = 0;
    for (const table of this.tables) {
      if (!table.ttlAttribute) continue;
      const keyNames = (table.definition['KeySchema'] as { AttributeName: string }[]).map((k) => k.AttributeName);
      const now = String(Math.floor(Date.now() / 1000));
      const pages = paginateScan(
        { client: this.client },
        {
          TableName: table.name,
          FilterExpression: '#ttl < :now',
          ExpressionAttributeNames: { '#ttl': table.ttlAttribute, ...Object.fromEntries(keyNames.map((k, i) => [`#k${i}`, k])) },
          ExpressionAttributeValues: { ':now': { N: now } },
          ProjectionExpression: keyNames.map((_, i) => `#k${i}`).join(', '),
        },
      );
      for await (const page of pages) {
        for (const key of page.Items ?? []) {
          this.deletions.add(table.name, key);
          try {
            await this.client.send(
              new DeleteItemCommand({
                TableName: table.name,
                Key: key,
                ConditionExpression: '#ttl < :now',
                ExpressionAttributeNames: { '#ttl': table.ttlAttribute },
                ExpressionAttributeValues: { ':now': { N: now } },
              }),
            );
            expired++;
          } catch (error) {
            this.deletions.take(table.name, key);
            // Someone else deleted or renewed the row since the scan: nothing to report.
            const conditionFailed = error instanceof Error && error.name === 'ConditionalCheckFailedException';
            if (!conditionFailed) this.log(`TTL sweep on ${table.name}: ${error instanceof Error ? error.message : String(error)}`);
          }
        }
      }
    }
    return expired;
  }
}
