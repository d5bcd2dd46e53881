import type { DynamoDBBatchItemFailure, DynamoDBRecord } from 'aws-lambda';
import pLimit from 'p-limit';
import { parseChannel, type ServerFrame } from '../protocol';
import { Statuses } from '../schema';
import { fromStreamImage, MalformedItem, stringAt, type Item } from '../store/attributes';
import type { ConnectionStore } from '../store/connections';
import { parseNotification, parseStatus } from '../store/items';
import type { SubscriptionStore } from '../store/subscriptions';
import { payload, type DeliveryClient, type DeliveryOutcome, type Payload } from './delivery-client';

/** What the engine logs through; Powertools' Logger is one. */
export interface FanOutLogger {
  warn(message: string, extra: Record<string, unknown>): void;
  error(message: string, extra: Record<string, unknown>): void;
}

export interface FanOutDeps {
  readonly subscriptions: Pick<SubscriptionStore, 'subscribers'>;
  readonly connections: Pick<ConnectionStore, 'removeGone'>;
  /**
   * A DeliveryClient: keep-alive sockets, retries on 429 and 5xx with backoff and jitter,
   * Gone answered as `'gone'`; it throws only once it gives up on a delivery.
   */
  readonly delivery: Pick<DeliveryClient, 'post'>;
  /** Posts in flight at once, across every record of the batch. */
  readonly concurrency: number;
  /** Subscribers read per Query page. @default 1000 */
  readonly pageSize?: number;
  readonly logger: FanOutLogger;
  readonly now?: () => number;
}

export interface FanOutResult {
  /** Records that could not be processed at all; Lambda retries only these and what follows them. */
  readonly batchItemFailures: DynamoDBBatchItemFailure[];
  readonly delivered: number;
  readonly gone: number;
  /** Deliveries that still failed after the client's retries; counted, never re-sent to everyone. */
  readonly failed: number;
  /** Rows that could not be read (logged and skipped: no retry could read them either). */
  readonly malformed: number;
  /**
   * Post-to-delivery latency: per status record that reached at least one
   * subscriber, milliseconds from its createdAt to its last successful delivery.
   */
  readonly latencies: number[];
}

/** What one record's deliveries share: its id for the logs, its frame serialized and hashed once, and when the last of them succeeded. */
interface Delivery {
  readonly statusId: string;
  readonly data: Payload;
  deliveredAt?: number;
}

/**
 * Delivers each new row of the Statuses table to the live subscribers of its
 * channel. Cost grows with those subscribers only: a paginated Query on the
 * channel, one serialized and hashed payload per row, and posts bounded by `concurrency`.
 */
export async function fanOut(records: readonly DynamoDBRecord[], deps: FanOutDeps): Promise<FanOutResult> {
  const limit = pLimit(deps.concurrency);
  const pageSize = deps.pageSize ?? 1000;
  const now = deps.now ?? Date.now;
  const cleanups = new Map<string, Promise<void>>();
  const batchItemFailures: DynamoDBBatchItemFailure[] = [];
  const latencies: number[] = [];
  const result = { batchItemFailures, delivered: 0, gone: 0, failed: 0, malformed: 0, latencies };

  const deliver = async (connectionId: string, delivery: Delivery) => {
    if (cleanups.has(connectionId)) return;
    let outcome: DeliveryOutcome;
    try {
      outcome = await deps.delivery.post(connectionId, delivery.data);
    } catch (error) {
      // The client has already retried what was worth retrying.
      result.failed++;
      deps.logger.warn('delivery failed after retries', { connectionId, statusId: delivery.statusId, error: describe(error) });
      return;
    }
    if (outcome === 'gone') {
      result.gone++;
      if (!cleanups.has(connectionId)) cleanups.set(connectionId, removeStale(connectionId));
    } else {
      result.delivered++;
      delivery.deliveredAt = now();
    }
  };

  const removeStale = (connectionId: string) =>
    deps.connections.removeGone(connectionId, now()).then(
      () => undefined,
      (error: unknown) => {
      // Its rows expire by TTL anyway; the next Gone for it tries again.
        deps.logger.warn('could not remove a stale connection', { connectionId, error: describe(error) });
      },
    );

  const processRecord = async (image: NonNullable<NonNullable<DynamoDBRecord['dynamodb']>['NewImage']>) => {
    let frame: ServerFrame | undefined;
    let delivery: Delivery;
    let channel: string;
    try {
      const row = fromStreamImage(image);
      frame = deliveryFrame(row);
      if (!frame) return;
      delivery = { statusId: stringAt(row, Statuses.sortKey), data: payload(frame) };
      channel = stringAt(row, Statuses.partitionKey);
    } catch (error) {
      if (!(error instanceof MalformedItem)) throw error;
      // A row that cannot be read never will be: retrying it would hold up its channel's later
      // records through every retry and into the DLQ. It is logged and skipped.
      result.malformed++;
      deps.logger.error('skipped a malformed row', { statusId: image[Statuses.sortKey]?.S, error: describe(error) });
      return;
    }

    // Fetch the next page of subscribers while this page's posts are in flight. Its
    // result is settled at once, so a failure surfaces here, not as an unhandled rejection.
    let page = settle(deps.subscriptions.subscribers(channel, pageSize));
    for (;;) {
      const { connectionIds, next } = unwrap(await page);
      const following = next && settle(deps.subscriptions.subscribers(channel, pageSize, next));
      await Promise.all(connectionIds.map((id) => limit(() => deliver(id, delivery))));
      if (!following) break;
      page = following;
    }
    if (frame.type === 'status' && delivery.deliveredAt !== undefined) result.latencies.push(delivery.deliveredAt - Date.parse(frame.status.createdAt));
  };

  // Channels fan out side by side; within a channel, records go in stream order, so a
  // subscriber sees a channel's statuses in the order they were written. A channel
  // stops at its first failed record: Lambda sends that record and every later one
  // again, so going on would deliver them twice and out of order.
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
          result.batchItemFailures.push({ itemIdentifier: record.dynamodb?.SequenceNumber ?? '' });
          break;
        }
      }
    }),
  );
  await Promise.all(cleanups.values());
  return result;
}

/** The frame a subscriber of the row's channel receives, or undefined for rows nobody subscribes to. */
export function deliveryFrame(row: Item): ServerFrame | undefined {
  const channel = row[Statuses.partitionKey];
  if (typeof channel !== 'string' || !parseChannel(channel)) return undefined;
  switch (row[Statuses.kindAttribute]) {
    case 'status':
      return { type: 'status', channel, status: parseStatus(row) };
    case 'notification':
      return { type: 'notification', notification: parseNotification(row) };
    default:
      return undefined;
  }
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };
const settle = <T>(promise: Promise<T>): Promise<Settled<T>> =>
  promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
function unwrap<T>(settled: Settled<T>): T {
  if (!settled.ok) throw settled.error;
  return settled.value;
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
