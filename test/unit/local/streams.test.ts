import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  ExpiredIteratorException,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type _Record,
} from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import type { LocalFunction } from '../../../local/lambda';
import { StreamMapping, type FailedBatch, type StreamFaults } from '../../../local/streams';
import type { StreamMappingModel } from '../../../local/template';
import { ServiceDeletions } from '../../../local/ttl';
import { until } from '../../support/until';

/** The event source mapping's retry rules, against a stream served by a mocked Streams client. */
const streams = mockClient(DynamoDBStreamsClient);
const STREAM = 'arn:aws:dynamodb:ddblocal:000000000000:table/T/stream/2026-11-21T00:00:00.000';

function streamRecord(
  n: number,
  { channel = `user:u${n}`, eventName = 'INSERT', ageSeconds = 0 }: { channel?: string; eventName?: 'INSERT' | 'MODIFY' | 'REMOVE'; ageSeconds?: number } = {},
): _Record {
  return {
    eventID: `e${n}`,
    eventName,
    eventVersion: '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: 'ddblocal',
    dynamodb: {
      ApproximateCreationDateTime: new Date(Date.now() - ageSeconds * 1000),
      Keys: { channel: { S: channel }, id: { S: String(n) } },
      NewImage: { channel: { S: channel }, id: { S: String(n) }, blob: { B: Uint8Array.from([1, 2, 3]) } },
      SequenceNumber: String(n).padStart(5, '0'),
      SizeBytes: 40,
      StreamViewType: 'NEW_IMAGE',
    },
  };
}

function serve(records: _Record[]) {
  streams.reset();
  streams.on(DescribeStreamCommand).resolves({ StreamDescription: { Shards: [{ ShardId: 'shard-1' }] } });
  streams.on(GetShardIteratorCommand).resolves({ ShardIterator: 'start' });
  streams.on(GetRecordsCommand, { ShardIterator: 'start' }).resolves({ Records: records, NextShardIterator: 'next' });
  streams.on(GetRecordsCommand, { ShardIterator: 'next' }).resolves({ Records: [], NextShardIterator: 'next' });
}

const model = (overrides: Partial<StreamMappingModel> = {}): StreamMappingModel => ({
  logicalId: 'Mapping',
  tableId: 'Table',
  functionId: 'Fn',
  startingPosition: 'TRIM_HORIZON',
  batchSize: 100,
  batchingWindowMs: 0,
  bisectOnError: false,
  maxRetries: 2,
  maxRecordAgeMs: -1,
  reportBatchItemFailures: true,
  filterPatterns: [],
  onFailureQueueId: 'Dlq',
  ...overrides,
});

/** A mapping over the served stream to a function that answers each batch with `handle`, and what the function received. */
function mappingTo(mapping: Partial<StreamMappingModel>, handle: (records: DynamoDBRecord[]) => unknown, faults?: StreamFaults) {
  const calls: DynamoDBRecord[][] = [];
  const failed: FailedBatch[] = [];
  const fn = {
    model: { logicalId: 'Fn' },
    name: 'Fn',
    invoke: (event: { Records: DynamoDBRecord[] }) => {
      calls.push(event.Records);
      return Promise.resolve().then(() => handle(event.Records));
    },
  } as unknown as LocalFunction;
  const subject = new StreamMapping({
    model: model(mapping),
    streamArn: STREAM,
    tableName: 'T',
    fn,
    client: new DynamoDBStreamsClient({ region: 'us-east-1' }),
    region: 'us-east-1',
    pollIntervalMs: 5,
    serviceDeletions: new ServiceDeletions(),
    onFailure: (batch) => failed.push(batch),
    log: () => undefined,
    ...(faults ? { faults } : {}),
  });
  return { subject, calls, failed, ids: (records: DynamoDBRecord[]) => records.map((r) => r.dynamodb?.Keys?.['id']?.S) };
}

