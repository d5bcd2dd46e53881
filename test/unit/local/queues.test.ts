// jest's global expect types its asymmetric matchers (expect.any, …) as any; @jest/globals types them.
import { expect } from '@jest/globals';
import {
  BatchEntryIdsNotDistinct,
  DeleteMessageCommand,
  EmptyBatchRequest,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  QueueDoesNotExist,
  ReceiptHandleIsInvalid,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  TooManyEntriesInBatchRequest,
  type Message,
} from '@aws-sdk/client-sqs';
import { queueModel, startLocalSqs, type LocalSqs } from '../../support/local-sqs';
import { until } from '../../support/until';

/** The local SQS, as a sender and a receiver meet it: through the SDK's own client. */
let sqs: LocalSqs;
let fifo: string;
let byQueue: string;
let standard: string;
let dlq: string;
let brief: string;

beforeEach(async () => {
  sqs = await startLocalSqs([
    queueModel('Fifo', { redrive: { deadLetterQueueId: 'Dlq', maxReceiveCount: 2 } }),
    // A visibility timeout short enough to watch run out; every other test keeps what it receives in flight, however slow the machine.
    queueModel('Brief', { visibilityTimeoutMs: 200, redrive: { deadLetterQueueId: 'Dlq', maxReceiveCount: 2 } }),
    queueModel('Dlq'),
    queueModel('ByQueue', { deduplicationScope: 'queue', contentBasedDeduplication: true }),
    queueModel('Standard', { fifo: false }),
  ]);
  [fifo, dlq, byQueue, standard, brief] = ['Fifo', 'Dlq', 'ByQueue', 'Standard', 'Brief'].map((id) => sqs.queue(id).url) as [string, string, string, string, string];
});

afterEach(async () => {
  expect(sqs.serverErrors).toEqual([]);
  await sqs.close();
});

const entry = (id: string, group: string, body = `${group}-${id}`) => ({ Id: id, MessageBody: body, MessageGroupId: group, MessageDeduplicationId: `${group}-${id}` });

async function receive(queueUrl: string, max = 10): Promise<Message[]> {
  const { Messages = [] } = await sqs.client.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: max, MessageSystemAttributeNames: ['All'] }));
  return Messages;
}

const bodies = (messages: readonly Message[]) => messages.map((m) => m.Body);

