import type { DynamoDBBatchItemFailure, DynamoDBRecord } from 'aws-lambda';
import { parseChannel, type ServerFrame } from '../protocol';
import { Statuses } from '../schema';
import { fromStreamImage, MalformedItem, stringAt, type Item } from '../store/attributes';
import { parseNotification, parseStatus, positionOf } from '../store/items';
import type { SubscriptionStore } from '../store/subscriptions';
import { Deliverer, describe, type DelivererDeps, type Delivery } from './deliverer';
import { payload } from './delivery-client';
import { planFanOut, type PlanOptions } from './planner';
import type { SegmentQueue } from './segment-queue';

export type { FanOutLogger } from './deliverer';

export interface FanOutDeps extends DelivererDeps {
  readonly subscriptions: Pick<SubscriptionStore, 'firstPages' | 'markQueued'>;
  /** Where large channels' segments go, for the delivery workers. */
  readonly queue: SegmentQueue;
  readonly plan: FanOutPlanOptions;
}

export interface FanOutPlanOptions extends PlanOptions {
  /** Subscribers read from each write shard before deciding: channels whose shards all fit are delivered directly. */
  readonly directPerShard: number;
  /** How long a channel stays on the queue after a status went through it, in ms: longer than a queued segment may wait. */
  readonly queuedFor: number;
  /**
   * Posts one invocation makes directly, across its records, at most: past it, small channels are
   * queued too, so that a batch of many medium channels cannot outlast the function's timeout.
   */
  readonly directBudget: number;
}

export interface FanOutResult {
  /** Records that could not be processed at all; Lambda retries only these and what follows them. */
  readonly batchItemFailures: DynamoDBBatchItemFailure[];
  readonly delivered: number;
  readonly gone: number;
  /** Subscribers whose token had expired: closed, not delivered to. */
  readonly expired: number;
  /** Deliveries that still failed after the client's retries; counted, never re-sent to everyone. */
  readonly failed: number;
  /** Rows that could not be read (logged and skipped: no retry could read them either). */
  readonly malformed: number;
  /** Statuses handed to the delivery workers, and the segments they were cut into. */
  readonly queued: number;
  readonly segments: number;
  /**
   * Post-to-delivery latency: per status delivered directly that reached at least one
   * subscriber, milliseconds from its createdAt to its last successful delivery.
   */
  readonly latencies: number[];
}

/**
 * The stream consumer, and the root of the fan-out tree. For each new row of the
 * Statuses table it reads the first page of each of the channel's write shards and
 * plans (see planner.ts): a small channel it delivers itself, at once; a large one it
 * cuts into segments for the delivery workers (worker.ts). Either way its time is
 * bounded: per record, a few Queries, then at most `maxSegments` queued messages or a
 * small channel's posts; per invocation, at most `directBudget` posts.
 */
