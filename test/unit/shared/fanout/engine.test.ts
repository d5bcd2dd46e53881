import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient, GetCommand, QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { DeliveryError, type DeliveryClient, type DeliveryOutcome, type Payload } from '../../../../shared/fanout/delivery-client';
import { fanOut, type FanOutDeps } from '../../../../shared/fanout/engine';
import { ConnectionStore } from '../../../../shared/store/connections';
import { SubscriptionStore } from '../../../../shared/store/subscriptions';
import { notificationItem, statusItem } from '../../../../shared/store/items';
import { recordingLogger } from '../../../support/logger';
import { aStatus, insertRecord, statusRecord } from '../../../support/stream';

const ddb = mockClient(DynamoDBDocumentClient);

/**
 * Stands in for DeliveryClient: records who was posted what, answers `'gone'` for the
 * ids in `gone` and, for those in `failing`, throws as the client does once it gives up.
 */
class FakeDelivery implements Pick<DeliveryClient, 'post'> {
  readonly posts: { readonly connectionId: string; readonly data: Payload }[] = [];
  readonly gone = new Set<string>();
  readonly failing = new Set<string>();
  /** Awaited before each answer, so a test can hold posts in flight. */
  hold: (connectionId: string, frame: unknown) => Promise<void> = () => Promise.resolve();

  async post(connectionId: string, data: Payload): Promise<DeliveryOutcome> {
    this.posts.push({ connectionId, data });
    await this.hold(connectionId, frameOf(data));
    if (this.failing.has(connectionId)) throw new DeliveryError('PostToConnection failed: HTTP 429', 429, 3);
    return this.gone.has(connectionId) ? 'gone' : 'delivered';
  }

  sentTo(): string[] {
    return this.posts.map((post) => post.connectionId);
  }
}

const frameOf = (data: Payload): unknown => JSON.parse(data.body.toString());
const textOf = (frame: unknown): string => (frame as { status: { text: string } }).status.text;

let delivery: FakeDelivery;

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
    delivery,
    concurrency: 8,
    pageSize: 3,
    logger: recordingLogger(),
    ...overrides,
  };
}

const deletedKeys = () =>
  ddb.commandCalls(BatchWriteCommand).flatMap((call) => call.args[0].input.RequestItems?.['Connections']?.map((r) => r.DeleteRequest?.Key) ?? []);

