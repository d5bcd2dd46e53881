import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DeliveryClient } from '../../../../shared/fanout/delivery-client';
import { connectionHash, indexOf } from '../../../../shared/fanout/hash-space';
import { fanOut } from '../../../../shared/fanout/engine';
import { Pacer } from '../../../../shared/fanout/pacer';
import { encodeSegment, messageGroupId, type SegmentMessage } from '../../../../shared/fanout/segment-queue';
import { deliverSegments, type SegmentRecord, type WorkerDeps } from '../../../../shared/fanout/worker';
import { ConnectionStore } from '../../../../shared/store/connections';
import { SubscriptionStore } from '../../../../shared/store/subscriptions';
import { FakeDelivery, frameOf } from '../../../support/fake-delivery';
import { recordingLogger } from '../../../support/logger';
import { aStatus, statusRecord } from '../../../support/stream';
import { SubscriptionTable } from '../../../support/subscription-table';
import { until } from '../../../support/until';

const ddb = mockClient(DynamoDBDocumentClient);
const plan = { directPerShard: 4, groups: 8, segmentSize: 5, maxSegments: 64, receiveBatch: 10, queuedFor: 60_000, directBudget: 10_000 };
const subscribers = Array.from({ length: 60 }, (_, i) => `c${i}`);

let table: SubscriptionTable;
let delivery: FakeDelivery;

function stores() {
  const db = DynamoDBDocumentClient.from(new DynamoDBClient({}));
  const connections = new ConnectionStore(db, 'Connections');
  return { connections, subscriptions: new SubscriptionStore(db, 'Connections', connections) };
}

const workerDeps = (overrides: Partial<WorkerDeps> = {}): WorkerDeps => ({ ...stores(), delivery, concurrency: 8, pageSize: 2, logger: recordingLogger(), ...overrides });

/** The stream consumer's queued messages for these statuses, in the order SQS would keep them. */
async function queue(...texts: string[]): Promise<SegmentRecord[]> {
  const sent: SegmentMessage[] = [];
  const records = texts.map((text, i) => statusRecord('user:alice', aStatus({ id: `01JD000000000000000000000${i}`, text })));
  const result = await fanOut(records, { ...stores(), delivery, concurrency: 8, logger: recordingLogger(), plan, queue: { send: (segments) => Promise.resolve(void sent.push(...segments)) } });
  expect(result).toMatchObject({ queued: texts.length, batchItemFailures: [] });
  return sent.map((segment, i) => ({ messageId: `m${i}`, groupId: messageGroupId(segment.channel, segment.group), body: encodeSegment(segment) }));
}

/**
 * SQS FIFO's hand-over: batches of up to 10, in queue order; a group's messages go out only
 * when none of that group is in flight, so `invocations` batches at once never share a group.
 */
async function receiveAsFifo<T>(messages: readonly SegmentRecord[], invocations: number, invoke: (batch: SegmentRecord[]) => Promise<T>): Promise<T[]> {
  const waiting = [...messages];
  const busy = new Set<string>();
  const results: T[] = [];
  const poller = async (): Promise<void> => {
    while (waiting.length > 0) {
      const batch: SegmentRecord[] = [];
      const held = new Set<string>();
      for (const message of waiting) {
        if (batch.length === 10) break;
        // A group stays in order: nothing of it behind a message that is not taken.
        if (busy.has(message.groupId) && !held.has(message.groupId)) continue;
        batch.push(message);
        busy.add(message.groupId);
        held.add(message.groupId);
      }
      if (batch.length === 0) {
        await new Promise((resolve) => setTimeout(resolve, 1));
        continue;
      }
      for (const message of batch) waiting.splice(waiting.indexOf(message), 1);
      results.push(await invoke(batch));
      for (const group of held) busy.delete(group);
    }
  };
  await Promise.all(Array.from({ length: invocations }, poller));
  return results;
}

/** What each connection received, in order. */
function received(): Record<string, string[]> {
  const byConnection: Record<string, string[]> = {};
  for (const post of delivery.posts) (byConnection[post.connectionId] ??= []).push((frameOf(post.data) as { status: { text: string } }).status.text);
  return byConnection;
}

