import { expect } from '@jest/globals';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, QueryCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { handler as publish } from '../../../lambdas/publish';
import { handler as read } from '../../../lambdas/publish-read';
import { handler as inbox } from '../../../lambdas/publish-inbox';
import type { PublishEvent } from '../../../shared/http-edge';
import { PublishRoute } from '../../../shared/publish-api';
import { acceptPosts, mockDocumentClient } from '../../support/post-mocks';

const ddb = mockDocumentClient();

/** A payload format 2.0 event as API Gateway sends it once IAM has authorized the caller. */
function httpEvent(routeKey: string, fields: Partial<PublishEvent> = {}): PublishEvent {
  return {
    version: '2.0',
    routeKey,
    rawPath: '/',
    rawQueryString: '',
    headers: { 'content-type': 'application/json' },
    isBase64Encoded: false,
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      domainName: 'abc123.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'abc123',
      http: { method: routeKey.split(' ')[0] ?? 'GET', path: '/', protocol: 'HTTP/1.1', sourceIp: '192.0.2.1', userAgent: 'test' },
      requestId: 'req-1',
      routeKey,
      stage: '$default',
      time: '28/Nov/2026:01:00:00 +0000',
      timeEpoch: 0,
      authorizer: { iam: { userArn: 'arn:aws:sts::123456789012:assumed-role/importer/session' } },
    },
    ...fields,
  };
}

const body = (result: { body: string }) => JSON.parse(result.body) as Record<string, unknown>;

beforeEach(() => {
  acceptPosts(ddb);
  ddb.on(QueryCommand).resolves({ Items: [] });
});

describe('POST /statuses', () => {
  it("stores the status as its author, charging the integration budget's row (publish#), never the author's own (rate#)", async () => {
    const result = await publish(httpEvent(PublishRoute.post, { body: JSON.stringify({ author: 'ada', text: ' hi ' }) }));

    expect(result.statusCode).toBe(201);
    expect(body(result)).toEqual({ status: expect.objectContaining({ author: 'ada', text: 'hi' }) });
    const buckets = ddb.commandCalls(UpdateCommand).map((call): unknown => call.args[0].input.Key?.['pk']).filter((pk) => /^(rate|publish)#/.test(String(pk)));
    expect(buckets).toEqual(['publish#ada']);
  });

  it('reads a base64 body as API Gateway sends a binary one', async () => {
    const encoded = Buffer.from(JSON.stringify({ author: 'ada', text: 'encoded' })).toString('base64');
    const result = await publish(httpEvent(PublishRoute.post, { body: encoded, isBase64Encoded: true }));

    expect([result.statusCode, body(result)['status']]).toEqual([201, expect.objectContaining({ text: 'encoded' })]);
  });

  it('answers 429 rate_limited with Retry-After in whole seconds when the budget is spent', async () => {
    ddb.on(UpdateCommand).rejects(new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }));
    ddb.on(GetCommand, { Key: { pk: 'publish#ada', sk: 'rate' } }).resolves({ Item: { tat: Date.now() + 3_600_000 } });

    const result = await publish(httpEvent(PublishRoute.post, { body: JSON.stringify({ author: 'ada', text: 'hi' }) }));

    expect(result.statusCode).toBe(429);
    expect(body(result)).toMatchObject({ code: 'rate_limited', retryAfterMs: expect.any(Number) });
    expect(Number(result.headers?.['retry-after'])).toBe(Math.ceil(Number(body(result)['retryAfterMs']) / 1000));
  });

  it('answers 500 internal without the error when the store fails, never a stack trace', async () => {
    ddb.on(TransactWriteCommand).rejects(new Error('secret detail at /var/task/index.js:1:2'));

    const result = await publish(httpEvent(PublishRoute.post, { body: JSON.stringify({ author: 'ada', text: 'hi' }) }));

    expect([result.statusCode, body(result)]).toEqual([500, { code: 'internal', message: 'internal error; try again' }]);
  });
});

describe('GET routes', () => {
  it('decodes a channel whose colon came percent-encoded, and refuses an inbox there', async () => {
    const page = await read(httpEvent(PublishRoute.history, { pathParameters: { channel: 'user%3Aada' }, queryStringParameters: { limit: '5' } }));
    const inboxThere = await read(httpEvent(PublishRoute.history, { pathParameters: { channel: 'inbox:ada' } }));

    expect([page.statusCode, body(page)]).toEqual([200, { channel: 'user:ada', items: [] }]);
    expect(ddb.commandCalls(QueryCommand)[0]?.args[0].input).toMatchObject({ ExpressionAttributeValues: { ':c': 'user:ada' }, Limit: 6 });
    expect([inboxThere.statusCode, body(inboxThere)['code']]).toEqual([403, 'forbidden']);
  });

  it('refuses a limit that is not a whole number from 1 to 100, as the WebSocket history does', async () => {
    for (const limit of ['0', '101', 'ten', '2,3']) {
      const result = await read(httpEvent(PublishRoute.history, { pathParameters: { channel: 'user:ada' }, queryStringParameters: { limit } }));
      expect([limit, result.statusCode, body(result)['message']]).toEqual([limit, 400, 'limit must be a whole number from 1 to 100']);
    }
  });

  it('answers 404 not_found for a status no one has, and reads an inbox by its own route', async () => {
    const missing = await read(httpEvent(PublishRoute.status, { pathParameters: { id: '01ARZ3NDEKTSV4RRFFQ69G5FAV' } }));
    const notifications = await inbox(httpEvent(PublishRoute.inbox, { pathParameters: { user: 'ada' } }));
    const badUser = await inbox(httpEvent(PublishRoute.inbox, { pathParameters: { user: 'not a user' } }));

    expect([missing.statusCode, body(missing)['code']]).toEqual([404, 'not_found']);
    expect([notifications.statusCode, body(notifications)]).toEqual([200, { channel: 'inbox:ada', items: [] }]);
    expect(badUser.statusCode).toBe(400);
  });
});
