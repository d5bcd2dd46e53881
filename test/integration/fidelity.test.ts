// jest's global expect types its asymmetric matchers (expect.any, …) as any; @jest/globals types them.
import { expect } from '@jest/globals';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { LocalStack } from '../support/local-stack';
import { callPublishApi } from '../support/publish-api';
import { TestClient } from '../support/ws-client';

/**
 * What the local stack sends functions, and how its Management API answers,
 * compared with fixtures of what AWS sends (test/events/). Values differ run
 * to run; the shape must not: the same fields, of the same types.
 */
const fixture = (name: string) => JSON.parse(readFileSync(path.join(__dirname, '..', 'events', name), 'utf8')) as Record<string, unknown>;
const dir = mkdtempSync(path.join(tmpdir(), 'updraft-fidelity-'));
const eventLog = path.join(dir, 'events.jsonl');
let stack: LocalStack;
let events: { kind: string; event: Record<string, unknown> }[];
let connectionId: string;
let management: Record<string, { status: number; headers: Record<string, string>; body: unknown }>;

/** Field names and value types, recursively; arrays by their first element. */
function shape(value: unknown): unknown {
  if (Array.isArray(value)) return value.length === 0 ? [] : [shape(value[0])];
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, shape(v)]));
  }
  return value === null ? 'null' : typeof value;
}

/** Header maps vary with the client; every header AWS sends must be there, and the rest of the event must match exactly. */
function expectSameShape(actual: Record<string, unknown>, expected: Record<string, unknown>) {
  const { headers: ah, multiValueHeaders: amh, ...restActual } = actual;
  const { headers: eh, multiValueHeaders: emh, ...restExpected } = expected;
  if (eh) expect(Object.keys(ah as object)).toEqual(expect.arrayContaining(Object.keys(eh)));
  if (emh) expect(Object.keys(amh as object)).toEqual(expect.arrayContaining(Object.keys(emh)));
  expect(shape(restActual)).toEqual(shape(restExpected));
}

beforeAll(async () => {
  stack = await LocalStack.start({ env: { UPDRAFT_EVENT_LOG: eventLog } });
  const alice = await TestClient.open(`${stack.wsUrl}?token=${await stack.token('alice')}`, { 'User-Agent': 'Mozilla/5.0' });
  await alice.request({ action: 'subscribe', channels: ['user:alice'] });
  const posted = await alice.request({ action: 'post', text: 'hello' });
  await alice.next((f) => f.type === 'status' && (f['status'] as { id: string }).id === (posted['status'] as { id: string }).id);

  // The publish API, signed as a backend signs: its events are HTTP API payload format 2.0 with IAM authorization.
  const published = await callPublishApi(stack.publishUrl, 'POST', '/statuses', { body: JSON.stringify({ author: 'alice', text: 'from a backend', id: 'import-1' }) });
  if (published.status !== 201) throw new Error(`publish: HTTP ${published.status}`);
  await callPublishApi(stack.publishUrl, 'GET', '/channels/user:alice/history', { query: { limit: '5' } });

  const { Items = [] } = await stack.documentClient().send(new ScanCommand({ TableName: stack.tableName('Connections') }));
  const row = Items.find((i) => i['sk'] === 'conn');
  if (typeof row?.['connectionId'] !== 'string') throw new Error('no connection row');
  connectionId = row['connectionId'];
  const call = async (method: string, id: string, body?: string) => {
    const response = await fetch(`${stack.httpUrl}/dev/@connections/${encodeURIComponent(id)}`, { method, ...(body ? { body } : {}) });
    const text = await response.text();
    const parsed: unknown = text ? JSON.parse(text) : {};
    return { status: response.status, headers: Object.fromEntries(response.headers), body: parsed };
  };
  management = {
    get: await call('GET', connectionId),
    gone: await call('POST', 'AAAAAAAAAAAAAAA=', '{}'),
    tooLarge: await call('POST', connectionId, 'x'.repeat(128 * 1024 + 1)),
  };
  await alice.close();
  await stack.stop();
  events = readFileSync(eventLog, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { kind: string; event: Record<string, unknown> });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const eventOf = (kind: string) => {
  const found = events.find((e) => e.kind === kind);
  if (!found) throw new Error(`no ${kind} event among ${events.map((e) => e.kind).join(', ')}`);
  return found.event;
};

describe('events sent to functions', () => {
  it('REQUEST authorizer event', () => {
    expectSameShape(eventOf('authorizer'), fixture('apigateway/authorizer.json'));
    expect(eventOf('authorizer')['methodArn']).toMatch(/^arn:aws:execute-api:us-east-1:\d{12}:\w+\/dev\/\$connect$/);
  });

  it('$connect event, with headers and query string', () => {
    expectSameShape(eventOf('$connect'), fixture('apigateway/connect.json'));
  });

  it('message event, without headers', () => {
    const event = eventOf('post');
    expectSameShape(event, fixture('apigateway/message.json'));
    expect(event['requestContext']).toMatchObject({ routeKey: 'post', eventType: 'MESSAGE', connectionId, authorizer: { userId: 'alice', principalId: 'alice' } });
  });

  it('$disconnect event, with the close status and reason', () => {
    const event = eventOf('$disconnect');
    expectSameShape(event, fixture('apigateway/disconnect.json'));
    expect(event['requestContext']).toMatchObject({ disconnectStatusCode: 1000, connectionId });
  });

  it('DynamoDB stream event, as the event source mapping delivers it', () => {
    const event = eventOf('stream');
    const expected = fixture('dynamodb/stream-insert.json');
    expect(shape((event['Records'] as unknown[])[0])).toEqual(shape((expected['Records'] as unknown[])[0]));
    expect((event['Records'] as { eventSourceARN: string }[])[0]?.eventSourceARN).toMatch(/^arn:aws:dynamodb:.+\/stream\/.+$/);
  });

  it('publish API events: payload format 2.0 with the IAM principal, a body, path and query parameters', () => {
    const post = eventOf('POST /statuses');
    const get = eventOf('GET /channels/{channel}/history');
    expectSameShape(post, fixture('apigateway/http-iam-post.json'));
    expectSameShape(get, fixture('apigateway/http-iam-get.json'));
    expect(get).toMatchObject({ rawPath: '/channels/user:alice/history', pathParameters: { channel: 'user:alice' }, queryStringParameters: { limit: '5' } });
    expect((post['requestContext'] as { time: string }).time).toMatch(/^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
  });

  it('requestTime in the format API Gateway writes', () => {
    expect((eventOf('post')['requestContext'] as { requestTime: string }).requestTime).toMatch(/^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
  });
});

describe('Management API responses', () => {
  it.each([
    ['GET on a live connection', 'get', 'management/get-connection.json'],
    ['POST to a gone connection', 'gone', 'management/post-gone.json'],
    ['POST over 128 KB', 'tooLarge', 'management/post-too-large.json'],
  ])('%s', (_, key, file) => {
    const actual = management[key];
    if (!actual) throw new Error(`no response recorded for ${key}`);
    const expected = fixture(file) as { status: number; headers: Record<string, string>; body: unknown };
    expect(actual.status).toBe(expected.status);
    for (const [name, value] of Object.entries(expected.headers)) {
      expect(actual.headers[name]).toEqual(name === 'content-type' ? expect.stringContaining(value) : value);
    }
    expect(shape(actual.body)).toEqual(shape(expected.body));
  });
});