export async function fanOut(records: readonly DynamoDBRecord[], deps: FanOutDeps): Promise<FanOutResult> {
  const deliverer = new Deliverer(deps);
  const now = deps.now ?? Date.now;
  const batchItemFailures: DynamoDBBatchItemFailure[] = [];
  const latencies: number[] = [];
  const counts = { malformed: 0, queued: 0, segments: 0 };
  let directLeft = deps.plan.directBudget;

  const processRecord = async (image: NonNullable<NonNullable<DynamoDBRecord['dynamodb']>['NewImage']>) => {
    let frame: ServerFrame | undefined;
    let statusId: string;
    let channel: string;
    try {
      const row = fromStreamImage(image);
      frame = deliveryFrame(row);
      if (!frame) return;
      statusId = stringAt(row, Statuses.sortKey);
      channel = stringAt(row, Statuses.partitionKey);
    } catch (error) {
      if (!(error instanceof MalformedItem)) throw error;
      // A row that cannot be read never will be: retrying it would hold up its channel's later
      // records through every retry and into the DLQ. It is logged and skipped.
      counts.malformed++;
      deps.logger.error('skipped a malformed row', { statusId: image[Statuses.sortKey]?.S, error: describe(error) });
      return;
    }
    const createdAt = frame.type === 'status' ? frame.status.createdAt : undefined;
    const pages = await deps.subscriptions.firstPages(channel, deps.plan.directPerShard, now());
    deliverer.closeExpired(pages.expired);
    const fits = pages.shards.reduce((sum, page) => sum + page.connectionIds.length, 0) <= directLeft;
    const plan = planFanOut(pages, now(), deps.plan, fits);

    if (plan.kind === 'direct') {
      directLeft -= plan.connectionIds.length;
      const delivery: Delivery = { statusId, data: payload(frame) };
      await deliverer.to(plan.connectionIds, delivery);
      if (createdAt !== undefined && delivery.deliveredAt !== undefined) latencies.push(delivery.deliveredAt - Date.parse(createdAt));
      return;
    }
    // Marked first: once any segment is queued, the channel's later statuses must queue behind it.
    // The mark is renewed when half its time is gone, so a busy channel costs one write a while.
    const until = now() + deps.plan.queuedFor;
    if (pages.queuedUntil === undefined || pages.queuedUntil < until - deps.plan.queuedFor / 2) await deps.subscriptions.markQueued(channel, until);
    const frameText = JSON.stringify(frame);
    await deps.queue.send(
      plan.segments.map((segment, index) => ({
        channel,
        statusId,
        group: segment.group,
        index,
        range: segment.range,
        frame: frameText,
        ...(createdAt === undefined ? {} : { createdAt }),
      })),
    );
    counts.queued++;
    counts.segments += plan.segments.length;
  };

  // Channels fan out side by side; within a channel, records go in stream order, so a
  // subscriber sees a channel's statuses in the order they were written (and a queued
  // status's segments are all queued before the next status's). A channel stops at its
  // first failed record: Lambda sends that record and every later one again, so going on
  // would deliver them twice and out of order.
  const byChannel = new Map<string, DynamoDBRecord[]>();
  for (const record of records) {
    if (record.eventName !== 'INSERT' || !record.dynamodb?.NewImage) continue;
    const channel = record.dynamodb.NewImage[Statuses.partitionKey]?.S ?? '';
    const queue = byChannel.get(channel);
    if (queue) queue.push(record);
    else byChannel.set(channel, [record]);
  }
  await Promise.all(
    [...byChannel.values()].map(async (channelRecords) => {
      for (const record of channelRecords) {
        try {
          // Queued above only with a NewImage.
          if (record.dynamodb?.NewImage) await processRecord(record.dynamodb.NewImage);
        } catch (error) {
          deps.logger.error('could not fan out a record', {
            sequenceNumber: record.dynamodb?.SequenceNumber,
            statusId: record.dynamodb?.NewImage?.[Statuses.sortKey]?.S,
            error: describe(error),
          });
          batchItemFailures.push({ itemIdentifier: record.dynamodb?.SequenceNumber ?? '' });
          break;
        }
      }
    }),
  );
  await deliverer.settled();
  return { batchItemFailures, delivered: deliverer.delivered, gone: deliverer.gone, expired: deliverer.expired, failed: deliverer.failed, ...counts, latencies };
}

/** The frame a subscriber of the row's channel receives, or undefined for rows nobody subscribes to. */
export function deliveryFrame(row: Item): ServerFrame | undefined {
  const channel = row[Statuses.partitionKey];
  if (typeof channel !== 'string' || !parseChannel(channel)) return undefined;
  // Its position in the channel, which lets the subscriber see a gap (rows from before positions have none).
  const pos = positionOf(row);
  const at = pos === undefined ? {} : { pos };
  switch (row[Statuses.kindAttribute]) {
    case 'status':
      return { type: 'status', channel, status: parseStatus(row), ...at };
    case 'notification':
      return { type: 'notification', notification: parseNotification(row), ...at };
    default:
      return undefined;
  }
}
