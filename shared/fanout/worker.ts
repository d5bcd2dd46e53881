import type { SQSBatchItemFailure } from 'aws-lambda';
import type { SubscriptionStore } from '../store/subscriptions';
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

/**
 * The delivery worker: delivers each queued segment to the subscribers in its hash
 * range. Groups are worked side by side; within a group, segments go one after another,
 * in queue order, which keeps each subscriber's statuses in order. A segment whose
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

  const deliverSegment = async (segment: SegmentMessage) => {
    const delivery: Delivery = { statusId: segment.statusId, data: serializedPayload(segment.frame) };
    let page = deps.subscriptions.rangePage(segment.channel, segment.range, pageSize);
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
      for (const [i, record] of group.entries()) {
        if (remainingMs() < reserveMs) {
          // Started now, it might outlast the invocation, and a timeout returns the whole batch,
          // delivered segments too. Left to a later receive, in order with the rest of its group.
          deps.logger.warn('left segments for a later invocation', { messages: group.length - i, remainingMs: remainingMs() });
          batchItemFailures.push(...group.slice(i).map((left) => ({ itemIdentifier: left.messageId })));
          return;
        }
        let segment: SegmentMessage;
        try {
          segment = decodeSegment(record.body);
        } catch (error) {
          // It can never be read: retrying would only hold its group up until the DLQ takes it.
          deps.logger.error('skipped a malformed segment', { messageId: record.messageId, error: describe(error) });
          continue;
        }
        try {
          await deliverSegment(segment);
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
