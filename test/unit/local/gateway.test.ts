// jest's global expect types its asymmetric matchers (expect.any, …) as any; @jest/globals types them.
import { expect } from '@jest/globals';
import { AWS_LIMITS, Gateway, selectRoute } from '../../../local/gateway';
import { HttpServer } from '../../../local/http';
import type { LocalFunction } from '../../../local/lambda';
import type { ApiModel, RouteModel } from '../../../local/template';
import { freePort } from '../../support/local-stack';
import { TestClient } from '../../support/ws-client';

/**
 * The gateway's handshake and message handling, with functions that fail in
 * the ways real ones can: these paths are hard to reach with Updraft's own
 * handlers, which do not fail on purpose.
 */
type Behaviour = (event: Record<string, unknown>) => Promise<unknown>;
const behaviours: Record<string, Behaviour> = {};
const behaviour = (id: string): Behaviour => {
  const found = behaviours[id];
  if (!found) throw new Error(`no behaviour for ${id}`);
  return found;
};
const fakeFunction = (id: string) => ({ invoke: (event: Record<string, unknown>) => behaviour(id)(event), name: id }) as unknown as LocalFunction;

const route = (routeKey: string, extra: Partial<RouteModel> = {}): [string, RouteModel] => [routeKey, { routeKey, functionId: routeKey, twoWay: true, ...extra }];
const api: ApiModel = {
  logicalId: 'Api',
  name: 'test',
  routeSelectionExpression: '$request.body.action',
  stageName: 'dev',
  routes: new Map([
    route('$connect', { twoWay: false, authorizer: { functionId: 'authorizer', identitySource: ['route.request.querystring.token'] } }),
    route('$disconnect', { twoWay: false }),
    route('$default'),
    route('echo'),
    route('oneway', { twoWay: false }),
  ]),
};

const allow = (context: Record<string, string> = { userId: 'u1' }) => ({
  principalId: 'u1',
  policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: 'arn' }] },
  context,
});

let gateway: Gateway;
let server: HttpServer;
let url: string;
const disconnects: Record<string, unknown>[] = [];

beforeAll(async () => {
  const port = await freePort();
  const functions = new Map(['authorizer', '$connect', '$disconnect', '$default', 'echo', 'oneway'].map((id) => [id, fakeFunction(id)]));
  gateway = new Gateway({
    port,
    api,
    identity: { apiId: 'abc', stage: 'dev', domainName: 'localhost', region: 'us-east-1' },
    functions,
    limits: AWS_LIMITS,
    allowedOrigins: new Set([`http://127.0.0.1:${port}`, 'http://localhost:5173']),
    log: () => undefined,
  });
  server = new HttpServer({ host: '127.0.0.1', port, browserRoutes: [], serviceRoutes: [], upgrades: gateway, log: () => undefined });
  await server.listen();
  url = `ws://127.0.0.1:${port}/dev`;
});

afterAll(async () => {
  await gateway.stop();
  await server.close();
});

beforeEach(() => {
  behaviours['authorizer'] = () => Promise.resolve(allow());
  behaviours['$connect'] = () => Promise.resolve({ statusCode: 200 });
  behaviours['$disconnect'] = (event) => {
    disconnects.push(event);
    return Promise.resolve({ statusCode: 200 });
  };
  behaviours['$default'] = (event) => Promise.resolve({ statusCode: 200, body: JSON.stringify({ route: '$default', body: event['body'] }) });
  behaviours['echo'] = (event) => Promise.resolve({ statusCode: 200, body: JSON.stringify({ route: 'echo', context: (event['requestContext'] as { authorizer: unknown }).authorizer }) });
  behaviours['oneway'] = () => Promise.resolve({ statusCode: 200, body: 'never sent' });
});

