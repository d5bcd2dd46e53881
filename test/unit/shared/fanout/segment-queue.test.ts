import { SendMessageBatchCommand, SQSClient, type SendMessageBatchCommandInput } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { part, WHOLE } from '../../../../shared/fanout/hash-space';
import { decodeSegment, encodeSegment, SqsSegmentQueue, type SegmentMessage } from '../../../../shared/fanout/segment-queue';

const sqs = mockClient(SQSClient);
const QUEUE = 'https://sqs.us-east-1.amazonaws.com/000000000000/delivery.fifo';

/** `n` segments of one status, a group each, as the planner cuts them. */
const segments = (n: number, statusId = '01JD0000000000000000000001'): SegmentMessage[] =>
  Array.from({ length: n }, (_, i) => ({ channel: 'user:alice', statusId, group: i % 32, index: i, range: part(part(WHOLE, 32, i % 32), 2, Math.floor(i / 32)), frame: '{}' }));

const sentEntries = () => sqs.commandCalls(SendMessageBatchCommand).flatMap((call) => call.args[0].input.Entries ?? []);

beforeEach(() => sqs.reset());

describe('SqsSegmentQueue', () => {
  it('sends in batches of 10, each segment in its channel group, deduplicated by its hash range', async () => {
    sqs.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });

    await new SqsSegmentQueue(new SQSClient({}), QUEUE).send(segments(45));

    const calls = sqs.commandCalls(SendMessageBatchCommand);
    expect(calls.map((call) => call.args[0].input.Entries?.length)).toEqual([10, 10, 10, 10, 5]);
    const entries = sentEntries();
    expect(entries.map((entry) => decodeSegment(entry.MessageBody ?? ''))).toEqual(segments(45));
    expect(entries[33]).toMatchObject({ MessageGroupId: 'user:alice#1', MessageDeduplicationId: '01JD0000000000000000000001.0c0000000fffffff' });
    expect(new Set(entries.map((entry) => entry.MessageDeduplicationId)).size).toBe(45);
  });

  it('sends again only the entries SQS failed for its own reasons', async () => {
    let call = 0;
    sqs.on(SendMessageBatchCommand).callsFake((input: SendMessageBatchCommandInput) => {
      call++;
      return { Successful: [], Failed: call === 1 ? [{ Id: input.Entries?.[3]?.Id, SenderFault: false, Code: 'InternalError' }] : [] };
    });

    await new SqsSegmentQueue(new SQSClient({}), QUEUE).send(segments(10));

    expect(sqs.commandCalls(SendMessageBatchCommand).map((c) => c.args[0].input.Entries?.map((entry) => entry.Id))).toEqual([
      ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
      ['3'],
    ]);
  });

  it('fails when SQS refuses an entry as the sender’s fault, and starts no further batch after a failure', async () => {
    sqs.on(SendMessageBatchCommand).resolvesOnce({ Successful: [], Failed: [{ Id: '0', SenderFault: true, Code: 'InvalidParameterValue', Message: 'too big' }] }).resolves({ Failed: [] });

    await expect(new SqsSegmentQueue(new SQSClient({}), QUEUE, 1).send(segments(30))).rejects.toThrow(/InvalidParameterValue too big/);
    expect(sqs.commandCalls(SendMessageBatchCommand)).toHaveLength(1);
  });
});

describe('decodeSegment', () => {
  it('reads what encodeSegment wrote, and refuses ranges a worker could not read', () => {
    const [segment] = segments(1);
    if (!segment) throw new Error('no segment');
    expect(decodeSegment(encodeSegment(segment))).toEqual(segment);
    for (const range of [{ lo: 5, hi: 5 }, { lo: 0, hi: 2 ** 32 + 1 }, { lo: 2 ** 30 - 1, hi: 2 ** 30 + 1 }, { lo: 0.5, hi: 9 }]) {
      expect(() => decodeSegment(JSON.stringify({ ...segment, range }))).toThrow(TypeError);
    }
    expect(() => decodeSegment('[]')).toThrow(TypeError);
  });
});
