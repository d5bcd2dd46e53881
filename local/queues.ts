import { createHash, randomUUID } from 'node:crypto';
import {
  BatchEntryIdsNotDistinct$,
  BatchRequestTooLong$,
  EmptyBatchRequest$,
  InvalidBatchEntryId$,
  InvalidMessageContents$,
  QueueDoesNotExist$,
  ReceiptHandleIsInvalid$,
  TooManyEntriesInBatchRequest$,
  UnsupportedOperation$,
} from '@aws-sdk/client-sqs';
import { NormalizedSchema } from '@smithy/core/schema';
import type { StaticErrorSchema } from '@smithy/types';
import type { SQSRecordAttributes } from 'aws-lambda';
import { at, type Alarm } from './clock';
import { LocalStackError } from './errors';
import type { QueueModel } from './template';

/**
 * SQS, in memory, with the semantics the fan-out relies on: FIFO queues keep each
 * message group in order and hand out none of a group's messages while some of them
 * are in flight; deduplication ids hide a repeated send for five minutes (within the
 * message group or the queue, as the queue's DeduplicationScope says); a message
 * received `maxReceiveCount` times and never deleted moves to the dead-letter queue
 * at its next receive. Anyone waiting for messages (the event source mappings, a long
 * poll) is woken as soon as one can be received: on a send, a delete, the end of a
 * visibility timeout or of a delay. Messages live as long as the stack does.
 */

/** One message as a sender gives it to SendMessage (or one entry of SendMessageBatch). */
export interface OutgoingMessage {
  readonly body: string;
  readonly groupId?: string;
  readonly deduplicationId?: string;
  readonly delaySeconds?: number;
  /** Who sent it: the access key id of the request's signature. */
  readonly senderId: string;
}

export interface SentMessage {
  readonly messageId: string;
  readonly md5OfBody: string;
  readonly sequenceNumber?: string;
}

/** A message's system attributes once received, named as ReceiveMessage and Lambda's SQS records name them. */
export type SystemAttributes = Omit<SQSRecordAttributes, 'AWSTraceHeader'>;

/** A message as one receive hands it out, with that receive's receipt handle. */
export interface ReceivedMessage {
  readonly messageId: string;
  readonly receiptHandle: string;
  readonly body: string;
  readonly md5OfBody: string;
  readonly attributes: SystemAttributes;
}

/** A message a queue gave up on, as it was when it left. */
export type DeadLetter = Omit<ReceivedMessage, 'receiptHandle'>;

/** What a message keeps when it moves to a dead-letter queue. */
interface Content {
  readonly id: string;
  readonly body: string;
  readonly md5OfBody: string;
  readonly groupId?: string;
  readonly deduplicationId?: string;
  readonly sentTimestamp: number;
  readonly senderId: string;
  readonly deadLetterSourceArn?: string;
}

interface Message extends Content {
  readonly sequenceNumber?: string;
  receiveCount: number;
  firstReceiveTimestamp?: number;
  /** Until then no receive returns it: the end of a delay, or of the visibility timeout of the receive that has it. */
  invisibleUntil: number;
}