describe('the handshake', () => {
  it.each([
    ['no token: API Gateway answers itself', () => undefined, '', 401],
    ['the authorizer throws Unauthorized', () => Promise.reject(new Error('Unauthorized')), '?token=x', 401],
    ['the authorizer denies', () => Promise.resolve({ ...allow(), policyDocument: { Statement: [{ Effect: 'Deny' }] } }), '?token=x', 403],
    ['the authorizer fails', () => Promise.reject(new Error('boom')), '?token=x', 500],
  ])('refuses when %s', async (_, authorizer, query, status) => {
    behaviours['authorizer'] = authorizer as Behaviour;
    await expect(TestClient.open(`${url}${query}`)).rejects.toMatchObject({ status });
  });

  it("refuses a page of another origin with 403 before the authorizer runs, and lets the allowed ones and clients without an Origin in", async () => {
    let authorized = 0;
    behaviours['authorizer'] = () => {
      authorized++;
      return Promise.resolve(allow());
    };
    await expect(TestClient.open(`${url}?token=x`, { Origin: 'http://evil.example' })).rejects.toMatchObject({ status: 403 });
    await expect(TestClient.open(`${url}?token=x`, { Origin: 'null' })).rejects.toMatchObject({ status: 403 });
    expect(authorized).toBe(0);
    for (const headers of [{ Origin: url.replace(/^ws/, 'http').replace(/\/dev$/, '') }, { Origin: 'http://localhost:5173' }, {}] as Record<string, string>[]) {
      const client = await TestClient.open(`${url}?token=x`, headers);
      await client.close();
    }
    expect(authorized).toBe(3);
  });

  it('answers with the status $connect returns, and 502 when $connect throws', async () => {
    behaviours['$connect'] = () => Promise.resolve({ statusCode: 429 });
    await expect(TestClient.open(`${url}?token=x`)).rejects.toMatchObject({ status: 429 });
    behaviours['$connect'] = () => Promise.reject(new Error('Task timed out after 10.00 seconds'));
    await expect(TestClient.open(`${url}?token=x`)).rejects.toMatchObject({ status: 502 });
  });

  it('holds the upgrade until $connect has finished', async () => {
    let finished = 0;
    behaviours['$connect'] = async () => {
      await new Promise((resolve) => setTimeout(resolve, 200));
      finished = Date.now();
      return { statusCode: 200 };
    };
    const client = await TestClient.open(`${url}?token=x`);
    // $connect takes 200 ms; had the upgrade not waited for it, it would not have finished by now.
    expect(finished).toBeGreaterThan(0);
    await client.close();
  });
});

describe('messages', () => {
  it('routes on the action, passes the authorizer context, and sends two-way replies only', async () => {
    const client = await TestClient.open(`${url}?token=x`);

    client.sendRaw(JSON.stringify({ action: 'oneway' }));
    client.sendRaw(JSON.stringify({ action: 'echo' }));
    const echoed = await client.next((f) => f['route'] === 'echo');
    client.sendRaw('not json');
    const fallback = await client.next((f) => f['route'] === '$default');

    expect(echoed['context']).toMatchObject({ userId: 'u1', principalId: 'u1', integrationLatency: expect.any(Number) });
    expect(fallback['body']).toBe('not json');
    expect(client.frames.some((f) => JSON.stringify(f).includes('never sent'))).toBe(false);
    await client.close();
  });

  it('sends the Internal server error frame when a handler throws', async () => {
    behaviours['echo'] = () => Promise.reject(new Error('kaput'));
    const client = await TestClient.open(`${url}?token=x`);

    client.sendRaw(JSON.stringify({ action: 'echo' }));

    expect(await client.next((f) => f['message'] === 'Internal server error')).toEqual({
      message: 'Internal server error',
      connectionId: expect.any(String),
      requestId: expect.any(String),
    });
    await client.close();
  });

  it('reports the client close code and reason to $disconnect', async () => {
    const client = await TestClient.open(`${url}?token=x`);
    disconnects.length = 0;

    client.socket.close(4000, 'bye');
    await client.closed;
    for (let i = 0; i < 50 && disconnects.length === 0; i++) await new Promise((r) => setTimeout(r, 20));

    expect(disconnects[0]?.['requestContext']).toMatchObject({ eventType: 'DISCONNECT', disconnectStatusCode: 4000, disconnectReason: 'bye' });
  });
});

describe('frames API Gateway does not take', () => {
  const disconnectOf = async (count: number) => {
    for (let i = 0; i < 50 && disconnects.length < count; i++) await new Promise((r) => setTimeout(r, 20));
    return disconnects[count - 1]?.['requestContext'];
  };

  it('closes with 1003 on a binary frame, as API Gateway does, and routes nothing', async () => {
    const client = await TestClient.open(`${url}?token=x`);
    disconnects.length = 0;

    client.socket.send(Buffer.from(JSON.stringify({ action: 'echo' })), { binary: true });

    expect((await client.closed).code).toBe(1003);
    expect(client.frames).toEqual([]);
    expect(await disconnectOf(1)).toMatchObject({ eventType: 'DISCONNECT', disconnectStatusCode: 1003 });
  });

  it('closes with 1007 on a text frame that is not UTF-8, and routes nothing', async () => {
    const client = await TestClient.open(`${url}?token=x`);

    client.socket.send(Buffer.from([0x7b, 0xff, 0x7d]), { binary: false });

    expect((await client.closed).code).toBe(1007);
    expect(client.frames).toEqual([]);
  });
});

describe('selectRoute', () => {
  it.each([
    ['{"action":"echo"}', 'echo'],
    ['{"action":"nope"}', '$default'],
    ['{"action":5}', '$default'],
    ['{"action":"$connect"}', '$default'],
    ['[1]', '$default'],
    ['', '$default'],
  ])('%s goes to %s', (body, expected) => {
    expect(selectRoute(api, body)).toBe(expected);
  });
});