describe('sending', () => {
  it('takes a batch and answers each entry with its id, the MD5 the SDK checks, and a rising sequence number', async () => {
    const { Successful = [], Failed = [] } = await sqs.client.send(
      new SendMessageBatchCommand({ QueueUrl: fifo, Entries: [entry('0', 'a'), entry('1', 'b', 'ünïcode ✓')] }),
    );

    expect(Failed).toEqual([]);
    expect(Successful).toEqual([
      { Id: '0', MessageId: expect.stringMatching(/^[0-9a-f-]{36}$/), MD5OfMessageBody: expect.any(String), SequenceNumber: expect.stringMatching(/^\d{20}$/) },
      { Id: '1', MessageId: expect.any(String), MD5OfMessageBody: expect.any(String), SequenceNumber: expect.any(String) },
    ]);
    expect(BigInt(Successful[1]?.SequenceNumber ?? 0)).toBeGreaterThan(BigInt(Successful[0]?.SequenceNumber ?? 0));
  });

  it('answers a duplicate within its message group with the first message, and queues it once', async () => {
    const first = await sqs.client.send(new SendMessageCommand({ QueueUrl: fifo, MessageBody: 'one', MessageGroupId: 'g', MessageDeduplicationId: 'd' }));
    const again = await sqs.client.send(new SendMessageCommand({ QueueUrl: fifo, MessageBody: 'one again', MessageGroupId: 'g', MessageDeduplicationId: 'd' }));
    const otherGroup = await sqs.client.send(new SendMessageCommand({ QueueUrl: fifo, MessageBody: 'two', MessageGroupId: 'h', MessageDeduplicationId: 'd' }));

    expect(again.MessageId).toBe(first.MessageId);
    expect(otherGroup.MessageId).not.toBe(first.MessageId);
    expect(bodies(await receive(fifo))).toEqual(['one', 'two']);
  });

  it('deduplicates across groups when the scope is the queue, by content when the queue says so', async () => {
    await sqs.client.send(new SendMessageCommand({ QueueUrl: byQueue, MessageBody: 'same', MessageGroupId: 'g' }));
    await sqs.client.send(new SendMessageCommand({ QueueUrl: byQueue, MessageBody: 'same', MessageGroupId: 'h' }));
    await sqs.client.send(new SendMessageCommand({ QueueUrl: byQueue, MessageBody: 'other', MessageGroupId: 'h' }));

    expect(bodies(await receive(byQueue))).toEqual(['same', 'other']);
  });

  it('fails the entries SQS refuses, with their code, and takes the rest', async () => {
    const { Successful = [], Failed = [] } = await sqs.client.send(
      new SendMessageBatchCommand({
        QueueUrl: fifo,
        Entries: [
          { Id: 'nogroup', MessageBody: 'x', MessageDeduplicationId: 'x' },
          { Id: 'nodedup', MessageBody: 'y', MessageGroupId: 'g' },
          { Id: 'control', MessageBody: 'bell \u0007', MessageGroupId: 'g', MessageDeduplicationId: 'z' },
          entry('ok', 'g'),
        ],
      }),
    );

    expect(Successful.map((s) => s.Id)).toEqual(['ok']);
    expect(Failed).toEqual([
      { Id: 'nogroup', SenderFault: true, Code: 'MissingParameter', Message: 'The request must contain the parameter MessageGroupId.' },
      { Id: 'nodedup', SenderFault: true, Code: 'InvalidParameterValue', Message: expect.stringContaining('ContentBasedDeduplication') },
      { Id: 'control', SenderFault: true, Code: 'InvalidMessageContents', Message: expect.stringContaining("'#x7'") },
    ]);
  });

  it('refuses bad requests with the exceptions the SDK raises on AWS', async () => {
    const send = (input: Partial<ConstructorParameters<typeof SendMessageBatchCommand>[0]>) =>
      sqs.client.send(new SendMessageBatchCommand({ QueueUrl: fifo, Entries: [], ...input }));

    await expect(send({ QueueUrl: fifo.replace('Fifo', 'Nowhere') })).rejects.toBeInstanceOf(QueueDoesNotExist);
    await expect(send({ Entries: [] })).rejects.toBeInstanceOf(EmptyBatchRequest);
    await expect(send({ Entries: Array.from({ length: 11 }, (_, i) => entry(String(i), 'g')) })).rejects.toBeInstanceOf(TooManyEntriesInBatchRequest);
    await expect(send({ Entries: [entry('same', 'g'), entry('same', 'h')] })).rejects.toBeInstanceOf(BatchEntryIdsNotDistinct);
    await expect(sqs.client.send(new SendMessageCommand({ QueueUrl: fifo, MessageBody: 'x' }))).rejects.toMatchObject({
      name: 'MissingParameter',
      $metadata: { httpStatusCode: 400 },
    });
    await expect(sqs.client.send(new SendMessageCommand({ QueueUrl: standard, MessageBody: 'x', MessageDeduplicationId: 'd' }))).rejects.toMatchObject({
      name: 'InvalidParameterValue',
    });
    await expect(sqs.client.send(new DeleteMessageCommand({ QueueUrl: fifo, ReceiptHandle: 'not-a-handle' }))).rejects.toBeInstanceOf(ReceiptHandleIsInvalid);
    const raw = await fetch(`${new URL(fifo).origin}/`, { method: 'POST', headers: { 'x-amz-target': 'AmazonSQS.SendMessage' }, body: '{not json' });
    expect(raw.status).toBe(400);
  });

  it('names its queues as GetQueueUrl and GetQueueAttributes answer them', async () => {
    await sqs.client.send(new SendMessageBatchCommand({ QueueUrl: fifo, Entries: [entry('0', 'a'), entry('1', 'a')] }));
    await receive(fifo, 1);

    expect((await sqs.client.send(new GetQueueUrlCommand({ QueueName: 'Test-Fifo.fifo' }))).QueueUrl).toBe(fifo);
    const { Attributes } = await sqs.client.send(new GetQueueAttributesCommand({ QueueUrl: fifo, AttributeNames: ['All'] }));
    expect(Attributes).toMatchObject({
      FifoQueue: 'true',
      DeduplicationScope: 'messageGroup',
      ApproximateNumberOfMessages: '1',
      ApproximateNumberOfMessagesNotVisible: '1',
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: sqs.queue('Dlq').arn, maxReceiveCount: 2 }),
    });
  });
});

