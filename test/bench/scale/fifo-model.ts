import type { SQSBatchItemFailure } from 'aws-lambda';
import { deduplicationId, encodeSegment, messageGroupId, type SegmentMessage, type SegmentQueue } from '../../../shared/fanout/segment-queue';
import type { SegmentRecord } from '../../../shared/fanout/worker';
import { epochMs } from './model-api';

/**
 * An in-process model of the delivery queue (SQS FIFO) and of the Lambda event source
 * mapping that feeds the delivery workers, with the rules that shape fan-out's timing:
 * - SendMessageBatch takes at most 10 messages, and SqsSegmentQueue sends 16 at once;
 *   messages deduplicate on their deduplication id (scoped to their group);
 * - a message group is locked while any of its messages is in flight, so a group's
 *   messages are handed out one batch at a time, in order;
 * - a receive takes as many messages of one group as it can (the group whose oldest
 *   message is oldest), then, with `fill`, fills the batch from other unlocked groups
 *   ("as many messages with the same message group ID as possible", and "may also return
 *   messages from other available message groups": SQS developer guide and re:Post);
 *   with `group`, one group per batch;
 * - at most `maxConcurrency` batches in flight (the mapping's maximum concurrency), each
 *   handed to a worker of its own; one poller per worker slot, always long-polling, so a
 *   message is received as soon as it is visible and a slot is free;
 * - each SQS call (SendMessageBatch, ReceiveMessage, DeleteMessageBatch) takes `apiMs`;
 * - messages a worker reports in batchItemFailures go back to the head of their group
 *   (no visibility timeout is waited out: the model counts them instead).
 */
export interface FifoModelOptions {
  readonly batchSize: number;
  readonly maxConcurrency: number;
  readonly apiMs: number;
  readonly receive: 'fill' | 'group';
}

interface QueuedMessage {
  readonly seq: number;
  readonly record: SegmentRecord;
  readonly bytes: number;
  readonly visibleAt: number;
}

interface Group {
  readonly messages: QueuedMessage[];
  locked: boolean;
}

/** One modelled invocation of the delivery worker. */
export interface Invocation {
  readonly worker: number;
  readonly startedAt: number;
  readonly durationMs: number;
  readonly messages: number;
  readonly groups: number;
}

export interface FifoCounts {
  sendCalls: number;
  /** SQS bills a request per 64 KB of payload. */
  sendChunks: number;
  receiveCalls: number;
  /** Receives billed: one request per 64 KB of messages returned. */
  receiveChunks: number;
  deleteCalls: number;
  messagesSent: number;
  deduplicated: number;
  redriven: number;
  /** From visible to received: time a message waited for a free worker or its group. */
  waitMsTotal: number;
  waitMsMax: number;
  firstReceivedAt: number | undefined;
}

export type WorkerInvoke = (worker: number, records: readonly SegmentRecord[]) => Promise<{ readonly batchItemFailures: SQSBatchItemFailure[] }>;

const SEND_BATCH = 10;
const SEND_CONCURRENCY = 16;
const sleep = (ms: number) => (ms > 0 ? new Promise<void>((resolve) => setTimeout(resolve, ms)) : Promise.resolve());

export class FifoModel implements SegmentQueue {
  counts: FifoCounts = FifoModel.zero();
  invocations: Invocation[] = [];
  private readonly groups = new Map<string, Group>();
  private readonly seen = new Set<string>();
  private seq = 0;
  private inFlight = 0;
  private waiters: (() => void)[] = [];
  private stopped = false;
  private readonly pollers: Promise<void>[] = [];
  private failure: Error | undefined;

  constructor(
    private readonly options: FifoModelOptions,
    private readonly invoke: WorkerInvoke,
  ) {}

  private static zero(): FifoCounts {
    return { sendCalls: 0, sendChunks: 0, receiveCalls: 0, receiveChunks: 0, deleteCalls: 0, messagesSent: 0, deduplicated: 0, redriven: 0, waitMsTotal: 0, waitMsMax: 0, firstReceivedAt: undefined };
  }

  /** Starts the pollers: one per worker slot. */
  start(): void {
    for (let worker = 0; worker < this.options.maxConcurrency; worker++) this.pollers.push(this.poll(worker));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    await Promise.all(this.pollers);
  }

  /** Zeroes the counts between runs (the queue must be drained). */
  resetCounts(): void {
    this.counts = FifoModel.zero();
    this.invocations = [];
  }

