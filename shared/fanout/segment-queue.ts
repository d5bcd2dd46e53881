import { SendMessageBatchCommand, type SendMessageBatchRequestEntry, type SQSClient } from '@aws-sdk/client-sqs';
import pLimit from 'p-limit';
import { Connections } from '../schema';
import { isRecord } from '../protocol/frames';
import { HASH_SPACE, hashKey, indexOf, type HashRange } from './hash-space';

/**
 * One queued piece of a large channel's fan-out: deliver `frame` to the channel's
 * subscribers whose hash is in `range`. Its message group is the channel's delivery
 * group, so a group's segments are delivered one after another, in the order queued.
 */
export interface SegmentMessage {
  readonly channel: string;
  readonly statusId: string;
  readonly group: number;
  /** Its place among the status's segments: with the status id, what SQS deduplicates on. */
  readonly index: number;
  readonly range: HashRange;
  /** The frame as sent, serialized. */
  readonly frame: string;
  /** The status's createdAt, for post-to-delivery latency; absent for notifications. */
  readonly createdAt?: string;
}

export interface SegmentQueue {
  /** Queues a status's segments; resolves once SQS has every one of them. */
  send(segments: readonly SegmentMessage[]): Promise<void>;
}

/** A channel's delivery group as an SQS FIFO message group id (at most 128 characters; channel names are far shorter). */
export const messageGroupId = (channel: string, group: number): string => `${channel}#${group}`;

/**
 * With deduplication scoped to the message group, a status's segments are told apart by their hash
 * range. A stream record retried after a partial send plans again, and may cut the channel
 * differently if it has changed since: a range sent before is not queued again (for 5 minutes), and
 * a new cut can send some subscribers a status twice (clients drop duplicates by id), but none is
 * ever left out.
 */
export const deduplicationId = (segment: Pick<SegmentMessage, 'statusId' | 'range'>): string =>
  `${segment.statusId}.${hashKey(segment.range.lo)}${hashKey(segment.range.hi - 1)}`;

export const encodeSegment = (segment: SegmentMessage): string => JSON.stringify(segment);

/** A message body as encodeSegment wrote it, or throws (such a message can never be delivered). */
export function decodeSegment(body: string): SegmentMessage {
  const value: unknown = JSON.parse(body);
  if (!isSegment(value)) throw new TypeError('not a fan-out segment');
  return value;
}

const isHash = (value: unknown): value is number => Number.isInteger(value) && Number(value) >= 0 && Number(value) <= HASH_SPACE;

/** Well formed, and a range the worker can read: not empty, and inside one delivery group's write shard. */
function isSegment(value: unknown): value is SegmentMessage {
  if (!isRecord(value) || !isRecord(value['range'])) return false;
  const { lo, hi } = value['range'];
  return (
    typeof value['channel'] === 'string' &&
    typeof value['statusId'] === 'string' &&
    Number.isInteger(value['group']) &&
    Number.isInteger(value['index']) &&
    typeof value['frame'] === 'string' &&
    (value['createdAt'] === undefined || typeof value['createdAt'] === 'string') &&
    isHash(lo) &&
    isHash(hi) &&
    lo < hi &&
    indexOf(lo, Connections.rows.subscription.shards) === indexOf(hi - 1, Connections.rows.subscription.shards)
  );
}

/** SQS takes at most 10 messages per SendMessageBatch. */
const BATCH = 10;
/** Tries per batch entry: SendMessageBatch can fail some entries and take the rest. */
const ATTEMPTS = 3;

/** The delivery queue: an SQS FIFO queue, sent to in batches of 10, side by side. */
export class SqsSegmentQueue implements SegmentQueue {
  constructor(
    private readonly sqs: Pick<SQSClient, 'send'>,
    private readonly queueUrl: string,
    /** SendMessageBatch calls in flight at once. */
    private readonly concurrency = 16,
  ) {}

  async send(segments: readonly SegmentMessage[]): Promise<void> {
    const limit = pLimit(this.concurrency);
    const batches: SendMessageBatchRequestEntry[][] = [];
    for (let i = 0; i < segments.length; i += BATCH) {
      batches.push(
        segments.slice(i, i + BATCH).map((segment, j) => ({
          Id: String(j),
          MessageBody: encodeSegment(segment),
          MessageGroupId: messageGroupId(segment.channel, segment.group),
          MessageDeduplicationId: deduplicationId(segment),
        })),
      );
    }
    // Once one batch has failed, no further batch is started: the record is retried as a whole, and
    // a send still running after the handler has returned would land behind the channel's later statuses.
    let failure: { readonly error: unknown } | undefined;
    await Promise.all(
      batches.map((batch) =>
        limit(async () => {
          if (failure) return;
          try {
            await this.sendBatch(batch);
          } catch (error) {
            failure ??= { error };
          }
        }),
      ),
    );
    if (failure) throw failure.error;
  }

  private async sendBatch(entries: SendMessageBatchRequestEntry[]): Promise<void> {
    let pending = entries;
    for (let attempt = 1; pending.length > 0; attempt++) {
      const { Failed = [] } = await this.sqs.send(new SendMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: pending }));
      if (Failed.length === 0) return;
      const senderFault = Failed.find((failure) => failure.SenderFault);
      if (senderFault || attempt === ATTEMPTS) {
        const first = senderFault ?? Failed[0];
        throw new Error(`SQS refused ${Failed.length} of ${pending.length} segments: ${first?.Code ?? ''} ${first?.Message ?? ''}`);
      }
      const failed = new Set(Failed.map((failure) => failure.Id));
      pending = pending.filter((entry) => failed.has(entry.Id));
    }
  }
}