/** Runs a mapping until `done` holds for what the function received, then stops it. */
async function run(
  mapping: Partial<StreamMappingModel>,
  handle: (records: DynamoDBRecord[]) => unknown,
  done: (calls: DynamoDBRecord[][], failed: FailedBatch[]) => boolean,
  faults?: StreamFaults,
) {
  const { subject, ...received } = mappingTo(mapping, handle, faults);
  subject.start();
  try {
    await until(() => done(received.calls, received.failed), 'the calls the test waits for', 5000);
  } finally {
    await subject.stop();
  }
  return received;
}

describe('stream event source mapping', () => {
  it('shapes records as Lambda delivers them, filters them and splits them into batches', async () => {
    serve([streamRecord(1), streamRecord(2, { channel: 'status:x' }), streamRecord(3), streamRecord(4), streamRecord(5, { eventName: 'MODIFY' })]);

    const { calls, ids } = await run(
      { batchSize: 2, filterPatterns: [{ eventName: ['INSERT'], dynamodb: { Keys: { channel: { S: [{ prefix: 'user:' }] } } } }] },
      () => ({ batchItemFailures: [] }),
      (c) => c.length >= 2,
    );

    expect(calls.map(ids)).toEqual([['1', '3'], ['4']]);
    const first = calls[0]?.[0];
    expect(first).toMatchObject({ eventSource: 'aws:dynamodb', awsRegion: 'us-east-1', eventSourceARN: STREAM, dynamodb: { StreamViewType: 'NEW_IMAGE' } });
    const created = first?.dynamodb?.ApproximateCreationDateTime;
    expect(created).toBe(Math.floor(created ?? NaN));
    expect(first?.dynamodb?.NewImage?.['blob']).toEqual({ B: 'AQID' });
  });

  it('hands the filtered records to UPDRAFT_FAULTS before cutting them into batches, and each batch before it is invoked', async () => {
    serve([streamRecord(1), streamRecord(2, { channel: 'status:x' }), streamRecord(3), streamRecord(4)]);
    const faults: StreamFaults = { duplicate: (records) => records.flatMap((r) => [r, r]), reorder: (batch) => [...batch].reverse() };

    const { calls, ids } = await run(
      { batchSize: 4, filterPatterns: [{ dynamodb: { Keys: { channel: { S: [{ prefix: 'user:' }] } } } }] },
      () => ({ batchItemFailures: [] }),
      (c) => c.length >= 2,
      faults,
    );

    expect(calls.map(ids)).toEqual([
      ['3', '3', '1', '1'],
      ['4', '4'],
    ]);
  });

  it('retries from the first reported failure only', async () => {
    serve([1, 2, 3, 4].map((n) => streamRecord(n)));
    let calls = 0;

    const result = await run(
      {},
      (records) => (++calls === 1 ? { batchItemFailures: [{ itemIdentifier: records[2]?.dynamodb?.SequenceNumber }] } : { batchItemFailures: [] }),
      (c) => c.length >= 2,
    );

    expect(result.calls.map(result.ids)).toEqual([
      ['1', '2', '3', '4'],
      ['3', '4'],
    ]);
    expect(result.failed).toEqual([]);
  });

  it('bisects a failing batch and sends only the poison record to the on-failure destination after its retries', async () => {
    serve([1, 2, 3, 4].map((n) => streamRecord(n)));

    const result = await run(
      { bisectOnError: true, maxRetries: 1, reportBatchItemFailures: false },
      (records) => {
        if (records.some((r) => r.dynamodb?.Keys?.['id']?.S === '3')) throw new Error('poison');
        return null;
      },
      (_, failed) => failed.length >= 1,
    );

    const delivered = result.calls.filter((c) => !c.some((r) => r.dynamodb?.Keys?.['id']?.S === '3')).flatMap(result.ids);
    expect(delivered.sort()).toEqual(['1', '2', '4']);
    expect(result.failed).toHaveLength(1);
    expect(result.failed[0]).toMatchObject({
      queueId: 'Dlq',
      message: {
        requestContext: { condition: 'RetryAttemptsExhausted', approximateInvokeCount: 2 },
        DDBStreamBatchInfo: { shardId: 'shard-1', startSequenceNumber: '00003', endSequenceNumber: '00003', batchSize: 1, streamArn: STREAM },
      },
    });
  });

  it('gives up on records older than the maximum record age without invoking for them', async () => {
    serve([streamRecord(1, { ageSeconds: 120 }), streamRecord(2)]);

    const result = await run({ maxRecordAgeMs: 60_000 }, () => null, (c, failed) => c.length >= 1 && failed.length >= 1);

    expect(result.calls.map(result.ids)).toEqual([['2']]);
    expect(result.failed[0]?.message).toMatchObject({ requestContext: { condition: 'RecordAgeExceeded' }, DDBStreamBatchInfo: { batchSize: 1 } });
  });

  it('resumes after the last delivered record when its iterator expires', async () => {
    serve([streamRecord(1), streamRecord(2)]);
    streams.on(GetRecordsCommand, { ShardIterator: 'start' }).resolves({ Records: [streamRecord(1), streamRecord(2)], NextShardIterator: 'stale' });
    streams.on(GetRecordsCommand, { ShardIterator: 'stale' }).rejects(new ExpiredIteratorException({ message: 'expired', $metadata: {} }));
    streams.on(GetShardIteratorCommand, { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: '00002' }).resolves({ ShardIterator: 'resumed' });
    streams.on(GetRecordsCommand, { ShardIterator: 'resumed' }).resolves({ Records: [streamRecord(3)], NextShardIterator: 'next' });

    const result = await run({}, () => null, (c) => c.length >= 2);

    expect(result.calls.map(result.ids)).toEqual([['1', '2'], ['3']]);
  });

  it('stops promptly while a batch is being retried, invoking nothing more', async () => {
    // On a clock of the test's own: the backoff between retries passes only when the test says so.
    jest.useFakeTimers();
    try {
      serve([streamRecord(1)]);
      const { subject, calls, failed } = mappingTo({ maxRetries: -1 }, () => {
        throw new Error('always');
      });
      subject.start();
      // The first attempt, then the second after a backoff of 100 ms; a third waits 200 ms more.
      for (let waited = 0; calls.length < 2 && waited < 1000; waited += 10) await jest.advanceTimersByTimeAsync(10);
      expect(calls).toHaveLength(2);

      // Stopped with the clock standing still: it does not wait out the backoff.
      await subject.stop();
      // Any retry it could still have had in store (backoffs stop growing at 5 s) has now come due.
      await jest.advanceTimersByTimeAsync(5_000);

      expect(calls).toHaveLength(2);
      expect(failed).toEqual([]);
      expect(jest.getTimerCount()).toBe(0);
    } finally {
      jest.useRealTimers();
    }
  });
});

