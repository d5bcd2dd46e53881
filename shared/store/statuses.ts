import { GetCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ChannelEntry, Status } from '../protocol';
import { Statuses } from '../schema';
import { batchGetAll } from './batch';
import { byIdChannel, channelItem, parseStatus } from './items';

export interface PageQuery {
  readonly channel: string;
  /** Oldest first from `after`, or newest first below `before` (or from the newest). */
  readonly after?: string;
  readonly before?: string;
  readonly limit: number;
  /**
   * Strongly consistent (the default), or eventually, at half the read units: it may miss the
   * last second's writes, which a reader that must miss nothing (a catch-up) cannot afford.
   */
  readonly consistent?: boolean;
}

export interface Page {
  readonly items: ChannelEntry[];
  /** True when the channel holds more items past the last one returned. */
  readonly more: boolean;
}

/** Reads of the Statuses table. Writes go through PostLog, which keeps them atomic. */
export class StatusStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async get(id: string): Promise<Status | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.table, Key: { [Statuses.partitionKey]: byIdChannel(id), [Statuses.sortKey]: id }, ConsistentRead: true }),
    );
    return Item ? parseStatus(Item) : undefined;
  }

  /** The statuses of these ids that exist, strongly consistent, in no particular order. */
  async getMany(ids: readonly string[]): Promise<Status[]> {
    const keys = ids.map((id) => ({ [Statuses.partitionKey]: byIdChannel(id), [Statuses.sortKey]: id }));
    return (await batchGetAll(this.db, this.table, keys)).map(parseStatus);
  }

  /** One page of a channel, asking for one item more than the limit to learn whether more exist. */
  async page(query: PageQuery): Promise<Page> {
    const ascending = query.after !== undefined;
    const cursor = query.after ?? query.before;
    const { Items = [] } = await this.db.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression:
          cursor === undefined ? `${Statuses.partitionKey} = :c` : `${Statuses.partitionKey} = :c AND ${Statuses.sortKey} ${ascending ? '>' : '<'} :cursor`,
        ExpressionAttributeValues: cursor === undefined ? { ':c': query.channel } : { ':c': query.channel, ':cursor': cursor },
        ScanIndexForward: ascending,
        Limit: query.limit + 1,
        ConsistentRead: query.consistent ?? true,
      }),
    );
    const items = Items.slice(0, query.limit).flatMap((item) => channelItem(item) ?? []);
    return { items, more: Items.length > query.limit };
  }
}
