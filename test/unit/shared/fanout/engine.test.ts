import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { fanOut, type FanOutDeps } from '../../../../shared/fanout/engine';
import { connectionHash, indexOf } from '../../../../shared/fanout/hash-space';
import type { SegmentMessage } from '../../../../shared/fanout/segment-queue';
import { subscriptionKey } from '../../../../shared/store/connection-rows';
import { ConnectionStore } from '../../../../shared/store/connections';
import { SubscriptionStore } from '../../../../shared/store/subscriptions';
import { notificationItem, statusItem } from '../../../../shared/store/items';
import { FakeDelivery, frameOf } from '../../../support/fake-delivery';
import { recordingLogger } from '../../../support/logger';
import { SubscriptionTable } from '../../../support/subscription-table';
import { aStatus, insertRecord, statusRecord } from '../../../support/stream';

const ddb = mockClient(DynamoDBDocumentClient);

const textOf = (frame: unknown): string => (frame as { status: { text: string } }).status.text;

let delivery: FakeDelivery;
let table: SubscriptionTable;
let queued: SegmentMessage[][];

/** Subscribers per channel, in the Connections table as the stores write them. */
function serveSubscribers(byChannel: Record<string, string[]>) {
  for (const [channel, ids] of Object.entries(byChannel)) table.subscribe(channel, ids);
}

/** Channels with more than 4 subscribers in a write shard (16 in all, about) go to the queue. */
const plan = { directPerShard: 4, groups: 8, segmentSize: 3, maxSegments: 64, receiveBatch: 10, queuedFor: 60_000, directBudget: 10_000 };

function deps(overrides: Partial<FanOutDeps> = {}): FanOutDeps {
  const db = DynamoDBDocumentClient.from(new DynamoDBClient({}));
  const connections = new ConnectionStore(db, 'Connections');
  return {
    connections,
    subscriptions: new SubscriptionStore(db, 'Connections', connections),
    delivery,
    queue: { send: (segments) => Promise.resolve(void queued.push([...segments])) },
    plan,
    concurrency: 8,
    logger: recordingLogger(),
    ...overrides,
  };
}

const deletedKeys = () =>
  ddb.commandCalls(BatchWriteCommand).flatMap((call) => call.args[0].input.RequestItems?.['Connections']?.map((r) => r.DeleteRequest?.Key) ?? []);