describe('a poke', () => {
  it('polls an idle shard at once instead of at the end of its interval', async () => {
    serve([]);
    const received: DynamoDBRecord[][] = [];
    let delivered: () => void = () => undefined;
    const arrived = new Promise<void>((resolve) => (delivered = resolve));
    const fn = {
      model: { logicalId: 'Fn' },
      name: 'Fn',
      invoke: (event: { Records: DynamoDBRecord[] }) => {
        received.push(event.Records);
        delivered();
        return Promise.resolve({ batchItemFailures: [] });
      },
    } as unknown as LocalFunction;
    const subject = new StreamMapping({
      model: model(),
      streamArn: STREAM,
      tableName: 'T',
      fn,
      client: new DynamoDBStreamsClient({ region: 'us-east-1' }),
      region: 'us-east-1',
      // Without a poke, the second poll would come a minute later.
      pollIntervalMs: 60_000,
      serviceDeletions: new ServiceDeletions(),
      onFailure: () => undefined,
      log: () => undefined,
    });
    subject.start();
    try {
      // The first poll found nothing: the mapping is idle now.
      while (streams.commandCalls(GetRecordsCommand).length === 0) await new Promise((resolve) => setImmediate(resolve));
      streams.on(GetRecordsCommand, { ShardIterator: 'next' }).resolvesOnce({ Records: [streamRecord(7)], NextShardIterator: 'next' }).resolves({ Records: [], NextShardIterator: 'next' });

      const started = Date.now();
      subject.poke();
      await arrived;

      expect(received.map((records) => records.map((r) => r.dynamodb?.Keys?.['id']?.S))).toEqual([['7']]);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await subject.stop();
    }
  });
});
