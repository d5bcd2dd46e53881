import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GetConnectionCommand,
  GoneException,
  PayloadTooLargeException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { BatchWriteCommand, GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { LocalStack } from '../support/local-stack';
import type { TestClient } from '../support/ws-client';
import { subscriptionKey } from '../../shared/store/connection-rows';

/**
 * The Management API on the local port, reached by the real SDK client
 * through its endpoint setting alone, signing requests as it would on AWS.
 */
let stack: LocalStack;
let api: ApiGatewayManagementApiClient;

beforeAll(async () => {
  stack = await LocalStack.start();
  api = new ApiGatewayManagementApiClient({
    endpoint: `${stack.httpUrl}/dev`,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' },
  });
});

afterAll(async () => {
  api.destroy();
  expect(await stack.stop()).toBe(0);
});

/** The connection id API Gateway gave a client: clients never see it, so read it from the table. */
async function connectionIdOf(user: string): Promise<string> {
  const { Items = [] } = await stack.documentClient().send(new ScanCommand({ TableName: stack.tableName('Connections') }));
  const row = Items.find((item) => item['sk'] === 'conn' && item['userId'] === user);
  if (!row) throw new Error(`no connection row for ${user}`);
  return row['connectionId'] as string;
}

async function connected(user: string): Promise<{ client: TestClient; id: string }> {
  const client = await stack.connect(user);
  return { client, id: await connectionIdOf(user) };
}

describe('Management API', () => {
  it('POST delivers data to the connection', async () => {
    const { client, id } = await connected('mgmt-post');

    await api.send(new PostToConnectionCommand({ ConnectionId: id, Data: Buffer.from(JSON.stringify({ type: 'pong', id: 'from-server' })) }));

    expect(await client.next((f) => f.id === 'from-server')).toEqual({ type: 'pong', id: 'from-server' });
    await client.close();
  });

  it('GET describes the connection', async () => {
    const before = Date.now();
    const { client, id } = await connected('mgmt-get');

    const info = await api.send(new GetConnectionCommand({ ConnectionId: id }));

    expect(info.ConnectedAt).toBeInstanceOf(Date);
    expect(info.ConnectedAt?.getTime()).toBeGreaterThanOrEqual(before - 1000);
    expect(info.LastActiveAt).toBeInstanceOf(Date);
    expect(info.Identity).toMatchObject({ SourceIp: '127.0.0.1' });
    await client.close();
  });

  it('DELETE closes the socket with 1000, and $disconnect removes its rows', async () => {
    const { client, id } = await connected('mgmt-delete');
    await client.request({ action: 'subscribe', channels: ['user:someone'] });

    await api.send(new DeleteConnectionCommand({ ConnectionId: id }));

    expect(await client.closed).toEqual({ code: 1000, reason: 'Connection Closed Normally' });
    await expect(waitFor(async () => !(await rowExists(`conn#${id}`, 'conn')) && !(await subscribed('user:someone', id)))).resolves.toBe(true);
  });

  it('answers 410 GoneException, as the SDK knows it, for a closed or unknown connection', async () => {
    const { client, id } = await connected('mgmt-gone');
    await client.close();

    for (const connectionId of [id, 'AAAAAAAAAAAAAAA=']) {
      const error = await api.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from('{}') })).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(GoneException);
      expect((error as GoneException).$metadata.httpStatusCode).toBe(410);
    }
  });

  it('refuses a message over 128 KB with 413', async () => {
    const { client, id } = await connected('mgmt-big');

    const error = await api.send(new PostToConnectionCommand({ ConnectionId: id, Data: Buffer.alloc(128 * 1024 + 1, 'a') })).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PayloadTooLargeException);
    expect((error as PayloadTooLargeException).$metadata.httpStatusCode).toBe(413);
    await client.close();
  });
});

describe('fan-out to a dead client', () => {
  it('removes the rows of a connection that is Gone, and still delivers to the live ones', async () => {
    // A client whose $disconnect never ran (API Gateway delivers it on a best-effort basis):
    // its rows are still in the table, but the connection is gone.
    const ghost = 'GhostConnectn0=';
    const db = stack.documentClient();
    const expiresAt = Math.floor(Date.now() / 1000) + 3600;
    await db.send(
      new BatchWriteCommand({
        RequestItems: {
          [stack.tableName('Connections')]: [
            {
              PutRequest: {
                Item: { pk: `conn#${ghost}`, sk: 'conn', connectionId: ghost, userId: 'ghost', connectedAt: Date.now() - 60_000, expiresAt, followed: 'user:poster', channels: new Set(['user:other']) },
              },
            },
            { PutRequest: { Item: { ...subscriptionKey('user:poster', ghost), expiresAt } } },
            { PutRequest: { Item: { ...subscriptionKey('user:other', ghost), expiresAt } } },
          ],
        },
      }),
    );
    const poster = await stack.connect('poster');
    const live = await stack.connect('listener');
    await live.request({ action: 'subscribe', channels: ['user:poster'] });

    const posted = await poster.request({ action: 'post', text: 'anyone there?' });

    await live.next((f) => f.type === 'status' && (f['status'] as { id: string }).id === (posted['status'] as { id: string }).id);
    await expect(waitFor(async () => !(await rowExists(`conn#${ghost}`, 'conn')))).resolves.toBe(true);
    expect(await subscribed('user:poster', ghost)).toBe(false);
    expect(await subscribed('user:other', ghost)).toBe(false);
    expect(await connectionIdOf('poster')).toBeTruthy();
    await Promise.all([poster.close(), live.close()]);
  });
});

async function rowExists(pk: string, sk: string): Promise<boolean> {
  const { Item } = await stack.documentClient().send(new GetCommand({ TableName: stack.tableName('Connections'), Key: { pk, sk }, ConsistentRead: true }));
  return Item !== undefined;
}

/** Whether the connection's subscription row to the channel exists, under the key the stores write. */
async function subscribed(channel: string, connectionId: string): Promise<boolean> {
  const key = subscriptionKey(channel, connectionId);
  return rowExists(String(key['pk']), String(key['sk']));
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}
