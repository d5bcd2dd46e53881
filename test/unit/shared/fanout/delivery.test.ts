import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { managementClient } from '../../../../shared/clients';
import { fanOut } from '../../../../shared/fanout/engine';
import { ConnectionStore } from '../../../../shared/store/connections';
import { SubscriptionStore } from '../../../../shared/store/subscriptions';
import { recordingLogger } from '../../../support/logger';
import { statusRecord } from '../../../support/stream';

/**
 * The real Management API client, with its retry strategy and keep-alive
 * agent, against a local HTTP server that answers as API Gateway does.
 */
const ddb = mockClient(DynamoDBDocumentClient);
type Answer = (attempt: number) => { status: number; errorType?: string };

let server: Server;
let endpoint: string;
let answers: Record<string, Answer>;
let attempts: Record<string, number>;
let sockets: number;

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const id = decodeURIComponent(req.url?.split('/@connections/')[1] ?? '');
    req.resume();
    req.on('end', () => {
      attempts[id] = (attempts[id] ?? 0) + 1;
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
  sockets = 0;
  ddb.on(BatchWriteCommand).resolves({});
  ddb.on(GetCommand).resolves({ Item: { connectionId: 'gone', userId: 'bob', connectedAt: Date.now() - 60_000 } });
});

function subscribers(ids: string[]) {
  ddb.on(QueryCommand, { TableName: 'Connections' }).resolves({ Items: ids.map((sk) => ({ sk })) });
}

async function run(concurrency = 4) {
  const gateway = managementClient(endpoint, concurrency);
  const db = DynamoDBDocumentClient.from(new DynamoDBClient({}));
  const connections = new ConnectionStore(db, 'Connections');
  const subscriptions = new SubscriptionStore(db, 'Connections', connections);
  try {
    return await fanOut([statusRecord('user:alice')], { connections, subscriptions, gateway, concurrency, logger: recordingLogger() });
  } finally {
    gateway.destroy();
  }
}

describe('delivery through the Management API client', () => {
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

  it('recognises API Gateway 410 GoneException without retrying it', async () => {
    subscribers(['stale']);
    answers['stale'] = () => ({ status: 410, errorType: 'GoneException' });

    const result = await run();

    expect(attempts['stale']).toBe(1);
    expect(result).toMatchObject({ gone: 1, failed: 0 });
  });

  it('keeps sockets alive: many posts share at most `concurrency` connections', async () => {
    subscribers(Array.from({ length: 40 }, (_, i) => `c${i}`));

    const result = await run(4);

    expect(result.delivered).toBe(40);
    expect(sockets).toBeGreaterThanOrEqual(1);
    expect(sockets).toBeLessThanOrEqual(4);
  });
});
