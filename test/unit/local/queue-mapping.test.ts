// jest's global expect types its asymmetric matchers (expect.any, …) as any; @jest/globals types them.
import { expect } from '@jest/globals';
import { createHash } from 'node:crypto';
import { SendMessageBatchCommand, SendMessageCommand, type SendMessageBatchRequestEntry } from '@aws-sdk/client-sqs';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import type { LocalFunction } from '../../../local/lambda';
import { QueueMapping } from '../../../local/queue-mapping';
import type { QueueMappingModel } from '../../../local/template';
import { queueModel, startLocalSqs, type LocalSqs } from '../../support/local-sqs';
import { until } from '../../support/until';

/**
 * The SQS event source mapping: what a delivery worker receives, and what becomes of
 * the messages it reports failed. Messages are sent through the SDK, as the fan-out does.
 */
let sqs: LocalSqs;
let mapping: QueueMapping | undefined;
const logged: string[] = [];

beforeEach(async () => {
  logged.length = 0;
  sqs = await startLocalSqs([queueModel('Queue', { visibilityTimeoutMs: 300, redrive: { deadLetterQueueId: 'Dlq', maxReceiveCount: 3 } }), queueModel('Dlq')]);
});

afterEach(async () => {
  await mapping?.stop();
  mapping = undefined;
  expect(sqs.serverErrors).toEqual([]);
  await sqs.close();
});

interface Calls {
  readonly batches: SQSRecord[][];
  /** The most invocations that ran at once. */
  peak: number;
  /** Bodies in the order the function first saw them. */
  readonly seen: string[];
  readonly outcomes: { size: number; failed: number }[];
  /** When each invocation started. */
  readonly invokedAt: number[];
}

/** Starts a mapping from the queue to a function that answers each batch with `handle`. */
function start(handle: (records: SQSRecord[], call: number) => unknown, overrides: Partial<QueueMappingModel> = {}, concurrency = 2): Calls {
  const calls: Calls = { batches: [], peak: 0, seen: [], outcomes: [], invokedAt: [] };
  let running = 0;
  const fn = {
    model: { logicalId: 'Deliver' },
    invoke: async (event: SQSEvent) => {
      calls.invokedAt.push(Date.now());
      calls.batches.push(event.Records);
      calls.seen.push(...event.Records.map((r) => r.body));
      calls.peak = Math.max(calls.peak, ++running);
      try {
        await new Promise((resolve) => setTimeout(resolve, 20));
        return handle(event.Records, calls.batches.length);
      } finally {
        running--;
      }
    },
  } as unknown as LocalFunction;
  mapping = new QueueMapping({
    model: {
      logicalId: 'Mapping',
      queueId: 'Queue',
      functionId: 'Deliver',
      batchSize: 10,
      batchingWindowMs: 0,
      reportBatchItemFailures: true,
      filterPatterns: [],
      enabled: true,
      ...overrides,
    },
    queue: sqs.queue('Queue'),
    fn,
    region: 'eu-west-1',
    concurrency,
    log: (line) => logged.push(line),
    onBatch: (size, failed) => calls.outcomes.push({ size, failed }),
  });
  mapping.start();
  return calls;
}

const entries = (group: string, from: number, count: number): SendMessageBatchRequestEntry[] =>
  Array.from({ length: count }, (_, i) => ({ Id: String(i), MessageBody: `${group}${from + i}`, MessageGroupId: group, MessageDeduplicationId: `${group}${from + i}` }));

const send = (list: SendMessageBatchRequestEntry[]) => sqs.client.send(new SendMessageBatchCommand({ QueueUrl: sqs.queue('Queue').url, Entries: list }));

const ok = () => ({ batchItemFailures: [] });

