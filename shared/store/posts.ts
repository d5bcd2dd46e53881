import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { PutCommand, TransactWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ChannelName, Notification, Status } from '../protocol';
import type { ClaimStore, RetryKey } from './claims';
import { byIdChannel, notificationItem, statusItem } from './items';

export type { RetryKey } from './claims';

export interface AppendResult {
  readonly status: Status;
  readonly duplicate: boolean;
}

/** What a post adds to the log: the status on the channels it belongs to, and notifications it causes. */
export interface Entry {
  readonly status: Status;
  readonly channels: readonly ChannelName[];
  readonly notifications?: readonly { readonly channel: ChannelName; readonly notification: Notification }[];
}

/**
 * Writes to the Statuses table (see shared/schema.ts). A post is one
 * transaction: its status on each of its channels, its copy under
 * `status:<id>` for reads by id, its notifications and, with a retry key, the
 * idempotency claim (ClaimStore); so a status is either stored everywhere or
 * nowhere, and a second post with a claimed request id gets the first status
 * back, writing nothing.
 */
export class PostLog {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly claims: Pick<ClaimStore, 'claimWrite' | 'claimed'>,
  ) {}

  async append(entry: Entry, retry?: RetryKey, nowMs = Date.now()): Promise<AppendResult> {
    const { status } = entry;
    const items = [
      statusItem(byIdChannel(status.id), status),
      ...entry.channels.map((channel) => statusItem(channel, status)),
      ...(entry.notifications ?? []).map(({ channel, notification }) => notificationItem(channel, notification)),
    ];
    const puts = items.map((Item) => ({ Put: { TableName: this.table, Item } }));
    const claim = retry && this.claims.claimWrite(retry, status, nowMs);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.db.send(new TransactWriteCommand({ TransactItems: claim ? [claim, ...puts] : puts }));
        return { status, duplicate: false };
      } catch (error) {
        const reason = error instanceof TransactionCanceledException ? error.CancellationReasons?.[0]?.Code : undefined;
        if (retry && reason === 'ConditionalCheckFailed') {
          const first = await this.claims.claimed(retry, nowMs);
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
  async notify(channel: ChannelName, notification: Notification): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.table, Item: notificationItem(channel, notification) }));
  }
}