  /** SegmentQueue: what the stream consumer calls. Batches of 10, 16 calls in flight, as SqsSegmentQueue sends them. */
  async send(segments: readonly SegmentMessage[]): Promise<void> {
    const batches: SegmentMessage[][] = [];
    for (let i = 0; i < segments.length; i += SEND_BATCH) batches.push(segments.slice(i, i + SEND_BATCH));
    let next = 0;
    const lane = async () => {
      for (let batch = batches[next++]; batch; batch = batches[next++]) await this.sendBatch(batch);
    };
    await Promise.all(Array.from({ length: Math.min(SEND_CONCURRENCY, batches.length) }, lane));
  }

  /** Resolves once every message sent has been received, processed and deleted. */
  async drained(): Promise<void> {
    while (this.inFlight > 0 || [...this.groups.values()].some((group) => group.messages.length > 0)) {
      if (this.failure !== undefined) throw this.failure;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    if (this.failure !== undefined) throw this.failure;
  }

  private async sendBatch(batch: readonly SegmentMessage[]): Promise<void> {
    const bodies = batch.map(encodeSegment);
    await sleep(this.options.apiMs);
    this.counts.sendCalls++;
    this.counts.sendChunks += Math.max(1, Math.ceil(bodies.reduce((sum, body) => sum + Buffer.byteLength(body), 0) / 65_536));
    const visibleAt = epochMs();
    batch.forEach((segment, i) => {
      const groupId = messageGroupId(segment.channel, segment.group);
      const dedup = `${groupId}|${deduplicationId(segment)}`;
      if (this.seen.has(dedup)) {
        this.counts.deduplicated++;
        return;
      }
      this.seen.add(dedup);
      const body = bodies[i] ?? '';
      const message: QueuedMessage = { seq: this.seq++, record: { messageId: `m${this.seq}`, groupId, body }, bytes: Buffer.byteLength(body), visibleAt };
      const group = this.groups.get(groupId);
      if (group) group.messages.push(message);
      else this.groups.set(groupId, { messages: [message], locked: false });
      this.counts.messagesSent++;
    });
    this.wake();
  }

  /** What one ReceiveMessage returns now, its groups locked; undefined if nothing is available. */
  private take(): { messages: QueuedMessage[]; groups: Group[] } | undefined {
    const available = [...this.groups.values()].filter((group) => !group.locked && group.messages.length > 0);
    if (available.length === 0) return undefined;
    available.sort((a, b) => (a.messages[0]?.seq ?? 0) - (b.messages[0]?.seq ?? 0));
    const messages: QueuedMessage[] = [];
    const groups: Group[] = [];
    for (const group of available) {
      if (messages.length === this.options.batchSize) break;
      messages.push(...group.messages.splice(0, this.options.batchSize - messages.length));
      group.locked = true;
      groups.push(group);
      if (this.options.receive === 'group') break;
    }
    return { messages, groups };
  }

  private async poll(worker: number): Promise<void> {
    while (!this.stopped) {
      const taken = this.take();
      if (!taken) {
        await new Promise<void>((resolve) => this.waiters.push(resolve));
        continue;
      }
      this.inFlight++;
      try {
        await this.process(worker, taken.messages);
      } catch (error) {
        // The real worker never throws (it reports failures per message): this is the bench's own fault.
        this.failure = error instanceof Error ? error : new Error(String(error));
      } finally {
        for (const group of taken.groups) group.locked = false;
        this.inFlight--;
        this.wake();
      }
    }
  }

  private async process(worker: number, messages: QueuedMessage[]): Promise<void> {
    // ReceiveMessage: the messages are locked (in flight) from the moment it is answered.
    await sleep(this.options.apiMs);
    const receivedAt = epochMs();
    this.counts.receiveCalls++;
    this.counts.receiveChunks += Math.max(1, Math.ceil(messages.reduce((sum, message) => sum + message.bytes, 0) / 65_536));
    this.counts.firstReceivedAt ??= receivedAt;
    for (const message of messages) {
      const wait = receivedAt - message.visibleAt;
      this.counts.waitMsTotal += wait;
      this.counts.waitMsMax = Math.max(this.counts.waitMsMax, wait);
    }
    const started = performance.now();
    const { batchItemFailures } = await this.invoke(
      worker,
      messages.map((message) => message.record),
    );
    this.invocations.push({
      worker,
      startedAt: receivedAt,
      durationMs: performance.now() - started,
      messages: messages.length,
      groups: new Set(messages.map((message) => message.record.groupId)).size,
    });
    // The event source deletes what succeeded, in one DeleteMessageBatch; failures go back, in order.
    const failed = new Set(batchItemFailures.map((failure) => failure.itemIdentifier));
    if (failed.size < messages.length) {
      await sleep(this.options.apiMs);
      this.counts.deleteCalls++;
    }
    for (const message of messages.filter((m) => failed.has(m.record.messageId)).reverse()) {
      this.counts.redriven++;
      this.groups.get(message.record.groupId)?.messages.unshift(message);
    }
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }
}
