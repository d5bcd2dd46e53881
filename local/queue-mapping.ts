import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { at, type Alarm } from './clock';
import { matchesAny } from './filters';
import type { LocalFunction } from './lambda';
import type { LocalQueue, ReceivedMessage } from './queues';
import type { QueueMappingModel } from './template';

export interface QueueMappingOptions {
  readonly model: QueueMappingModel;
  readonly queue: LocalQueue;
  readonly fn: LocalFunction;
  readonly region: string;
  /** Invocations at once at most: the mapping's maximum concurrency, within what the function may run locally. */
  readonly concurrency: number;
  readonly log: (line: string) => void;
  /** Called with every event sent to the function; for fidelity tests and debugging. */
  readonly onEvent?: (kind: string, event: unknown) => void;
  /** Called when the function has answered a batch, or failed on it: how many messages, how many go back to the queue. */
  readonly onBatch?: (messages: number, failed: number, durationMs: number) => void;
}

/**
 * An event source mapping from an SQS queue to a function, emulated: batches of up
 * to BatchSize messages (a FIFO queue's groups each in order, several groups to a
 * batch), at most `concurrency` invocations at once, records shaped as Lambda sends
 * them. What the function handled is deleted; what it reported in batchItemFailures
 * (or the whole batch, when it failed or answered something Lambda cannot read) stays
 * in flight until the visibility timeout ends, and is received again, until the
 * queue's redrive policy moves it to the dead-letter queue. It does not poll: the
 * queue wakes it when a message can be received, so a message sent reaches the
 * function at once.
 */
export class QueueMapping {
  private readonly running = new Set<Promise<void>>();
  private stopped = false;
  private unsubscribe?: () => void;
  /** When the current batching window ends, while one is open. */
  private windowEnds?: number;
  private window?: Alarm;

  constructor(private readonly options: QueueMappingOptions) {}

  start(): void {
    if (!this.options.model.enabled) return;
    this.unsubscribe = this.options.queue.onReceivable(() => this.poll());
    this.poll();
  }

  /** Takes no more batches, and waits for the invocations under way (their messages are deleted or returned as usual). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.window?.cancel();
    await Promise.all(this.running);
  }

  /** Starts invocations while the concurrency allows and the queue has messages. */
  private poll(): void {
    const { model, queue, concurrency } = this.options;
    while (!this.stopped && this.running.size < concurrency && !this.inWindow()) {
      const messages = queue.receive(model.batchSize);
      if (messages.length === 0) return;
      const invocation = this.deliver(messages)
        .catch((error: unknown) => this.options.log(`queue mapping ${model.logicalId}: ${error instanceof Error ? error.message : String(error)}`))
        .finally(() => {
          this.running.delete(invocation);
          this.poll();
        });
      this.running.add(invocation);
    }
  }

  /**
   * With a batching window, a batch that is not full waits for more messages until the
   * window, opened by the first message to arrive, ends.
   */
  private inWindow(): boolean {
    const { batchingWindowMs, batchSize } = this.options.model;
    if (batchingWindowMs === 0) return false;
    const now = Date.now();
    const available = this.options.queue.countReceivable(batchSize, now);
    if (available === 0) return true;
    if (available < batchSize && (this.windowEnds === undefined || now < this.windowEnds)) {
      if (this.windowEnds === undefined) {
        this.windowEnds = now + batchingWindowMs;
        // Not a plain timer: it may end while `now < windowEnds` still holds, and nothing would poll again.
        this.window = at(this.windowEnds, () => this.poll());
      }
      return true;
    }
    this.window?.cancel();
    this.windowEnds = undefined;
    return false;
  }