/** SQS's own numbers. */
const DEDUPLICATION_MS = 5 * 60 * 1000;
const MAX_DELAY_SECONDS = 900;
const MAX_BATCH_ENTRIES = 10;
/** Message group and deduplication ids: up to 128 alphanumeric or punctuation characters. */
const ID_PATTERN = /^[\w!"#$%&'()*+,\-./:;<=>?@[\\\]^`{|}~]{1,128}$/;
const BATCH_ENTRY_ID = /^[\w-]{1,80}$/;
/** What XML 1.0 allows, which is what SQS allows in a body. */
const FORBIDDEN_CHARACTER = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

/**
 * An error as SQS answers it. Modelled errors take their `__type`, their code for
 * query-compatible clients (`x-amzn-query-error`) and their HTTP status from the SDK's
 * own schema of the error, so that the SDK raises exactly the exception it raises on AWS.
 */
export class SqsError extends Error {
  override readonly name = 'SqsError';

  private constructor(
    /** `__type`, a shape id: `com.amazonaws.sqs#QueueDoesNotExist`. */
    readonly type: string,
    /** The code of the `x-amzn-query-error` header, and of a failed batch entry. */
    readonly code: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
  }

  static of(schema: StaticErrorSchema, message: string): SqsError {
    const error = NormalizedSchema.of(schema);
    const name = error.getName() ?? 'Error';
    // `[code, status]`, where the model gives one; else the error's name, and 400 for a client error.
    const trait: unknown = error.getMergedTraits()['awsQueryError'];
    const [code, status] = Array.isArray(trait) && typeof trait[0] === 'string' && typeof trait[1] === 'number' ? [trait[0], trait[1]] : [name, 400];
    return new SqsError(error.getName(true) ?? name, code, status, message);
  }

  /** Errors SQS answers that its Smithy model leaves out: MissingParameter, InvalidParameterValue. */
  static unmodelled(code: 'MissingParameter' | 'InvalidParameterValue', message: string): SqsError {
    return new SqsError(`com.amazonaws.sqs#${code}`, code, 400, message);
  }
}

export const sqsErrors = {
  missing: (parameter: string) => SqsError.unmodelled('MissingParameter', `The request must contain the parameter ${parameter}.`),
  invalid: (parameter: string, value: unknown, reason: string) =>
    SqsError.unmodelled('InvalidParameterValue', `Value ${JSON.stringify(value)} for parameter ${parameter} is invalid. Reason: ${reason}`),
  noQueue: () => SqsError.of(QueueDoesNotExist$, 'The specified queue does not exist.'),
  unsupported: (operation: string) => SqsError.of(UnsupportedOperation$, `${operation} is not emulated by the local stack`),
  badHandle: (handle: string) => SqsError.of(ReceiptHandleIsInvalid$, `The input receipt handle "${handle}" is not a valid receipt handle.`),
  emptyBatch: () => SqsError.of(EmptyBatchRequest$, 'There should be at least one SendMessageBatchRequestEntry in the request.'),
  tooManyEntries: (count: number) => SqsError.of(TooManyEntriesInBatchRequest$, `Maximum number of entries per request are ${MAX_BATCH_ENTRIES}. You have sent ${count}.`),
  repeatedId: (id: string) => SqsError.of(BatchEntryIdsNotDistinct$, `Id ${id} repeated.`),
  badEntryId: () =>
    SqsError.of(InvalidBatchEntryId$, 'A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.'),
  batchTooLong: (limit: number, bytes: number) => SqsError.of(BatchRequestTooLong$, `Batch requests cannot be longer than ${limit} bytes. You have sent ${bytes} bytes.`),
};

/** Checks a SendMessageBatch's entries as a whole: count, ids and total size. */
export function checkBatch(entries: readonly { readonly id: string; readonly body: string }[], maxBytes: number): void {
  if (entries.length === 0) throw sqsErrors.emptyBatch();
  if (entries.length > MAX_BATCH_ENTRIES) throw sqsErrors.tooManyEntries(entries.length);
  const ids = new Set<string>();
  for (const { id } of entries) {
    if (!BATCH_ENTRY_ID.test(id)) throw sqsErrors.badEntryId();
    if (ids.has(id)) throw sqsErrors.repeatedId(id);
    ids.add(id);
  }
  const bytes = entries.reduce((sum, entry) => sum + Buffer.byteLength(entry.body), 0);
  if (bytes > maxBytes) throw sqsErrors.batchTooLong(maxBytes, bytes);
}

export interface LocalQueueOptions {
  readonly region: string;
  /** The stack's HTTP base: queue URLs are `<baseUrl>/000000000000/<name>`. */
  readonly baseUrl: string;
  /** Told of every message the queue gave up on, once it is in the dead-letter queue. */
  readonly onDeadLetter?: (message: DeadLetter, from: LocalQueue, to: LocalQueue) => void;
}

export class LocalQueue {
  readonly arn: string;
  readonly url: string;
  /**
   * Messages by group, each group in send order (a standard queue has one group).
   * In a FIFO group, the messages in flight always come first: a receive takes a
   * group's messages from its head and stops at the first it cannot take, and the
   * messages one receive took become visible again together.
   */
  private readonly groups = new Map<string, Map<string, Message>>();
  private readonly byId = new Map<string, Message>();
  /** Deduplication ids seen in the last five minutes, oldest first. */
  private readonly seen = new Map<string, { readonly sent: SentMessage; readonly until: number }>();
  private sequence = 18_000_000_000_000_000_000n;
  private deadLetter?: { readonly queue: LocalQueue; readonly maxReceiveCount: number };
  private readonly listeners = new Set<() => void>();
  private readonly alarms = new Set<Alarm>();
  private notifying = false;

  constructor(
    readonly model: QueueModel,
    private readonly options: LocalQueueOptions,
  ) {
    this.arn = `arn:aws:sqs:${options.region}:000000000000:${model.name}`;
    this.url = `${options.baseUrl}/000000000000/${model.name}`;
  }

  get name(): string {
    return this.model.name;
  }

  /** Messages in the queue, in flight or not. */
  get size(): number {
    return this.byId.size;
  }

  /** Links the redrive policy's target; SQS refuses a dead-letter queue of the other type. */
  redriveTo(queue: LocalQueue, maxReceiveCount: number): void {
    if (queue.model.fifo !== this.model.fifo) {
      throw new LocalStackError(`queue ${this.model.logicalId}: its dead-letter queue ${queue.model.logicalId} must be ${this.model.fifo ? 'a FIFO' : 'a standard'} queue too`);
    }
    this.deadLetter = { queue, maxReceiveCount };
  }

  send(message: OutgoingMessage, now = Date.now()): SentMessage {
    const { fifo, contentBasedDeduplication, deduplicationScope, maxMessageBytes } = this.model;
    this.checkBody(message.body);
    if (message.delaySeconds !== undefined && (!Number.isInteger(message.delaySeconds) || message.delaySeconds < 0 || message.delaySeconds > MAX_DELAY_SECONDS)) {
      throw sqsErrors.invalid('DelaySeconds', message.delaySeconds, `must be between 0 and ${MAX_DELAY_SECONDS}, if provided.`);
    }
    if (Buffer.byteLength(message.body) > maxMessageBytes) {
      throw SqsError.unmodelled('InvalidParameterValue', `One or more parameters are invalid. Reason: Message must be shorter than ${maxMessageBytes} bytes.`);
    }
    for (const [parameter, value] of [
      ['MessageGroupId', message.groupId],
      ['MessageDeduplicationId', message.deduplicationId],
    ] as const) {
      if (value !== undefined && !ID_PATTERN.test(value)) throw sqsErrors.invalid(parameter, value, `${parameter} can only include alphanumeric and punctuation characters. 1 to 128 in length.`);
    }
    let deduplicationId = message.deduplicationId;
    if (fifo) {
      if (message.groupId === undefined) throw sqsErrors.missing('MessageGroupId');
      if (message.delaySeconds !== undefined) throw sqsErrors.invalid('DelaySeconds', message.delaySeconds, 'The request include parameter that is not valid for this queue type.');
      if (deduplicationId === undefined && !contentBasedDeduplication) {
        throw SqsError.unmodelled('InvalidParameterValue', 'The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly');
      }
      deduplicationId ??= createHash('sha256').update(message.body).digest('hex');
    } else if (deduplicationId !== undefined) {
      throw sqsErrors.invalid('MessageDeduplicationId', deduplicationId, 'The request include parameter that is not valid for this queue type.');
    }

    this.forgetDeduplicationIdsBefore(now);
    const deduplicationKey = deduplicationId === undefined ? undefined : deduplicationScope === 'messageGroup' ? `${message.groupId ?? ''}\0${deduplicationId}` : deduplicationId;
    const duplicate = deduplicationKey === undefined ? undefined : this.seen.get(deduplicationKey);
    // Accepted and not queued again: the sender learns the first message's id, and the MD5 of the body it sent (which the SDK checks).
    if (duplicate) return { ...duplicate.sent, md5OfBody: md5(message.body) };

    const delayMs = message.delaySeconds === undefined ? this.model.delayMs : message.delaySeconds * 1000;
    const queued = this.enqueue(
      {
        id: randomUUID(),
        body: message.body,
        md5OfBody: md5(message.body),
        ...(message.groupId === undefined ? {} : { groupId: message.groupId }),
        ...(deduplicationId === undefined ? {} : { deduplicationId }),
        sentTimestamp: now,
        senderId: message.senderId,
      },
      now + delayMs,
    );
    const sent: SentMessage = { messageId: queued.id, md5OfBody: queued.md5OfBody, ...(queued.sequenceNumber ? { sequenceNumber: queued.sequenceNumber } : {}) };
    if (deduplicationKey !== undefined) this.seen.set(deduplicationKey, { sent, until: now + DEDUPLICATION_MS });
    if (delayMs > 0) this.wakeAt(now + delayMs);
    this.notify();
    return sent;
  }

  /**
   * Up to `max` messages, in flight from now on for `visibilityTimeoutMs`. A FIFO queue
   * takes the oldest groups first and as many of a group's messages as it can, and
   * skips a group while any of its messages is in flight.
   */
  receive(max: number, visibilityTimeoutMs = this.model.visibilityTimeoutMs, now = Date.now()): ReceivedMessage[] {
    const received: ReceivedMessage[] = [];
    for (const message of this.receivable(now)) {
      if (received.length >= max) break;
      if (this.deadLetter && message.receiveCount >= this.deadLetter.maxReceiveCount) {
        this.moveToDeadLetter(message, this.deadLetter.queue, now);
        continue;
      }
      message.receiveCount++;
      message.firstReceiveTimestamp ??= now;
      message.invisibleUntil = now + visibilityTimeoutMs;
      received.push({
        messageId: message.id,
        receiptHandle: Buffer.from(`${this.model.name}\n${message.id}\n${message.receiveCount}`).toString('base64url'),
        body: message.body,
        md5OfBody: message.md5OfBody,
        attributes: systemAttributes(message, message.firstReceiveTimestamp),
      });
    }
    if (received.length > 0) this.wakeAt(now + visibilityTimeoutMs);
    return received;
  }

  /** How many messages a receive would return now, counting up to `limit`. */
  countReceivable(limit: number, now = Date.now()): number {
    const candidates = this.receivable(now);
    let count = 0;
    while (count < limit && candidates.next().done !== true) count++;
    return count;
  }

  /**
   * Deletes the message that `receiptHandle` was handed out with. A handle from an
   * earlier receive, or one whose visibility timeout is over, deletes nothing: a FIFO
   * queue says so, a standard queue does not.
   */
  delete(receiptHandle: string, now = Date.now()): void {
    const handle = parseHandle(receiptHandle);
    if (handle?.queue !== this.model.name) throw sqsErrors.badHandle(receiptHandle);
    const message = this.byId.get(handle.messageId);
    // Deleted already (by an earlier call, or moved to the dead-letter queue): nothing to do, as on SQS.
    if (!message) return;
    const current = handle.receive === message.receiveCount && message.invisibleUntil > now;
    if (!current && this.model.fifo) throw sqsErrors.invalid('ReceiptHandle', receiptHandle, 'The receipt handle has expired.');
    if (handle.receive !== message.receiveCount) return;
    this.remove(message);
    this.notify();
  }

  /** The queue's attributes, as GetQueueAttributes names them. */
  attributes(now = Date.now()): Record<string, string> {
    let visible = 0;
    let inFlight = 0;
    let delayed = 0;
    for (const message of this.byId.values()) {
      if (message.invisibleUntil <= now) visible++;
      else if (message.receiveCount > 0) inFlight++;
      else delayed++;
    }
    const { model } = this;
    return {
      QueueArn: this.arn,
      ApproximateNumberOfMessages: String(visible),
      ApproximateNumberOfMessagesNotVisible: String(inFlight),
      ApproximateNumberOfMessagesDelayed: String(delayed),
      VisibilityTimeout: String(model.visibilityTimeoutMs / 1000),
      DelaySeconds: String(model.delayMs / 1000),
      MaximumMessageSize: String(model.maxMessageBytes),
      ...(model.fifo
        ? { FifoQueue: 'true', ContentBasedDeduplication: String(model.contentBasedDeduplication), DeduplicationScope: model.deduplicationScope }
        : {}),
      ...(this.deadLetter ? { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: this.deadLetter.queue.arn, maxReceiveCount: this.deadLetter.maxReceiveCount }) } : {}),
    };
  }

  /** Calls `listener` whenever a message may have become receivable. Returns the unsubscribe. */
  onReceivable(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Settles at the next change that may make a message receivable, or after `ms`. */
  changed(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        unsubscribe();
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      const unsubscribe = this.onReceivable(done);
      signal?.addEventListener('abort', done);
      if (signal?.aborted) done();
    });
  }

  close(): void {
    for (const alarm of this.alarms) alarm.cancel();
    this.alarms.clear();
    this.listeners.clear();
  }

  /**
   * The messages a receive may take now, in the order it takes them. A FIFO group's
   * stop at its first message in flight or delayed: the ones after it wait for it.
   */
  private *receivable(now: number): Generator<Message> {
    for (const group of this.groups.values()) {
      for (const message of group.values()) {
        if (message.invisibleUntil <= now) yield message;
        else if (this.model.fifo) break;
      }
    }
  }

  /** A message another queue gave up on, as its redrive policy says: same id, body and group, never received here. */
  private acceptDeadLetter(content: Content, now: number): void {
    this.enqueue(content, now);
    this.notify();
  }

  private enqueue(content: Content, visibleAt: number): Message {
    const queued: Message = {
      ...content,
      ...(this.model.fifo ? { sequenceNumber: String((this.sequence += 1n)) } : {}),
      receiveCount: 0,
      invisibleUntil: visibleAt,
    };
    const key = this.model.fifo ? (queued.groupId ?? '') : '';
    let group = this.groups.get(key);
    if (!group) this.groups.set(key, (group = new Map<string, Message>()));
    group.set(queued.id, queued);
    this.byId.set(queued.id, queued);
    return queued;
  }

  private moveToDeadLetter(message: Message, target: LocalQueue, now: number): void {
    this.remove(message);
    const { id, body, md5OfBody, groupId, deduplicationId, sentTimestamp, senderId } = message;
    const content: Content = {
      id,
      body,
      md5OfBody,
      ...(groupId === undefined ? {} : { groupId }),
      ...(deduplicationId === undefined ? {} : { deduplicationId }),
      sentTimestamp,
      senderId,
      deadLetterSourceArn: this.arn,
    };
    target.acceptDeadLetter(content, now);
    this.options.onDeadLetter?.(
      { messageId: id, body, md5OfBody, attributes: { ...systemAttributes(message, message.firstReceiveTimestamp ?? now), DeadLetterQueueSourceArn: this.arn } },
      this,
      target,
    );
  }

  private remove(message: Message): void {
    this.byId.delete(message.id);
    const key = this.model.fifo ? (message.groupId ?? '') : '';
    const group = this.groups.get(key);
    group?.delete(message.id);
    if (group?.size === 0) this.groups.delete(key);
  }

  private checkBody(body: string): void {
    if (body.length === 0) throw sqsErrors.missing('MessageBody');
    const forbidden = FORBIDDEN_CHARACTER.exec(body)?.[0];
    if (forbidden !== undefined) {
      throw SqsError.of(
        InvalidMessageContents$,
        `Invalid binary character '#x${(forbidden.codePointAt(0) ?? 0).toString(16).toUpperCase()}' was found in the message body, the set of allowed characters is #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF`,
      );
    }
  }

  private forgetDeduplicationIdsBefore(now: number): void {
    for (const [key, { until }] of this.seen) {
      if (until > now) break;
      this.seen.delete(key);
    }
  }

  /** Wakes the listeners once, after whatever else the current request does (a batch's other entries). */
  private notify(): void {
    if (this.notifying) return;
    this.notifying = true;
    queueMicrotask(() => {
      this.notifying = false;
      for (const listener of [...this.listeners]) listener();
    });
  }

  /**
   * Wakes the listeners once the clock reaches `time`, when a message becomes receivable: the end
   * of a delay or a visibility timeout. Not a moment sooner, or a listener would find nothing to
   * receive, wait for the next wake, and strand the message until some other send came (see at()).
   */
  private wakeAt(time: number): void {
    const alarm = at(time, () => {
      this.alarms.delete(alarm);
      this.notify();
    });
    this.alarms.add(alarm);
  }
}

