import type { DynamoDBDocumentClient, TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import type { ChannelName } from '../protocol';
import { Statuses } from '../schema';
import { numberAt, stringAt } from './attributes';
import { batchGetAll } from './batch';

type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

/** Where a channel stands: its last position (0 for a channel with nothing in it) and the id of the item there. */
export interface Head {
  readonly pos: number;
  readonly last?: string;
}

export const EMPTY_HEAD: Head = { pos: 0 };

const { head } = Statuses;
const headKey = (channel: ChannelName) => ({ [Statuses.partitionKey]: `${head.prefix}${channel}`, [Statuses.sortKey]: head.sortKey });

/**
 * Channel heads, rows `head#<channel>` of the Statuses table (see shared/schema.ts). PostLog
 * advances them in the transaction that writes to their channels; `subscribe` reads them so
 * that a client knows each channel's position when its subscription began.
 */
export class ChannelHeads {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /** The heads of these channels, strongly consistent; a channel never written to is at EMPTY_HEAD. */
  async read(channels: readonly ChannelName[]): Promise<Map<ChannelName, Head>> {
    const heads = new Map<ChannelName, Head>(channels.map((channel) => [channel, EMPTY_HEAD]));
    for (const item of await batchGetAll(this.db, this.table, [...heads.keys()].map(headKey))) {
      const channel = stringAt(item, Statuses.partitionKey).slice(head.prefix.length);
      heads.set(channel, { pos: numberAt(item, head.positionAttribute), last: stringAt(item, head.lastIdAttribute) });
    }
    return heads;
  }

  /**
   * The write that moves a channel's head from `from` to the next position, at item `id`, for the
   * transaction that writes the item; it fails its condition if another write moved the head first.
   */
  advance(channel: ChannelName, from: Head, id: string): TransactItem {
    return {
      Update: {
        TableName: this.table,
        Key: headKey(channel),
        UpdateExpression: 'SET #pos = :next, #last = :id',
        ConditionExpression: from.pos === 0 ? 'attribute_not_exists(#pos)' : '#pos = :from',
        ExpressionAttributeNames: { '#pos': head.positionAttribute, '#last': head.lastIdAttribute },
        ExpressionAttributeValues: from.pos === 0 ? { ':next': 1, ':id': id } : { ':next': from.pos + 1, ':id': id, ':from': from.pos },
      },
    };
  }
}
