import type { SQSBatchItemFailure } from 'aws-lambda';
import type { SubscriberPage, SubscriptionStore } from '../store/subscriptions';
import { Deliverer, describe, type DelivererDeps, type Delivery } from './deliverer';
import { serializedPayload } from './delivery-client';
import { decodeSegment, type SegmentMessage } from './segment-queue';

/** A message of the delivery queue, as the SQS event source hands it over. */
export interface SegmentRecord {
  readonly messageId: string;
  /** The SQS FIFO message group: the channel's delivery group. */
  readonly groupId: string;
  readonly body: string;
}

export interface WorkerDeps extends DelivererDeps {
  readonly subscriptions: Pick<SubscriptionStore, 'rangePage'>;
  /** Subscribers read per Query page. @default 1000 */
  readonly pageSize?: number;
  /** Milliseconds left in the invocation (Lambda's context.getRemainingTimeInMillis). @default unbounded */
  readonly remainingMs?: () => number;
  /** A segment is started only with this long left: what one may take at a throttled pace. @default 20000 */
  readonly reserveMs?: number;
}

export interface WorkerResult {
  /** Messages to receive again: the first that could not be processed in its group, and every later one of that group. */
  readonly batchItemFailures: SQSBatchItemFailure[];
  readonly segments: number;
  readonly delivered: number;
  readonly gone: number;
  /** Subscribers whose token had expired: closed, not delivered to. */
  readonly expired: number;
  readonly failed: number;
  /** Per segment of a status that reached at least one subscriber: ms from the status's createdAt to its last delivery. */
  readonly latencies: number[];
}

type Decoded = { readonly segment: SegmentMessage } | { readonly error: unknown };

function decode(record: SegmentRecord): Decoded {
  try {
    return { segment: decodeSegment(record.body) };
  } catch (error) {
    return { error };
  }
}

/**
 * The delivery worker: delivers each queued segment to the subscribers in its hash
 * range. Groups are worked side by side; within a group, segments go one after another,
 * in queue order (the next one's first page read during the one before), which keeps each
 * subscriber's statuses in order. A segment whose
 * subscribers cannot be read fails, and so does every later message of its group (SQS
 * FIFO must not deliver them ahead of it); deliveries that fail after the client's
 * retries are counted, never retried by failing the message (that would post to the
 * whole segment again).
 */
export async function deliverSegments(records: readonly SegmentRecord[], deps: WorkerDeps): Promise<WorkerResult> {
  const deliverer = new Deliverer(deps);
  const pageSize = deps.pageSize ?? 1000;
  const batchItemFailures: SQSBatchItemFailure[] = [];
  const latencies: number[] = [];
  let segments = 0;

  /** A segment's first page, read ahead; its failure surfaces when awaited. */
  const firstPage = (segment: SegmentMessage) => {
    const page = deps.subscriptions.rangePage(segment.channel, segment.range, pageSize);
    page.catch(() => undefined);
    return page;
  };

  const deliverSegment = async (segment: SegmentMessage, first: Promise<SubscriberPage>) => {
    const delivery: Delivery = { statusId: segment.statusId, data: serializedPayload(segment.frame) };
    let page = first;
    for (;;) {
      const { connectionIds, expired, next } = await page;
      deliverer.closeExpired(expired);
      // The next page is read while this one's posts are in flight; its failure surfaces when awaited.
      const following = next && deps.subscriptions.rangePage(segment.channel, segment.range, pageSize, next);
      following?.catch(() => undefined);
      await deliverer.to(connectionIds, delivery);
      if (!following) break;
      page = following;
    }
    segments++;
    if (segment.createdAt !== undefined && delivery.deliveredAt !== undefined) latencies.push(delivery.deliveredAt - Date.parse(segment.createdAt));
  };

  const byGroup = new Map<string, SegmentRecord[]>();
  for (const record of records) {
    const group = byGroup.get(record.groupId);
    if (group) group.push(record);
    else byGroup.set(record.groupId, [record]);
  }
  const remainingMs = deps.remainingMs ?? (() => Number.POSITIVE_INFINITY);
  const reserveMs = deps.reserveMs ?? 20_000;
  await Promise.all(
    [...byGroup.values()].map(async (group) => {
      const decoded = group.map(decode);
      let readAhead: Promise<SubscriberPage> | undefined;
      for (const [i, record] of group.entries()) {
        const read = readAhead;
        readAhead = undefined;
        if (remainingMs() < reserveMs) {
          // Started now, it might outlast the invocation, and a timeout returns the whole batch,
          // delivered segments too. Left to a later receive, in order with the rest of its group.
          deps.logger.warn('left segments for a later invocation', { messages: group.length - i, remainingMs: remainingMs() });
          batchItemFailures.push(...group.slice(i).map((left) => ({ itemIdentifier: left.messageId })));
          return;
        }
        const item = decoded[i];
        if (!item || 'error' in item) {
          // It can never be read: retrying would only hold its group up until the DLQ takes it.
          deps.logger.error('skipped a malformed segment', { messageId: record.messageId, error: describe(item?.error) });
          continue;
        }
        const { segment } = item;
        // The group's next segment is read while this one is delivered: its posts must wait their
        // turn, its Query need not (a batch holds a few groups, so few Queries would be in flight).
        const next = decoded[i + 1];
        if (next && 'segment' in next) readAhead = firstPage(next.segment);
        try {
          await deliverSegment(segment, read ?? firstPage(segment));
        } catch (error) {
          deps.logger.error('could not deliver a segment', { messageId: record.messageId, statusId: segment.statusId, channel: segment.channel, error: describe(error) });
          batchItemFailures.push(...group.slice(i).map((failed) => ({ itemIdentifier: failed.messageId })));
          return;
        }
      }
    }),
  );
  await deliverer.settled();
  return { batchItemFailures, segments, delivered: deliverer.delivered, gone: deliverer.gone, expired: deliverer.expired, failed: deliverer.failed, latencies };
}