beforeEach(() => {
  ddb.reset();
  delivery = new FakeDelivery();
  table = new SubscriptionTable(ddb);
  queued = [];
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
  it('delivers a small channel itself, from one strongly consistent Query per write shard, the same serialized frame to each', async () => {
    const subscribers = Array.from({ length: 8 }, (_, i) => `c${i}`);
    serveSubscribers({ 'user:alice': subscribers });
    const status = aStatus();

    const result = await fanOut([statusRecord('user:alice', status)], deps());

    expect(table.queries.map((query): unknown => query.ExpressionAttributeValues?.[':pk'])).toEqual(['chan#user:alice#0', 'chan#user:alice#1', 'chan#user:alice#2', 'chan#user:alice#3']);
    for (const query of table.queries) expect(query).toMatchObject({ ConsistentRead: true });
    expect(queued).toEqual([]);
    expect(delivery.sentTo().sort()).toEqual(subscribers);
    // One payload for the record, serialized and hashed once, handed to every post.
    const payloads = new Set(delivery.posts.map((post) => post.data));
    expect(payloads.size).toBe(1);
    expect(delivery.posts.map((post) => frameOf(post.data))).toEqual(subscribers.map(() => ({ type: 'status', channel: 'user:alice', status })));
    expect(result).toMatchObject({ delivered: 8, gone: 0, failed: 0, batchItemFailures: [] });
  });

  it('closes, and delivers nothing to, subscribers whose token has expired, at the cost of one comparison each', async () => {
    const nowSeconds = Math.floor(Date.now() / 1000);
    table.subscribe('user:alice', ['live1', 'live2'], { tokenExpiresAt: nowSeconds + 60 });
    table.subscribe('user:alice', ['stale1', 'stale2'], { tokenExpiresAt: nowSeconds - 1 });
    // A row written before rows carried the expiry is delivered to, as before.
    table.subscribe('user:alice', ['unknown']);
    const closed: string[] = [];

    const result = await fanOut([statusRecord('user:alice', aStatus())], deps({ close: (id) => Promise.resolve(void closed.push(id)) }));

    expect(delivery.sentTo().sort()).toEqual(['live1', 'live2', 'unknown']);
    expect(closed.sort()).toEqual(['stale1', 'stale2']);
    expect(result).toMatchObject({ delivered: 3, expired: 2, batchItemFailures: [] });
    for (const query of table.queries) expect(query.ProjectionExpression).toContain('tokenExpiresAt');
  });

  it('logs and skips a row it cannot read, and goes on with its channel’s later records', async () => {
    serveSubscribers({ 'user:alice': ['c1'] });
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
    serveSubscribers({ 'inbox:bob': ['b1'] });
    const reply = aStatus({ replyTo: '01JD0000000000000000000000', thread: '01JD0000000000000000000000' });
    const record = insertRecord(notificationItem('inbox:bob', { id: reply.id, kind: 'reply', from: 'alice', status: reply, at: reply.createdAt }));

    await fanOut([record], deps());

    expect(delivery.posts.map((post) => frameOf(post.data))).toEqual([{
      type: 'notification',
      notification: { id: reply.id, kind: 'reply', from: 'alice', status: reply, at: reply.createdAt },
    }]);
  });

  it('removes a connection that is Gone, with its subscriptions, and leaves the others alone', async () => {
    serveSubscribers({ 'user:alice': ['sender', 'stale', 'other'] });
    delivery.gone.add('stale');

    const result = await fanOut([statusRecord('user:alice')], deps());

    expect(result).toMatchObject({ delivered: 2, gone: 1, failed: 0, batchItemFailures: [] });
    expect(deletedKeys()).toEqual(expect.arrayContaining([{ pk: 'conn#stale', sk: 'conn' }, subscriptionKey('user:alice', 'stale')]));
    expect(deletedKeys().every((key) => key?.['pk'] === 'conn#stale' || String(key?.['sk']).endsWith('#stale'))).toBe(true);
  });

  it('leaves a connection that is still connecting alone when API Gateway calls it Gone', async () => {
    serveSubscribers({ 'user:alice': ['connecting'] });
    ddb.on(GetCommand).resolves({ Item: { pk: 'conn#connecting', sk: 'conn', connectionId: 'connecting', userId: 'bob', connectedAt: Date.now() - 500 } });
    delivery.gone.add('connecting');

    const result = await fanOut([statusRecord('user:alice')], deps());

    expect(result.gone).toBe(1);
    expect(deletedKeys()).toEqual([]);
  });

  it('sends nothing more to a connection once it is Gone in the same batch, and removes it once', async () => {
    serveSubscribers({ 'user:alice': ['stale'] });
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
    serveSubscribers({ 'user:alice': Array.from({ length: 60 }, (_, i) => `c${i}`), 'user:bob': Array.from({ length: 60 }, (_, i) => `d${i}`) });
    let inFlight = 0;
    let peak = 0;
    delivery.hold = async () => {
      peak = Math.max(peak, ++inFlight);
      await new Promise((resolve) => setTimeout(resolve, 2));
      inFlight--;
    };

    jest.useFakeTimers();

    const running = fanOut([statusRecord('user:alice'), statusRecord('user:bob')], deps({ concurrency: 5, plan: { ...plan, directPerShard: 100 } }));
    await jest.runAllTimersAsync();
    const result = await running;

    expect(result.delivered).toBe(120);
    expect(peak).toBe(5);
  });

  it("keeps a channel's records in stream order, and fans out other channels alongside", async () => {
    serveSubscribers({ 'user:alice': ['a'], 'user:bob': ['b'] });
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
    serveSubscribers({ 'user:alice': ['a', 'b'] });
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
    serveSubscribers({ 'user:alice': ['a', 'b', 'stale'] });
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
    serveSubscribers({ 'user:bob': ['b1'] });
    table.failWhen = (query) => String(query.ExpressionAttributeValues?.[':pk']).startsWith('chan#user:alice#');
    const failing = statusRecord('user:alice');
    const fine = statusRecord('user:bob');

    const result = await fanOut([failing, fine], deps());

    expect(result.batchItemFailures).toEqual([{ itemIdentifier: failing.dynamodb?.SequenceNumber }]);
    expect(delivery.sentTo()).toEqual(['b1']);
  });

  it("stops a channel at its first failed record, since Lambda will send that record and the later ones again", async () => {
    serveSubscribers({ 'user:bob': ['b1'], 'user:alice': ['a1'] });
    let aliceQueries = 0;
    table.failWhen = (query) => String(query.ExpressionAttributeValues?.[':pk']).startsWith('chan#user:alice#') && ++aliceQueries === 1;
    const failing = statusRecord('user:alice', aStatus({ id: '01JD0000000000000000000001' }));

    const result = await fanOut([failing, statusRecord('user:alice', aStatus({ id: '01JD0000000000000000000002' })), statusRecord('user:bob')], deps());

    expect(result.batchItemFailures).toEqual([{ itemIdentifier: failing.dynamodb?.SequenceNumber }]);
    // The first of alice's shard Queries failed; the record's other three were already in flight, the next record's never sent.
    expect(table.queries.filter((query) => String(query.ExpressionAttributeValues?.[':pk']).startsWith('chan#user:alice#'))).toHaveLength(4);
    expect(delivery.sentTo()).toEqual(['b1']);
  });

  it('ignores rows that are not new deliverable items', async () => {
    serveSubscribers({ 'user:alice': ['a'] });
    const status = aStatus();

    const result = await fanOut(
      [insertRecord(statusItem(`status:${status.id}`, status)), insertRecord(statusItem('user:alice', status), 'MODIFY')],
      deps(),
    );

    expect(table.queries).toHaveLength(0);
    expect(result).toMatchObject({ delivered: 0, batchItemFailures: [] });
  });

  it('queues the channels past its budget of direct posts, so a batch of many channels cannot outlast the invocation', async () => {
    serveSubscribers({ 'user:alice': ['a1', 'a2', 'a3'], 'user:bob': ['b1', 'b2', 'b3'] });

    const result = await fanOut([statusRecord('user:alice'), statusRecord('user:bob')], deps({ plan: { ...plan, directBudget: 4 } }));

    // One of the two went first and fit; the other was queued.
    expect(result).toMatchObject({ delivered: 3, queued: 1, batchItemFailures: [] });
    const direct = new Set(delivery.sentTo().map((id) => (id.startsWith('a') ? 'user:alice' : 'user:bob')));
    const viaQueue = new Set(queued.flat().map((segment) => segment.channel));
    expect([...direct, ...viaQueue].sort()).toEqual(['user:alice', 'user:bob']);
  });

  describe('a large channel', () => {
    const many = (n: number, prefix = 'c') => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

    it('is cut into segments for the delivery workers, which cover every subscriber exactly once, and delivered by none of its own posts', async () => {
      const subscribers = many(40);
      serveSubscribers({ 'user:alice': subscribers });
      const status = aStatus();

      const result = await fanOut([statusRecord('user:alice', status)], deps());

      expect(delivery.posts).toEqual([]);
      expect(queued).toHaveLength(1);
      const segments = queued[0] ?? [];
      expect(result).toMatchObject({ queued: 1, segments: segments.length, delivered: 0, batchItemFailures: [] });
      for (const segment of segments) {
        expect(segment).toMatchObject({ channel: 'user:alice', statusId: status.id, createdAt: status.createdAt });
        expect(JSON.parse(segment.frame)).toEqual({ type: 'status', channel: 'user:alice', status });
        // Each segment lies inside its group's eighth of the hash space.
        expect(indexOf(segment.range.lo, plan.groups)).toBe(segment.group);
        expect(indexOf(segment.range.hi - 1, plan.groups)).toBe(segment.group);
      }
      expect(new Set(segments.map((segment) => segment.index)).size).toBe(segments.length);
      for (const id of subscribers) {
        const hash = connectionHash(id);
        expect(segments.filter((segment) => hash >= segment.range.lo && hash < segment.range.hi)).toHaveLength(1);
      }
    });

    it('marks the channel as queued, once while the mark is fresh, so a later status cannot overtake it by going direct', async () => {
      serveSubscribers({ 'user:alice': many(40) });
      let clock = Date.parse('2026-11-27T12:00:00.000Z');

      await fanOut([statusRecord('user:alice', aStatus({ id: '01JD0000000000000000000001' }))], deps({ now: () => clock }));
      clock += 10_000;
      await fanOut([statusRecord('user:alice', aStatus({ id: '01JD0000000000000000000002' }))], deps({ now: () => clock }));

      const marks = table.rows.filter((row) => row['sk'] === '#tree');
      expect(marks).toEqual([{ pk: 'chan#user:alice#0', sk: '#tree', queuedUntil: Date.parse('2026-11-27T12:00:00.000Z') + plan.queuedFor, expiresAt: expect.any(Number) as unknown }]);
      expect(queued).toHaveLength(2);
    });

    it('keeps a channel that shrank on the queue while its mark holds, and delivers it directly after', async () => {
      serveSubscribers({ 'user:alice': many(2) });
      const now = Date.now();
      table.rows.push({ pk: 'chan#user:alice#0', sk: '#tree', queuedUntil: now + 1_000 });

      await fanOut([statusRecord('user:alice', aStatus({ id: '01JD0000000000000000000001' }))], deps({ now: () => now }));
      expect(queued).toHaveLength(1);
      expect(delivery.posts).toEqual([]);

      // Queuing renewed the mark for queuedFor from then.
      await fanOut([statusRecord('user:alice', aStatus({ id: '01JD0000000000000000000002' }))], deps({ now: () => now + plan.queuedFor + 1 }));
      expect(queued).toHaveLength(1);
      expect(delivery.sentTo().sort()).toEqual(['c0', 'c1']);
    });

    it('fails the record, and its channel stops there, when the queue does not take the segments', async () => {
      serveSubscribers({ 'user:alice': many(40) });
      const first = statusRecord('user:alice', aStatus({ id: '01JD0000000000000000000001' }));
      const queue = { send: jest.fn(() => Promise.reject(new Error('SQS refused'))) };

      const result = await fanOut([first, statusRecord('user:alice', aStatus({ id: '01JD0000000000000000000002' }))], deps({ queue }));

      expect(result.batchItemFailures).toEqual([{ itemIdentifier: first.dynamodb?.SequenceNumber }]);
      expect(queue.send).toHaveBeenCalledTimes(1);
    });
  });
});