/** Every queue of the template, found by URL, name or ARN, with their redrive policies linked. */
export class LocalQueues {
  private readonly byLogicalId = new Map<string, LocalQueue>();

  constructor(models: Iterable<QueueModel>, options: LocalQueueOptions) {
    for (const model of models) this.byLogicalId.set(model.logicalId, new LocalQueue(model, options));
    for (const queue of this.byLogicalId.values()) {
      const redrive = queue.model.redrive;
      if (redrive) queue.redriveTo(this.get(redrive.deadLetterQueueId), redrive.maxReceiveCount);
    }
  }

  get size(): number {
    return this.byLogicalId.size;
  }

  all(): LocalQueue[] {
    return [...this.byLogicalId.values()];
  }

  get(logicalId: string): LocalQueue {
    const queue = this.byLogicalId.get(logicalId);
    if (!queue) throw new LocalStackError(`queue ${logicalId} is not in the template`);
    return queue;
  }

  /** The queue a request's QueueUrl names: its path, whatever host the client wrote. */
  byUrl(queueUrl: string): LocalQueue {
    let pathname: string;
    try {
      pathname = new URL(queueUrl).pathname;
    } catch {
      throw sqsErrors.noQueue();
    }
    const queue = [...this.byLogicalId.values()].find((q) => pathname === `/000000000000/${q.name}`);
    if (!queue) throw sqsErrors.noQueue();
    return queue;
  }

