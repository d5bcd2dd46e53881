import { BatchGetCommand, type BatchGetCommandOutput, type DynamoDBDocumentClient, type TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import type { ChannelName } from '../protocol';
import { Statuses } from '../schema';
import { numberAt, stringAt } from './attributes';

type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

/** Where a channel stands: its last position (0 for a channel with nothing in it) and the id of the item there. */
export interface Head {
  readonly pos: number;
  readonly last?: string;
}

export const EMPTY_HEAD: Head = { pos: 0 };

const { head } = Statuses;
const headKey = (channel: ChannelName) => ({ [Statuses.partitionKey]: `${head.prefix}${channel}`, [Statuses.sortKey]: head.sortKey });
/** BatchGetItem reads at most 100 keys a request. */
const BATCH_KEYS = 100;

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
    const unique = [...heads.keys()];
    for (let start = 0; start < unique.length; start += BATCH_KEYS) {
      let keys: Record<string, unknown>[] | undefined = unique.slice(start, start + BATCH_KEYS).map(headKey);
      for (let round = 0; keys && keys.length > 0; round++) {
        if (round > 0) await new Promise((resolve) => setTimeout(resolve, Math.random() * 25 * 2 ** round));
        if (round === 8) throw new Error(`DynamoDB left ${keys.length} channel heads unread on ${this.table}`);
        const result: BatchGetCommandOutput = await this.db.send(new BatchGetCommand({ RequestItems: { [this.table]: { Keys: keys, ConsistentRead: true } } }));
        for (const item of result.Responses?.[this.table] ?? []) {
          const channel = stringAt(item, Statuses.partitionKey).slice(head.prefix.length);
          heads.set(channel, { pos: numberAt(item, head.positionAttribute), last: stringAt(item, head.lastIdAttribute) });
        }
        keys = result.UnprocessedKeys?.[this.table]?.Keys;
      }
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