beforeEach(() => {
  ddb.reset();
  table = new SubscriptionTable(ddb).subscribe('user:alice', subscribers);
  delivery = new FakeDelivery();
  ddb.on(BatchWriteCommand).resolves({});
  ddb.on(GetCommand).resolves({});
});

describe('deliverSegments', () => {
  it('delivers every queued segment to the subscribers in its range: each subscriber once per status, in order, even when later segments go faster', async () => {
    const messages = await queue('first', 'second', 'third');
    // Deliveries of the first status are the slowest; SQS hands the messages over in batches of 10, several at once.
    delivery.hold = async (_, frame) => {
      const text = (frame as { status: { text: string } }).status.text;
      await new Promise((resolve) => setTimeout(resolve, text === 'first' ? 3 : 0));
    };
    const results = await receiveAsFifo(messages, 3, (batch) => deliverSegments(batch, workerDeps()));

    expect(results.every((result) => result.batchItemFailures.length === 0)).toBe(true);
    expect(Object.keys(received()).sort()).toEqual([...subscribers].sort());
    for (const texts of Object.values(received())) expect(texts).toEqual(['first', 'second', 'third']);
    expect(results.reduce((sum, result) => sum + result.delivered, 0)).toBe(180);
    expect(results.reduce((sum, result) => sum + result.segments, 0)).toBe(messages.length);
  });

  it('reads a group’s next segment while the one before is delivered, and posts to it only after', async () => {
    const messages = await queue('only');
    const group = messages.filter((message) => message.groupId === messages[0]?.groupId);
    const [first, second] = group.map((message) => JSON.parse(message.body) as SegmentMessage);
    if (!first || !second) throw new Error('expected two segments in a group');
    const inSegment = (segment: SegmentMessage, id: string) => connectionHash(id) >= segment.range.lo && connectionHash(id) < segment.range.hi;
    expect(subscribers.filter((id) => inSegment(first, id)).length).toBeGreaterThan(0);
    // The first segment's posts stay in flight until released.
    let release: (() => void) | undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    delivery.hold = (connectionId) => (inSegment(first, connectionId) ? released : Promise.resolve());
    const secondLo = second.range.lo.toString(16).padStart(8, '0');

    const done = deliverSegments(group, workerDeps());
    await until(() => table.queries.some((query) => query.ExpressionAttributeValues?.[':lo'] === secondLo), 'the second segment’s first Query');

    expect(delivery.posts.filter((post) => inSegment(second, post.connectionId))).toEqual([]);
    release?.();
    expect(await done).toMatchObject({ segments: group.length, batchItemFailures: [] });
    const order = delivery.posts.map((post) => (inSegment(first, post.connectionId) ? 1 : 2));
    expect(order).toEqual([...order].sort());
    expect(order).toContain(2);
  });

  it('closes, and delivers nothing to, subscribers whose token expired after the segment was queued', async () => {
    const messages = await queue('late');
    // Their tokens expire while the segments wait on the queue.
    const stale = new Set(['c3', 'c17', 'c42']);
    for (const row of table.rows) if (stale.has(String(row['sk']).split('#')[1] ?? '')) row['tokenExpiresAt'] = Math.floor(Date.now() / 1000) - 1;
    const closed: string[] = [];

    const results = await receiveAsFifo(messages, 2, (batch) => deliverSegments(batch, workerDeps({ close: (id) => Promise.resolve(void closed.push(id)) })));

    expect(Object.keys(received()).sort()).toEqual(subscribers.filter((id) => !stale.has(id)).sort());
    expect(closed.sort()).toEqual([...stale].sort());
    expect(results.reduce((sum, result) => sum + result.expired, 0)).toBe(3);
  });

  it("fails a segment whose subscribers cannot be read, and every later message of its group, and goes on with the other groups", async () => {
    const messages = await queue('first', 'second');
    const [broken] = messages;
    if (!broken) throw new Error('nothing queued');
    const brokenSegment = JSON.parse(broken.body) as SegmentMessage;
    table.failWhen = (query) => query.ExpressionAttributeValues?.[':lo'] === brokenSegment.range.lo.toString(16).padStart(8, '0');

    const result = await deliverSegments(messages, workerDeps());

    const sameGroup = messages.filter((message) => message.groupId === broken.groupId);
    expect(result.batchItemFailures).toEqual(sameGroup.map((message) => ({ itemIdentifier: message.messageId })));
    expect(sameGroup.length).toBeGreaterThanOrEqual(2);
    // Everyone outside the broken segment's group received both statuses; nobody in it received anything.
    const outside = subscribers.filter((id) => indexOf(connectionHash(id), plan.groups) !== brokenSegment.group);
    expect(Object.keys(received()).sort()).toEqual([...outside].sort());
    for (const texts of Object.values(received())) expect(texts).toEqual(['first', 'second']);
  });

  it('logs and skips a message it cannot read, without holding up its group', async () => {
    const [good] = await queue('fine');
    if (!good) throw new Error('nothing queued');
    const logger = recordingLogger();

    const result = await deliverSegments([{ messageId: 'bad', groupId: good.groupId, body: '{"not":"a segment"}' }, good], workerDeps({ logger }));

    expect(result.batchItemFailures).toEqual([]);
    expect(result.segments).toBe(1);
    expect(logger.lines).toEqual(expect.arrayContaining([expect.objectContaining({ level: 'error', message: 'skipped a malformed segment' })]));
  });
});