  byName(name: string): LocalQueue {
    const queue = [...this.byLogicalId.values()].find((q) => q.name === name);
    if (!queue) throw sqsErrors.noQueue();
    return queue;
  }

  close(): void {
    for (const queue of this.byLogicalId.values()) queue.close();
  }
}

function systemAttributes(message: Message, firstReceiveTimestamp: number): SystemAttributes {
  return {
    SenderId: message.senderId,
    SentTimestamp: String(message.sentTimestamp),
    ApproximateReceiveCount: String(message.receiveCount),
    ApproximateFirstReceiveTimestamp: String(firstReceiveTimestamp),
    ...(message.sequenceNumber === undefined ? {} : { SequenceNumber: message.sequenceNumber }),
    ...(message.groupId === undefined ? {} : { MessageGroupId: message.groupId }),
    ...(message.deduplicationId === undefined ? {} : { MessageDeduplicationId: message.deduplicationId }),
    ...(message.deadLetterSourceArn === undefined ? {} : { DeadLetterQueueSourceArn: message.deadLetterSourceArn }),
  };
}

function parseHandle(handle: string): { queue: string; messageId: string; receive: number } | undefined {
  const [queue, messageId, receive, ...rest] = Buffer.from(handle, 'base64url').toString('utf8').split('\n');
  if (queue === undefined || messageId === undefined || receive === undefined || rest.length > 0 || !/^\d+$/.test(receive)) return undefined;
  return { queue, messageId, receive: Number(receive) };
}

export const md5 = (text: string): string => createHash('md5').update(text, 'utf8').digest('hex');
