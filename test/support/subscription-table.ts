import type { DynamoDBDocumentClient, PutCommandInput, QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { AwsClientStub } from 'aws-sdk-client-mock';
import { subscriptionKey } from '../../shared/store/connection-rows';

type Row = Record<string, unknown>;

/**
 * The subscription rows of a Connections table, for unit tests that mock the document client:
 * answers the two Queries SubscriptionStore makes (a partition, or a partition and a sort key
 * BETWEEN) with DynamoDB's order, Limit and ExclusiveStartKey, and keeps what PutCommand writes.
 */
export class SubscriptionTable {
  readonly rows: Row[] = [];
  /** Query inputs in the order they came. */
  readonly queries: QueryCommandInput[] = [];
  /** Make the Queries matching this fail (throw) instead of answering. */
  failWhen: (input: QueryCommandInput) => boolean = () => false;

  /** `lib`: the module's own commands, for a handler loaded in isolation (jest.isolateModulesAsync). */
  constructor(ddb: AwsClientStub<DynamoDBDocumentClient>, lib: { QueryCommand: typeof QueryCommand; PutCommand: typeof PutCommand } = { QueryCommand, PutCommand }) {
    ddb.on(lib.QueryCommand).callsFake((input: QueryCommandInput) => this.query(input));
    ddb.on(lib.PutCommand).callsFake((input: PutCommandInput) => {
      const item = input.Item ?? {};
      const existing = this.rows.findIndex((row) => row['pk'] === item['pk'] && row['sk'] === item['sk']);
      if (existing >= 0) this.rows.splice(existing, 1);
      this.rows.push({ ...item });
      return {};
    });
  }

  /** Subscribes each connection id to the channel, with the real key layout. */
  subscribe(channel: string, connectionIds: readonly string[], attributes: Row = {}): this {
    for (const id of connectionIds) this.rows.push({ ...subscriptionKey(channel, id), ...attributes });
    return this;
  }

  private query(input: QueryCommandInput) {
    this.queries.push(input);
    if (this.failWhen(input)) throw new Error('ProvisionedThroughputExceededException');
    const values = input.ExpressionAttributeValues ?? {};
    const lo = values[':lo'] as string | undefined;
    const hi = values[':hi'] as string | undefined;
    const matching = this.rows
      .filter((row) => row['pk'] === values[':pk'])
      .filter((row) => lo === undefined || hi === undefined || (String(row['sk']) >= lo && String(row['sk']) <= hi))
      .sort((a, b) => (String(a['sk']) < String(b['sk']) ? -1 : 1));
    const start = input.ExclusiveStartKey ? matching.findIndex((row) => row['sk'] === input.ExclusiveStartKey?.['sk']) + 1 : 0;
    const limit = input.Limit ?? Infinity;
    const page = matching.slice(start, start + limit);
    const last = page.at(-1);
    return {
      Items: page,
      // As DynamoDB does: a page that stops at Limit has a LastEvaluatedKey, even when nothing follows it.
      ...(page.length === limit && last ? { LastEvaluatedKey: { pk: last['pk'], sk: last['sk'] } } : {}),
    };
  }
}