beforeEach(() => {
  ddb.reset();
  delivery = new FakeDelivery();
  ddb.on(BatchWriteCommand).resolves({});
  // Every connection row says it connected a minute ago (settled, so a Gone means gone) to user:alice.
  ddb.on(GetCommand).callsFake((input: { Key: { pk: string } }) => ({
    Item: { ...input.Key, connectionId: input.Key.pk.slice('conn#'.length), userId: 'bob', connectedAt: Date.now() - 60_000, channels: new Set(['user:alice']) },
  }));
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
    expect(delivery.sentTo().sort()).toEqual(subscribers);
    // One payload for the record, serialized and hashed once, handed to every post.
    const payloads = new Set(delivery.posts.map((post) => post.data));
    expect(payloads.size).toBe(1);
    expect(delivery.posts.map((post) => frameOf(post.data))).toEqual(subscribers.map(() => ({ type: 'status', channel: 'user:alice', status })));
    expect(result).toMatchObject({ delivered: 8, gone: 0, failed: 0, batchItemFailures: [] });
  });

  it('logs and skips a row it cannot read, and goes on with its channel’s later records', async () => {
    serveSubscribers({ 'user:alice': ['c1'] }, 10);
    const broken = statusRecord('user:alice', aStatus({ id: '01JD0000000000000000000002' }));
    if (broken.dynamodb?.NewImage) delete broken.dynamodb.NewImage['author'];
    const after = aStatus({ id: '01JD0000000000000000000003', text: 'after the broken one' });
    const logger = recordingLogger();

    const result = await fanOut([broken, statusRecord('user:alice', after)], deps({ logger }));

    expect(result).toMatchObject({ delivered: 1, malformed: 1, batchItemFailures: [] });
    expect(delivery.posts.map((post) => textOf(frameOf(post.data)))).toEqual(['after the broken one']);
    expect(logger.lines).toEqual(expect.arrayContaining([expect.objectContaining({ level: 'error', message: 'skipped a malformed row' })]));
  });

  it('delivers notifications as notification frames', async () => {
    serveSubscribers({ 'inbox:bob': ['b1'] }, 10);
    const reply = aStatus({ replyTo: '01JD0000000000000000000000', thread: '01JD0000000000000000000000' });
    const record = insertRecord(notificationItem('inbox:bob', { id: reply.id, kind: 'reply', from: 'alice', status: reply, at: reply.createdAt }));

    await fanOut([record], deps());

    expect(delivery.posts.map((post) => frameOf(post.data))).toEqual([{
      type: 'notification',
      notification: { id: reply.id, kind: 'reply', from: 'alice', status: reply, at: reply.createdAt },
    }]);
  });

  it('removes a connection that is Gone, with its subscriptions, and leaves the others alone', async () => {
    serveSubscribers({ 'user:alice': ['sender', 'stale', 'other'] }, 10);
    delivery.gone.add('stale');

    const result = await fanOut([statusRecord('user:alice')], deps());

    expect(result).toMatchObject({ delivered: 2, gone: 1, failed: 0, batchItemFailures: [] });
    expect(deletedKeys()).toEqual(expect.arrayContaining([{ pk: 'conn#stale', sk: 'conn' }, { pk: 'chan#user:alice', sk: 'stale' }]));
    expect(deletedKeys().every((key) => key?.['pk'] === 'conn#stale' || key?.['sk'] === 'stale')).toBe(true);
  });

  it('leaves a connection that is still connecting alone when API Gateway calls it Gone', async () => {
    serveSubscribers({ 'user:alice': ['connecting'] }, 10);
    ddb.on(GetCommand).resolves({ Item: { pk: 'conn#connecting', sk: 'conn', connectionId: 'connecting', userId: 'bob', connectedAt: Date.now() - 500 } });
    delivery.gone.add('connecting');

    const result = await fanOut([statusRecord('user:alice')], deps());

    expect(result.gone).toBe(1);
    expect(deletedKeys()).toEqual([]);
  });

  it('sends nothing more to a connection once it is Gone in the same batch, and removes it once', async () => {
    serveSubscribers({ 'user:alice': ['stale'] }, 10);
    delivery.gone.add('stale');

    const result = await fanOut(
      [statusRecord('user:alice', aStatus({ id: '01JD0000000000000000000001' })), statusRecord('user:alice', aStatus({ id: '01JD0000000000000000000002' }))],
      deps({ concurrency: 1 }),
    );

    expect(delivery.sentTo()).toEqual(['stale']);
    expect(ddb.commandCalls(GetCommand)).toHaveLength(1);
    expect(deletedKeys().filter((key) => key?.['pk'] === 'conn#stale')).toHaveLength(1);
    // Nobody received either status, so neither has a latency to report.
    expect(result).toMatchObject({ delivered: 0, gone: 1, latencies: [] });
  });

  it('never has more posts in flight than the concurrency bound', async () => {
    serveSubscribers({ 'user:alice': Array.from({ length: 60 }, (_, i) => `c${i}`), 'user:bob': Array.from({ length: 60 }, (_, i) => `d${i}`) }, 25);
    let inFlight = 0;
    let peak = 0;
    delivery.hold = async () => {
      peak = Math.max(peak, ++inFlight);
      await new Promise((resolve) => setTimeout(resolve, 2));
      inFlight--;
    };

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
    delivery.hold = async (connectionId, frame) => {
      // The first status is the slowest to deliver; it must still arrive first on its channel.
      await new Promise((resolve) => setTimeout(resolve, textOf(frame) === 'first' ? 30 : 1));
      order.push(`${connectionId}:${textOf(frame)}`);
    };

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

  it('counts a delivery that still fails after retries, sends it no more, and does not fail the record', async () => {
    serveSubscribers({ 'user:alice': ['a', 'b'] }, 10);
    delivery.failing.add('b');
    const logger = recordingLogger();

    const result = await fanOut([statusRecord('user:alice')], deps({ logger }));

    expect(result).toMatchObject({ delivered: 1, failed: 1, gone: 0, batchItemFailures: [] });
    expect(delivery.sentTo().sort()).toEqual(['a', 'b']);
    expect(deletedKeys()).toEqual([]);
    expect(logger.lines.filter((line) => line.message === 'delivery failed after retries')).toMatchObject([
      { level: 'warn', extra: { connectionId: 'b', error: 'DeliveryError: PostToConnection failed: HTTP 429' } },
    ]);
  });

  it('reports a status\'s latency from its createdAt to its last successful delivery', async () => {
    serveSubscribers({ 'user:alice': ['a', 'b', 'stale'] }, 10);
    delivery.gone.add('stale');
    const createdAt = '2026-11-27T12:00:00.000Z';
    const answeredAfter: Record<string, number> = { a: 100, b: 250, stale: 400 };
    let clock = Date.parse(createdAt);
    delivery.hold = (connectionId) => {
      clock = Date.parse(createdAt) + (answeredAfter[connectionId] ?? 0);
      return Promise.resolve();
    };

    const result = await fanOut([statusRecord('user:alice', aStatus({ createdAt }))], deps({ concurrency: 1, now: () => clock }));

    // The Gone answer came later, but reached nobody.
    expect(result.latencies).toEqual([250]);
  });

  it('reports only the record whose subscribers could not be read', async () => {
    serveSubscribers({ 'user:bob': ['b1'] }, 10);
    ddb.on(QueryCommand, { ExpressionAttributeValues: { ':pk': 'chan#user:alice' } }).rejects(new Error('throttled'));
    const failing = statusRecord('user:alice');
    const fine = statusRecord('user:bob');

    const result = await fanOut([failing, fine], deps());

    expect(result.batchItemFailures).toEqual([{ itemIdentifier: failing.dynamodb?.SequenceNumber }]);
    expect(delivery.sentTo()).toEqual(['b1']);
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
    expect(delivery.sentTo()).toEqual(['b1']);
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