describe('SQS event source mapping', () => {
  it('hands over records shaped as Lambda sends them', async () => {
    const calls = start(ok);
    const { MessageId } = await sqs.client.send(
      new SendMessageCommand({ QueueUrl: sqs.queue('Queue').url, MessageBody: '{"hello":1}', MessageGroupId: 'user:ann#3', MessageDeduplicationId: 's1.0' }),
    );

    await until(() => calls.batches.length === 1, 'the batch');
    expect(calls.batches[0]).toEqual([
      {
        messageId: MessageId,
        receiptHandle: expect.any(String),
        body: '{"hello":1}',
        attributes: {
          ApproximateReceiveCount: '1',
          SentTimestamp: expect.stringMatching(/^\d{13}$/),
          SenderId: 'AKIDTEST',
          ApproximateFirstReceiveTimestamp: expect.stringMatching(/^\d{13}$/),
          SequenceNumber: expect.stringMatching(/^\d{20}$/),
          MessageGroupId: 'user:ann#3',
          MessageDeduplicationId: 's1.0',
        },
        messageAttributes: {},
        md5OfBody: createHash('md5').update('{"hello":1}').digest('hex'),
        eventSource: 'aws:sqs',
        eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:Test-Queue.fifo',
        awsRegion: 'eu-west-1',
      },
    ]);
  });

  it('keeps each group in order across batches of at most BatchSize, mixing groups, with at most the concurrency at once', async () => {
    const calls = start(ok, { batchSize: 4 }, 2);
    for (let i = 0; i < 5; i++) await send([...entries('a', i * 2, 2), ...entries('b', i * 2, 2), ...entries('c', i * 2, 2)].map((e, j) => ({ ...e, Id: String(j) })));

    await until(() => calls.seen.length === 30, 'every message');
    expect(calls.batches.every((batch) => batch.length <= 4)).toBe(true);
    expect(calls.batches.some((batch) => new Set(batch.map((r) => r.attributes.MessageGroupId)).size > 1)).toBe(true);
    expect(calls.peak).toBe(2);
    for (const group of ['a', 'b', 'c']) {
      expect(calls.seen.filter((body) => body.startsWith(group))).toEqual(Array.from({ length: 10 }, (_, i) => `${group}${i}`));
    }
  });

  it('deletes what the function handled, and gives back only what it reported failed, after the visibility timeout', async () => {
    // The delivery worker's way: the first failed message of a group and every later one of that group.
    const calls = start((records, call) => (call === 1 ? { batchItemFailures: records.filter((r) => r.body >= 'a1' && r.body < 'b').map((r) => ({ itemIdentifier: r.messageId })) } : ok()));
    await send([...entries('a', 0, 3), ...entries('b', 0, 2)].map((e, j) => ({ ...e, Id: String(j) })));

    await until(() => calls.outcomes.length === 2, 'the retry');
    expect(calls.batches[1]?.map((r) => [r.body, r.attributes.ApproximateReceiveCount])).toEqual([
      ['a1', '2'],
      ['a2', '2'],
    ]);
    expect(calls.outcomes).toEqual([
      { size: 5, failed: 2 },
      { size: 2, failed: 0 },
    ]);
    // Nothing left in the queue, visible or in flight: nothing can come back after a visibility timeout.
    const left = () => sqs.queue('Queue').attributes();
    await until(() => left()['ApproximateNumberOfMessages'] === '0' && left()['ApproximateNumberOfMessagesNotVisible'] === '0', 'every message to be deleted');
    expect(left()['ApproximateNumberOfMessagesDelayed']).toBe('0');
    expect(calls.batches).toHaveLength(2);
  });

  it.each([
    ['throws', () => Promise.reject(new Error('boom'))],
    ['names a message not in the batch', () => ({ batchItemFailures: [{ itemIdentifier: 'nope' }] })],
    ['gives an item failure without an identifier', () => ({ batchItemFailures: [{ id: 'x' }] })],
    ['answers with something that is not an object', () => 'done'],
  ])('receives the whole batch again when the function %s', async (_, failure: () => unknown) => {
    const calls = start((_records, call) => (call === 1 ? failure() : ok()));
    await send(entries('a', 0, 2));

    await until(() => calls.batches.length === 2, 'the retry');
    expect(calls.batches[1]?.map((r) => r.body)).toEqual(['a0', 'a1']);
    expect(logged).toEqual(expect.arrayContaining([expect.stringMatching(/failed on a batch of 2 messages: boom|Lambda fails the whole batch/)]));
  });

  it('takes no failures from an empty answer', async () => {
    const calls = start(() => null);
    await send(entries('a', 0, 2));

    await until(() => calls.outcomes.length === 1, 'the batch');
    expect(calls.outcomes).toEqual([{ size: 2, failed: 0 }]);
  });

  it('moves a message to the DLQ after maxReceiveCount receives, and lets its group go on', async () => {
    // One message a batch: a later message of the group, taken in a batch with it and reported failed too, would be received as often.
    const calls = start((records) => ({ batchItemFailures: records.filter((r) => r.body === 'a0').map((r) => ({ itemIdentifier: r.messageId })) }), { batchSize: 1 });
    await send(entries('a', 0, 1));
    await send(entries('a', 1, 1));

    await until(() => calls.seen.includes('a1'), 'the message after the dead letter');
    expect(calls.seen).toEqual(['a0', 'a0', 'a0', 'a1']);
    expect(sqs.deadLetters).toEqual([{ from: 'Queue', to: 'Dlq', message: expect.objectContaining({ body: 'a0', attributes: expect.objectContaining({ ApproximateReceiveCount: '3' }) }) }]);
  });

  it('waits out the batching window for a fuller batch', async () => {
    const calls = start(ok, { batchingWindowMs: 150 });
    // When each send was answered: one answered within 150 ms of the first send's start was in the
    // queue before the window (opened once the first was receivable) closed. Read so, the test holds
    // however slowly a loaded machine sends.
    const sentAt: number[] = [];
    const firstSent = Date.now();
    for (let i = 0; i < 3; i++) {
      await send(entries(`g${i}`, 0, 1));
      sentAt.push(Date.now());
    }

    await until(() => calls.batches.length > 0, 'the batch');
    const invokedAt = calls.invokedAt[0] ?? 0;
    expect(invokedAt - firstSent).toBeGreaterThanOrEqual(150);
    expect(calls.batches[0]?.length).toBeGreaterThanOrEqual(sentAt.filter((at) => at <= firstSent + 150).length);
  });

  it('hands a message to the function as it is sent: the queue wakes it, nothing polls', async () => {
    const calls = start(ok);
    for (let i = 0; i < 3; i++) {
      // Idle first: no invocation under way whose end could take the message.
      await until(() => calls.outcomes.length === i, `batch ${i - 1} handled`);
      sqs.queue('Queue').send({ body: `g${i}`, groupId: `g${i}`, deduplicationId: `g${i}`, senderId: 'AKIDTEST' });
      // Microtasks only: no timer and no I/O can run in between, so a mapping that polled would not be here yet.
      for (let tick = 0; tick < 5; tick++) await Promise.resolve();
      expect(calls.seen).toEqual(Array.from({ length: i + 1 }, (_, n) => `g${n}`));
    }
  });
});