describe('receiving from a FIFO queue', () => {
  it("hands out a group's messages in order, and none of a group while some of it is in flight", async () => {
    await sqs.client.send(new SendMessageBatchCommand({ QueueUrl: fifo, Entries: [entry('0', 'a'), entry('1', 'b'), entry('2', 'a'), entry('3', 'a')] }));

    const first = await receive(fifo, 2);
    expect(bodies(first)).toEqual(['a-0', 'a-2']);
    expect(bodies(await receive(fifo))).toEqual(['b-1']);
    expect(await receive(fifo)).toEqual([]);

    for (const message of first) await sqs.client.send(new DeleteMessageCommand({ QueueUrl: fifo, ReceiptHandle: message.ReceiptHandle }));
    const [next] = await receive(fifo);
    expect(next).toMatchObject({
      Body: 'a-3',
      Attributes: {
        MessageGroupId: 'a',
        MessageDeduplicationId: 'a-3',
        ApproximateReceiveCount: '1',
        SenderId: 'AKIDTEST',
        SequenceNumber: expect.stringMatching(/^\d{20}$/),
        SentTimestamp: expect.stringMatching(/^\d{13}$/),
        ApproximateFirstReceiveTimestamp: expect.stringMatching(/^\d{13}$/),
      },
    });
  });

  it('gives a message back after its visibility timeout, refuses the old handle, and moves it to the DLQ after maxReceiveCount receives', async () => {
    await sqs.client.send(new SendMessageBatchCommand({ QueueUrl: brief, Entries: [entry('0', 'a'), entry('1', 'a')] }));
    const [once] = await receive(brief, 1);
    await new Promise((resolve) => setTimeout(resolve, 250));
    const [twice] = await receive(brief, 1);

    expect(twice).toMatchObject({ MessageId: once?.MessageId, Attributes: { ApproximateReceiveCount: '2' } });
    await expect(sqs.client.send(new DeleteMessageCommand({ QueueUrl: brief, ReceiptHandle: once?.ReceiptHandle }))).rejects.toMatchObject({
      name: 'InvalidParameterValue',
      message: expect.stringContaining('expired'),
    });

    await new Promise((resolve) => setTimeout(resolve, 250));
    // Received twice, never deleted: the next receive moves it, and the group goes on without it.
    expect(bodies(await receive(brief))).toEqual(['a-1']);
    const [dead] = await receive(dlq);
    expect(dead).toMatchObject({ MessageId: once?.MessageId, Body: 'a-0', Attributes: { MessageGroupId: 'a', DeadLetterQueueSourceArn: sqs.queue('Brief').arn, ApproximateReceiveCount: '1' } });
    expect(sqs.deadLetters).toEqual([
      { from: 'Brief', to: 'Dlq', message: expect.objectContaining({ messageId: once?.MessageId, attributes: expect.objectContaining({ ApproximateReceiveCount: '2' }) }) },
    ]);
  });

  it('answers a long poll as soon as a message arrives', async () => {
    // The marker that the receive found nothing and is waiting: the queue is asked to wake it on a change.
    const waiting = jest.spyOn(sqs.queue('Fifo'), 'changed');
    const started = Date.now();
    const polled = sqs.client.send(new ReceiveMessageCommand({ QueueUrl: fifo, WaitTimeSeconds: 5 }));
    await until(() => waiting.mock.calls.length > 0, 'the receive to wait');
    await sqs.client.send(new SendMessageBatchCommand({ QueueUrl: fifo, Entries: [entry('0', 'a')] }));

    expect(bodies((await polled).Messages ?? [])).toEqual(['a-0']);
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});

describe('receiving from a standard queue', () => {
  it('hands out any message not in flight, with no group to wait for', async () => {
    await sqs.client.send(new SendMessageBatchCommand({ QueueUrl: standard, Entries: ['0', '1', '2'].map((id) => ({ Id: id, MessageBody: id, MessageGroupId: 'g' })) }));

    expect(bodies(await receive(standard, 1))).toEqual(['0']);
    expect(bodies(await receive(standard))).toEqual(['1', '2']);
  });
});