  private async deliver(messages: readonly ReceivedMessage[]): Promise<void> {
    const { model, fn, queue, log } = this.options;
    const records = messages.map((message) => this.record(message));
    // Messages no filter matches are deleted unseen, as Lambda does.
    const kept = model.filterPatterns.length === 0 ? records : records.filter((record) => matchesAny(filterable(record), model.filterPatterns));
    if (kept.length < records.length) this.deleteAll(records.filter((record) => !kept.includes(record)));
    if (kept.length === 0) return;

    const started = Date.now();
    let failed: ReadonlySet<string>;
    try {
      const event: SQSEvent = { Records: kept };
      this.options.onEvent?.('sqs', event);
      const result = await fn.invoke(event);
      const reported = model.reportBatchItemFailures ? reportedFailures(result, kept) : { failed: new Set<string>() };
      if (reported.unreadable) log(`${fn.model.logicalId} answered a batch with ${reported.unreadable}: Lambda fails the whole batch`);
      failed = reported.failed;
    } catch (error) {
      log(`${fn.model.logicalId} failed on a batch of ${kept.length} messages: ${error instanceof Error ? error.message : String(error)}`);
      failed = new Set(kept.map((record) => record.messageId));
    }
    this.deleteAll(kept.filter((record) => !failed.has(record.messageId)));
    if (failed.size > 0) {
      const received = Math.max(...kept.filter((record) => failed.has(record.messageId)).map((record) => Number(record.attributes.ApproximateReceiveCount)));
      const redrive = queue.model.redrive ? ` (received ${received} of ${queue.model.redrive.maxReceiveCount} times before the dead-letter queue)` : '';
      log(`${queue.model.logicalId}: ${failed.size} message${failed.size === 1 ? '' : 's'} will be received again in ${queue.model.visibilityTimeoutMs / 1000} s${redrive}`);
    }
    this.options.onBatch?.(kept.length, failed.size, Date.now() - started);
  }

  private deleteAll(records: readonly SQSRecord[]): void {
    for (const record of records) {
      try {
        this.options.queue.delete(record.receiptHandle);
      } catch (error) {
        // A FIFO queue refuses a handle whose visibility timeout is over: the function took longer than it.
        this.options.log(`${this.options.queue.model.logicalId}: could not delete message ${record.messageId}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }

  /** A message as Lambda hands it over. */
  private record(message: ReceivedMessage): SQSRecord {
    return {
      messageId: message.messageId,
      receiptHandle: message.receiptHandle,
      body: message.body,
      attributes: message.attributes,
      messageAttributes: {},
      md5OfBody: message.md5OfBody,
      eventSource: 'aws:sqs',
      eventSourceARN: this.options.queue.arn,
      awsRegion: this.options.region,
    };
  }
}

/**
 * The messages a function reported failed. Lambda reads no failures from an empty or
 * null answer or list, and fails the whole batch for an answer it cannot read: a list
 * that is not one, an item without an itemIdentifier, or one naming no message of the batch.
 */
function reportedFailures(result: unknown, records: readonly SQSRecord[]): { failed: ReadonlySet<string>; unreadable?: string } {
  const all = new Set(records.map((record) => record.messageId));
  if (result === null || result === undefined) return { failed: new Set() };
  if (typeof result !== 'object' || Array.isArray(result)) return { failed: all, unreadable: `${JSON.stringify(result)}, not an object` };
  const failures = 'batchItemFailures' in result ? result.batchItemFailures : undefined;
  if (failures === null || failures === undefined) return { failed: new Set() };
  if (!Array.isArray(failures)) return { failed: all, unreadable: `batchItemFailures ${JSON.stringify(failures)}, not a list` };
  const failed = new Set<string>();
  const items: readonly unknown[] = failures;
  for (const failure of items) {
    const id: unknown = failure !== null && typeof failure === 'object' && 'itemIdentifier' in failure ? failure.itemIdentifier : undefined;
    if (typeof id !== 'string' || !all.has(id)) return { failed: all, unreadable: `an item failure that names no message of the batch: ${JSON.stringify(failure)}` };
    failed.add(id);
  }
  return { failed };
}

/** What filter patterns match against: the record, with a JSON body as its value. */
function filterable(record: SQSRecord): unknown {
  try {
    return { ...record, body: JSON.parse(record.body) as unknown };
  } catch {
    return record;
  }
}
