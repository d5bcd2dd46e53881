import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DeliveryClient } from '../../../../shared/fanout/delivery-client';
import { fanOut } from '../../../../shared/fanout/engine';
import { ConnectionStore } from '../../../../shared/store/connections';
import { SubscriptionStore } from '../../../../shared/store/subscriptions';
import { recordingLogger } from '../../../support/logger';
import { aStatus, statusRecord } from '../../../support/stream';
import { SubscriptionTable } from '../../../support/subscription-table';

/**
 * The engine with the real DeliveryClient (signing, retries with backoff and
 * jitter, kept-alive sockets) against a local HTTP server that answers as the
 * Management API does.
 */
const ddb = mockClient(DynamoDBDocumentClient);
type Answer = (attempt: number) => { status: number; errorType?: string };

let server: Server;
let endpoint: string;
let answers: Record<string, Answer>;
let attempts: Record<string, number>;
/** What each connection was sent, as the server received it. */
let bodies: Record<string, string[]>;
let sockets: number;

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const id = decodeURIComponent(req.url?.split('/@connections/')[1] ?? '');
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      attempts[id] = (attempts[id] ?? 0) + 1;
      (bodies[id] ??= []).push(Buffer.concat(chunks).toString());
      const answer = (answers[id] ?? ((): ReturnType<Answer> => ({ status: 200 })))(attempts[id]);
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (answer.errorType) headers['x-amzn-ErrorType'] = answer.errorType;
      res.writeHead(answer.status, headers).end(answer.status === 200 ? '' : JSON.stringify({ message: answer.errorType }));
    });
  });
  server.on('connection', () => sockets++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/dev`;
});

afterAll(() => new Promise((resolve) => server.close(resolve)));

beforeEach(() => {
  ddb.reset();
  answers = {};
  attempts = {};
  bodies = {};
  sockets = 0;
  ddb.on(BatchWriteCommand).resolves({});
  ddb.on(GetCommand).resolves({ Item: { connectionId: 'gone', userId: 'bob', connectedAt: Date.now() - 60_000 } });
});

function subscribers(ids: string[]) {
  new SubscriptionTable(ddb).subscribe('user:alice', ids);
}

/** Every channel here is small enough to be delivered directly. */
const plan = { directPerShard: 1000, groups: 8, segmentSize: 1000, maxSegments: 64, receiveBatch: 10, queuedFor: 60_000, directBudget: 10_000 };
const noQueue = { send: () => Promise.reject(new Error('no channel here is large enough to be queued')) };

async function run(concurrency = 4, record = statusRecord('user:alice')) {
  const delivery = new DeliveryClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, maxSockets: concurrency });
  const db = DynamoDBDocumentClient.from(new DynamoDBClient({}));
  const connections = new ConnectionStore(db, 'Connections');
  const subscriptions = new SubscriptionStore(db, 'Connections', connections);
  try {
    return await fanOut([record], { connections, subscriptions, delivery, queue: noQueue, plan, concurrency, logger: recordingLogger() });
  } finally {
    await delivery.destroy();
  }
}

describe('delivery through the lean Management API client', () => {
  it("posts the record's frame to each subscriber's connection", async () => {
    subscribers(['c1', 'c2']);
    const status = aStatus();

    const result = await run(4, statusRecord('user:alice', status));

    expect(result).toMatchObject({ delivered: 2, gone: 0, failed: 0 });
    const frame = { type: 'status', channel: 'user:alice', status };
    expect(Object.fromEntries(Object.entries(bodies).map(([id, sent]) => [id, sent.map((body) => JSON.parse(body) as unknown)]))).toEqual({ c1: [frame], c2: [frame] });
  });

  it('retries a throttled post and delivers it', async () => {
    subscribers(['busy']);
    answers['busy'] = (attempt) => (attempt === 1 ? { status: 429, errorType: 'LimitExceededException' } : { status: 200 });

    const result = await run();

    expect(attempts['busy']).toBe(2);
    expect(result).toMatchObject({ delivered: 1, failed: 0 });
  });

  it('retries 5xx up to the attempt cap, then counts the delivery as failed', async () => {
    subscribers(['broken', 'fine']);
    answers['broken'] = () => ({ status: 500, errorType: 'InternalServerErrorException' });

    const result = await run();

    expect(attempts['broken']).toBe(3);
    expect(result).toMatchObject({ delivered: 1, failed: 1, batchItemFailures: [] });
  });

  it('recognises API Gateway 410 GoneException without retrying it, and removes the stale connection', async () => {
    subscribers(['stale']);
    answers['stale'] = () => ({ status: 410, errorType: 'GoneException' });

    const result = await run();

    expect(attempts['stale']).toBe(1);
    expect(result).toMatchObject({ gone: 1, failed: 0 });
    const deleted = ddb.commandCalls(BatchWriteCommand).flatMap((call) => call.args[0].input.RequestItems?.['Connections']?.map((r) => r.DeleteRequest?.Key) ?? []);
    expect(deleted).toContainEqual({ pk: 'conn#stale', sk: 'conn' });
  });

  it('counts a refusal that another try cannot change (403) as failed, without retrying or removing anything', async () => {
    subscribers(['forbidden', 'fine']);
    answers['forbidden'] = () => ({ status: 403, errorType: 'ForbiddenException' });

    const result = await run();

    expect(attempts['forbidden']).toBe(1);
    expect(result).toMatchObject({ delivered: 1, failed: 1, gone: 0, batchItemFailures: [] });
    expect(ddb.commandCalls(BatchWriteCommand)).toHaveLength(0);
  });

  it('keeps sockets alive: many posts share at most `concurrency` connections', async () => {
    subscribers(Array.from({ length: 40 }, (_, i) => `c${i}`));

    const result = await run(4);

    expect(result.delivered).toBe(40);
    expect(sockets).toBeGreaterThanOrEqual(1);
    expect(sockets).toBeLessThanOrEqual(4);
  });
});