describe('deliverSegments within its invocation', () => {
  it('starts no segment without its reserve of time left, and hands it and the rest of its group back in order', async () => {
    const messages = await queue('first', 'second');
    let left = 60_000;
    // Each segment's posts take 2 s of the invocation.
    delivery.hold = () => {
      left -= 2_000 / 3;
      return Promise.resolve();
    };

    const result = await deliverSegments(messages, workerDeps({ remainingMs: () => left, reserveMs: 50_000, concurrency: 1 }));

    expect(result.segments).toBeGreaterThan(0);
    expect(result.batchItemFailures.length).toBeGreaterThan(0);
    expect(result.segments + result.batchItemFailures.length).toBe(messages.length);
    // What is handed back is, in each group, a tail of its messages: nothing is left behind a later one.
    for (const groupId of new Set(messages.map((message) => message.groupId))) {
      const ids = messages.filter((message) => message.groupId === groupId).map((message) => message.messageId);
      const back = result.batchItemFailures.map((failure) => failure.itemIdentifier).filter((id) => ids.includes(id));
      expect(back).toEqual(ids.slice(ids.length - back.length));
    }
  });

  it('fails a segment whose second page of subscribers cannot be read, with no unhandled rejection', async () => {
    const [first] = await queue('paged');
    if (!first) throw new Error('nothing queued');
    // The second page of every range fails: pages are of 2 here, and the first segment holds more.
    table.failWhen = (query) => query.ExclusiveStartKey !== undefined;
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const result = await deliverSegments([first], workerDeps());
      await new Promise((resolve) => setImmediate(resolve));

      expect(result.batchItemFailures).toEqual([{ itemIdentifier: first.messageId }]);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

describe('pacing under throttling', () => {
  let server: Server;
  let endpoint: string;
  let throttleFirst: number;
  let requests: number;

  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        requests++;
        const status = requests <= throttleFirst ? 429 : 200;
        res.writeHead(status, { 'content-type': 'application/json' }).end(status === 200 ? '' : '{"message":"Too Many Requests"}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/dev`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('halves the worker’s rate when API Gateway answers 429, and still delivers everything through the retries', async () => {
    throttleFirst = 10;
    requests = 0;
    const pacer = new Pacer({ ratePerSecond: 2_000 });
    const client = new DeliveryClient({
      endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      maxSockets: 4,
      maxAttempts: 5,
      backoff: { baseMs: 1, capMs: 5 },
      pacer,
    });
    try {
      const messages = await queue('paced');
      const result = await deliverSegments(messages, workerDeps({ delivery: client, concurrency: 4 }));

      expect(result).toMatchObject({ delivered: 60, failed: 0, batchItemFailures: [] });
      // Every attempt went through the pacer: the 10 throttled ones and their retries.
      expect(requests).toBe(70);
      // Halved at least once (throttles within 100 ms count as one), and not yet back to its share.
      expect(pacer.currentRate).toBeLessThanOrEqual(1_000 + 2_000 / 10);
    } finally {
      await client.destroy();
    }
  });
});
