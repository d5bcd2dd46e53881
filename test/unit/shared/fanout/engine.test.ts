import { ApiGatewayManagementApiClient, GoneException, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient, GetCommand, QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { fanOut, type FanOutDeps } from '../../../../shared/fanout/engine';
import { ConnectionStore } from '../../../../shared/store/connections';
import { SubscriptionStore } from '../../../../shared/store/subscriptions';
import { notificationItem, statusItem } from '../../../../shared/store/items';
import { recordingLogger } from '../../../support/logger';
import { aStatus, insertRecord, statusRecord } from '../../../support/stream';

const ddb = mockClient(DynamoDBDocumentClient);
const gateway = mockClient(ApiGatewayManagementApiClient);

/** Subscribers per channel, served in pages of `pageSize` the way DynamoDB pages a Query. */
function serveSubscribers(byChannel: Record<string, string[]>, pageSize: number) {
  ddb.on(QueryCommand).callsFake((input: QueryCommandInput) => {
    const channel = (input.ExpressionAttributeValues?.[':pk'] as string).slice('chan#'.length);
    const all = byChannel[channel] ?? [];
    const start = input.ExclusiveStartKey ? all.indexOf(input.ExclusiveStartKey['sk'] as string) + 1 : 0;
    const page = all.slice(start, start + pageSize);
    const last = page.at(-1);
    return {
      Items: page.map((sk) => ({ sk })),
      LastEvaluatedKey: start + pageSize < all.length && last ? { pk: `chan#${channel}`, sk: last } : undefined,
    };
  });
}

function deps(overrides: Partial<FanOutDeps> = {}): FanOutDeps {
  const db = DynamoDBDocumentClient.from(new DynamoDBClient({}));
  const connections = new ConnectionStore(db, 'Connections');
  return {
    connections,
    subscriptions: new SubscriptionStore(db, 'Connections', connections),
    gateway: new ApiGatewayManagementApiClient({ endpoint: 'https://api.example.invalid/dev' }),
    concurrency: 8,
    pageSize: 3,
    logger: recordingLogger(),
    ...overrides,
  };
}

const sentTo = () => gateway.commandCalls(PostToConnectionCommand).map((call) => call.args[0].input.ConnectionId);
const deletedKeys = () =>
  ddb.commandCalls(BatchWriteCommand).flatMap((call) => call.args[0].input.RequestItems?.['Connections']?.map((r) => r.DeleteRequest?.Key) ?? []);

beforeEach(() => {
  ddb.reset();
  gateway.reset();
  ddb.on(BatchWriteCommand).resolves({});
  // Every connection row says it connected a minute ago (settled, so a Gone means gone) to user:alice.
  ddb.on(GetCommand).callsFake((input: { Key: { pk: string } }) => ({
    Item: { ...input.Key, connectionId: input.Key.pk.slice('conn#'.length), userId: 'bob', connectedAt: Date.now() - 60_000, channels: new Set(['user:alice']) },
  }));
  gateway.on(PostToConnectionCommand).resolves({});
});
afterEach(() => {
  jest.useRealTimers();
});

describe('fanOut', () => {
  it('reads every page of subscribers and sends each the same serialized frame once', async () => {
    const subscribers = Array.from({ length: 8 }, (_, i) => `c${i}`);
    serveSubscribers({ 'user:alice': subscribers }, 3);
    const status = aStatus();

    const result = await fanOut([statusRecord('user:alice', status)], deps());

    expect(ddb.commandCalls(QueryCommand)).toHaveLength(3);
    for (const call of ddb.commandCalls(QueryCommand)) expect(call.args[0].input).toMatchObject({ ConsistentRead: true });
    expect(sentTo().sort()).toEqual(subscribers);
    const payloads = gateway.commandCalls(PostToConnectionCommand).map((call) => call.args[0].input.Data);
    expect(new Set(payloads).size).toBe(1);
    expect(JSON.parse(Buffer.from(payloads[0] as Uint8Array).toString())).toEqual({ type: 'status', channel: 'user:alice', status });
    expect(result).toMatchObject({ delivered: 8, gone: 0, failed: 0, batchItemFailures: [] });
  });

  it('delivers notifications as notification frames', async () => {
    serveSubscribers({ 'inbox:bob': ['b1'] }, 10);
    const reply = aStatus({ replyTo: '01JD0000000000000000000000', thread: '01JD0000000000000000000000' });
    const record = insertRecord(notificationItem('inbox:bob', { id: reply.id, kind: 'reply', from: 'alice', status: reply, at: reply.createdAt }));

    await fanOut([record], deps());

    const data = gateway.commandCalls(PostToConnectionCommand)[0]?.args[0].input.Data as Uint8Array;
    expect(JSON.parse(Buffer.from(data).toString())).toEqual({
      type: 'notification',
      notification: { id: reply.id, kind: 'reply', from: 'alice', status: reply, at: reply.createdAt },
    });
  });

  it('removes a connection that is Gone, with its subscriptions, and leaves the others alone', async () => {
    serveSubscribers({ 'user:alice': ['sender', 'stale', 'other'] }, 10);
    gateway.on(PostToConnectionCommand, { ConnectionId: 'stale' }).rejects(new GoneException({ message: 'gone', $metadata: { httpStatusCode: 410 } }));

    const result = await fanOut([statusRecord('user:alice')], deps());

    expect(result).toMatchObject({ delivered: 2, gone: 1, failed: 0, batchItemFailures: [] });
    expect(deletedKeys()).toEqual(expect.arrayContaining([{ pk: 'conn#stale', sk: 'conn' }, { pk: 'chan#user:alice', sk: 'stale' }]));
    expect(deletedKeys().every((key) => key?.['pk'] === 'conn#stale' || key?.['sk'] === 'stale')).toBe(true);
  });

  it('knows Gone by its HTTP status when the error has another name', async () => {
    serveSubscribers({ 'user:alice': ['stale'] }, 10);
    gateway.on(PostToConnectionCommand).rejects(Object.assign(new Error('gone'), { name: 'UnknownError', $metadata: { httpStatusCode: 410 } }));

    const result = await fanOut([statusRecord('user:alice')], deps());

    expect(result.gone).toBe(1);
    expect(deletedKeys()).toContainEqual({ pk: 'conn#stale', sk: 'conn' });
  });

  it('leaves a connection that is still connecting alone when API Gateway calls it Gone', async () => {
    serveSubscribers({ 'user:alice': ['connecting'] }, 10);
    ddb.on(GetCommand).resolves({ Item: { pk: 'conn#connecting', sk: 'conn', connectionId: 'connecting', userId: 'bob', connectedAt: Date.now() - 500 } });
    gateway.on(PostToConnectionCommand).rejects(new GoneException({ message: 'gone', $metadata: {} }));

    const result = await fanOut([statusRecord('user:alice')], deps());

    expect(result.gone).toBe(1);
    expect(deletedKeys()).toEqual([]);
  });

  it('sends nothing more to a connection once it is Gone in the same batch', async () => {
    serveSubscribers({ 'user:alice': ['stale'] }, 10);
    gateway.on(PostToConnectionCommand).rejects(new GoneException({ message: 'gone', $metadata: {} }));

    await fanOut([statusRecord('user:alice', aStatus({ id: '01JD0000000000000000000001' })), statusRecord('user:alice', aStatus({ id: '01JD0000000000000000000002' }))], deps({ concurrency: 1 }));

    expect(sentTo()).toEqual(['stale']);
  });

  it('never has more posts in flight than the concurrency bound', async () => {
    serveSubscribers({ 'user:alice': Array.from({ length: 60 }, (_, i) => `c${i}`), 'user:bob': Array.from({ length: 60 }, (_, i) => `d${i}`) }, 25);
    let inFlight = 0;
    let peak = 0;
    gateway.on(PostToConnectionCommand).callsFake(async () => {
      peak = Math.max(peak, ++inFlight);
      await new Promise((resolve) => setTimeout(resolve, 2));
      inFlight--;
      return {};
    });

    jest.useFakeTimers();

    const running = fanOut([statusRecord('user:alice'), statusRecord('user:bob')], deps({ concurrency: 5, pageSize: 25 }));
    await jest.runAllTimersAsync();
    const result = await running;

    expect(result.delivered).toBe(120);
    expect(peak).toBe(5);
  });

  it("keeps a channel's records in stream order, and fans out other channels alongside", async () => {
    serveSubscribers({ 'user:alice': ['a'], 'user:bob': ['b'] }, 10);
    const order: string[] = [];
    gateway.on(PostToConnectionCommand).callsFake(async (input: { ConnectionId: string; Data: Uint8Array }) => {
      const { status } = JSON.parse(Buffer.from(input.Data).toString()) as { status: { text: string } };
      // The first status is the slowest to deliver; it must still arrive first on its channel.
      await new Promise((resolve) => setTimeout(resolve, status.text === 'first' ? 30 : 1));
      order.push(`${input.ConnectionId}:${status.text}`);
      return {};
    });

    jest.useFakeTimers();

    const running = fanOut(
      [
        statusRecord('user:alice', aStatus({ id: '01JD0000000000000000000001', text: 'first' })),
        statusRecord('user:alice', aStatus({ id: '01JD0000000000000000000002', text: 'second' })),
        statusRecord('user:bob', aStatus({ id: '01JD0000000000000000000003', text: 'other' })),
      ],
      deps(),
    );
    await jest.runAllTimersAsync();
    await running;

    expect(order.filter((o) => o.startsWith('a:'))).toEqual(['a:first', 'a:second']);
    expect(order[0]).toBe('b:other');
  });

  it('counts a delivery that still fails after retries, and does not fail the record', async () => {
    serveSubscribers({ 'user:alice': ['a', 'b'] }, 10);
    gateway.on(PostToConnectionCommand, { ConnectionId: 'b' }).rejects(Object.assign(new Error('slow down'), { name: 'LimitExceededException', $metadata: { httpStatusCode: 429 } }));
    const logger = recordingLogger();

    const result = await fanOut([statusRecord('user:alice')], deps({ logger }));

    expect(result).toMatchObject({ delivered: 1, failed: 1, gone: 0, batchItemFailures: [] });
    expect(deletedKeys()).toEqual([]);
    expect(logger.lines).toContainEqual(expect.objectContaining({ level: 'warn', message: 'delivery failed after retries' }));
  });

  it('reports only the record whose subscribers could not be read', async () => {
    serveSubscribers({ 'user:bob': ['b1'] }, 10);
    ddb.on(QueryCommand, { ExpressionAttributeValues: { ':pk': 'chan#user:alice' } }).rejects(new Error('throttled'));
    const failing = statusRecord('user:alice');
    const fine = statusRecord('user:bob');

    const result = await fanOut([failing, fine], deps());

    expect(result.batchItemFailures).toEqual([{ itemIdentifier: failing.dynamodb?.SequenceNumber }]);
    expect(sentTo()).toEqual(['b1']);
  });

  it('reports a record whose second page of subscribers fails, with no unhandled rejection', async () => {
    serveSubscribers({ 'user:alice': ['a', 'b', 'c', 'd'] }, 2);
    ddb.on(QueryCommand, { ExclusiveStartKey: { pk: 'chan#user:alice', sk: 'b' } }).rejects(new Error('throttled'));
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const record = statusRecord('user:alice');

    try {
      const result = await fanOut([record], deps());
      await new Promise((resolve) => setImmediate(resolve));

      expect(result.batchItemFailures).toEqual([{ itemIdentifier: record.dynamodb?.SequenceNumber }]);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it("stops a channel at its first failed record, since Lambda will send that record and the later ones again", async () => {
    serveSubscribers({ 'user:bob': ['b1'] }, 10);
    let aliceQueries = 0;
    ddb.on(QueryCommand, { ExpressionAttributeValues: { ':pk': 'chan#user:alice' } }).callsFake(() => {
      if (++aliceQueries === 1) throw new Error('throttled');
      return { Items: [{ sk: 'a1' }] };
    });
    const failing = statusRecord('user:alice', aStatus({ id: '01JD0000000000000000000001' }));

    const result = await fanOut([failing, statusRecord('user:alice', aStatus({ id: '01JD0000000000000000000002' })), statusRecord('user:bob')], deps());

    expect(result.batchItemFailures).toEqual([{ itemIdentifier: failing.dynamodb?.SequenceNumber }]);
    expect(aliceQueries).toBe(1);
    expect(sentTo()).toEqual(['b1']);
  });

  it('ignores rows that are not new deliverable items', async () => {
    serveSubscribers({ 'user:alice': ['a'] }, 10);
    const status = aStatus();

    const result = await fanOut(
      [insertRecord(statusItem(`status:${status.id}`, status)), insertRecord(statusItem('user:alice', status), 'MODIFY')],
      deps(),
    );

    expect(ddb.commandCalls(QueryCommand)).toHaveLength(0);
    expect(result).toMatchObject({ delivered: 0, batchItemFailures: [] });
  });
});
