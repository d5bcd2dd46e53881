import { expect } from '@jest/globals';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, BatchWriteCommand, DynamoDBDocumentClient, GetCommand, QueryCommand, UpdateCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { handler as subscribe } from '../../../lambdas/subscribe';
import { handler as unsubscribe } from '../../../lambdas/unsubscribe';
import { statusItem } from '../../../shared/store/items';
import { ACTION_BUDGET_ROW, isBudgetUpdate, messageEvent, replyOf } from '../../support/events';
import { aStatus } from '../../support/stream';
import { subscriptionKey } from '../../../shared/store/connection-rows';

const ddb = mockClient(DynamoDBDocumentClient);
/** UpdateItem calls of the handler's own work, without the action budget's. */
const rowUpdates = () => ddb.commandCalls(UpdateCommand).filter((call) => !isBudgetUpdate(call.args[0].input));
const CONNECTION_ROW = { pk: 'conn#conn-1', sk: 'conn' };
const CURSOR = '01JD0000000000000000000000';

/** `count` statuses on `channel` newer than the cursor, as DynamoDB answers an ascending Query. */
function channelHolds(channel: string, count: number, text = 'hello') {
  ddb.on(QueryCommand, { ExpressionAttributeValues: { ':c': channel, ':cursor': CURSOR } }).callsFake((input: QueryCommandInput) => ({
    Items: Array.from({ length: Math.min(count, input.Limit ?? count) }, (_, i) =>
      statusItem(channel, aStatus({ id: `01JD${String(i + 1).padStart(22, '0')}`, text })),
    ),
  }));
}

const subscriptionWrites = () =>
  ddb.commandCalls(BatchWriteCommand).flatMap((call) => call.args[0].input.RequestItems?.['Connections'] ?? []);

beforeEach(() => {
  ddb.reset();
  ddb.on(UpdateCommand, ACTION_BUDGET_ROW).resolves({});
  ddb.on(BatchWriteCommand).resolves({});
  ddb.on(UpdateCommand).resolves({});
  // Channel heads: user:bob is at position 7, every other channel empty.
  ddb.on(BatchGetCommand).resolves({ Responses: { Statuses: [{ channel: 'head#user:bob', id: 'head', pos: 7, last: '01JD0000000000000000000007' }] } });
  ddb.on(GetCommand).resolves({ Item: { pk: 'conn#conn-1', sk: 'conn', connectionId: 'conn-1', userId: 'alice', connectedAt: 1 } });
});

describe('subscribe', () => {
  it('subscribes the calling connection to each channel', async () => {
    const reply = replyOf(await subscribe(messageEvent({ action: 'subscribe', id: 's1', channels: ['user:bob', 'inbox:alice'] }, { connectionId: 'conn-1' })));

    expect(reply).toEqual({ type: 'subscribed', id: 's1', channels: ['user:bob', 'inbox:alice'], positions: { 'user:bob': 7, 'inbox:alice': 0 } });
    const headReads = ddb.commandCalls(BatchGetCommand).map((call) => call.args[0].input.RequestItems?.['Statuses']);
    expect(headReads).toEqual([{ Keys: [{ channel: 'head#user:bob', id: 'head' }, { channel: 'head#inbox:alice', id: 'head' }], ConsistentRead: true }]);
    expect(subscriptionWrites().map((w) => w.PutRequest?.Item)).toEqual([
      // The token's expiry (the event's authorizer context), so fan-out closes the connection instead of delivering after it.
      { ...subscriptionKey('user:bob', 'conn-1'), expiresAt: expect.any(Number), tokenExpiresAt: 4102444800 },
      { ...subscriptionKey('inbox:alice', 'conn-1'), expiresAt: expect.any(Number), tokenExpiresAt: 4102444800 },
    ]);
    // The connection row lists them, so they go when the connection does.
    expect(rowUpdates()[0]?.args[0].input).toMatchObject({
      Key: { pk: 'conn#conn-1', sk: 'conn' },
      UpdateExpression: 'ADD channels :channels',
      ExpressionAttributeValues: { ':channels': new Set(['user:bob', 'inbox:alice']) },
    });
  });

  it("refuses another user's inbox and subscribes to nothing", async () => {
    const reply = replyOf(await subscribe(messageEvent({ action: 'subscribe', channels: ['user:bob', 'inbox:bob'] })));

    expect(reply).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(subscriptionWrites()).toEqual([]);
  });

  it('replays what was missed since the cursor, oldest first, and names channels with more', async () => {
    channelHolds('user:bob', 3);
    channelHolds('user:carol', 150);

    const reply = replyOf(
      await subscribe(messageEvent({ action: 'subscribe', channels: ['user:bob', 'user:carol'], since: { 'user:bob': CURSOR, 'user:carol': CURSOR } })),
    );

    const missed = reply['missed'] as Record<string, { id: string }[]>;
    expect(missed['user:bob']?.map((s) => s.id)).toEqual([1, 2, 3].map((i) => `01JD${String(i).padStart(22, '0')}`));
    expect(missed['user:carol']).toHaveLength(100);
    expect(reply['truncated']).toEqual(['user:carol']);
    const query = ddb.commandCalls(QueryCommand)[0]?.args[0].input;
    expect(query).toMatchObject({ ScanIndexForward: true, ExpressionAttributeValues: { ':c': 'user:bob', ':cursor': CURSOR }, Limit: 101 });
  });

  it('keeps a replay of long statuses under the 128 KB message limit, marking what it cut', async () => {
    const long = '😀'.repeat(500);
    channelHolds('user:bob', 100, long);
    channelHolds('user:carol', 100, long);

    const result = await subscribe(messageEvent({ action: 'subscribe', channels: ['user:bob', 'user:carol'], since: { 'user:bob': CURSOR, 'user:carol': CURSOR } }));

    expect(Buffer.byteLength(result.body ?? '')).toBeLessThan(128 * 1024);
    const reply = replyOf(result);
    expect(reply['truncated']).toEqual(['user:bob', 'user:carol']);
    expect((reply['missed'] as Record<string, unknown[]>)['user:bob']?.length).toBeGreaterThan(0);
  });

  it('answers bad_request for a malformed frame', async () => {
    const reply = replyOf(await subscribe(messageEvent({ action: 'subscribe', channels: ['lobby'] })));

    expect(reply).toMatchObject({ type: 'error', code: 'bad_request' });
    expect(subscriptionWrites()).toEqual([]);
  });
});

describe('the subscription limit (500 per connection)', () => {
  const conditionFailed = () => new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });
  const users = (from: number, count: number) => Array.from({ length: count }, (_, i) => `user:u${from + i}`);
  const connectionHolds = (channels: string[]) =>
    ddb.on(GetCommand, { Key: { pk: 'conn#conn-1', sk: 'conn' } }).resolves({ Item: { pk: 'conn#conn-1', sk: 'conn', connectionId: 'conn-1', userId: 'alice', connectedAt: 1, channels: new Set(channels) } });

  // What DynamoDB does with the conditional write (the limit, follows not counted, channels held
  // counted once, concurrent frames) is tested against DynamoDB Local in test/integration/store.
  it('reads the connection row first, consistently, when a user: channel may be its through a follow', async () => {
    const reply = replyOf(await subscribe(messageEvent({ action: 'subscribe', channels: users(0, 3) }, { connectionId: 'conn-1' })));

    expect(reply).toMatchObject({ type: 'subscribed' });
    expect(ddb.commandCalls(GetCommand).map((c) => c.args[0].input.ConsistentRead)).toEqual([true]);
    expect(rowUpdates()).toHaveLength(1);
    expect(subscriptionWrites()).toHaveLength(3);
  });

  it('writes without reading first when no channel can come from a follow (thread:, inbox:)', async () => {
    await subscribe(messageEvent({ action: 'subscribe', channels: [`thread:${CURSOR}`, 'inbox:alice'] }, { connectionId: 'conn-1' }));

    expect(rowUpdates()).toHaveLength(1);
    expect(ddb.commandCalls(GetCommand)).toHaveLength(0);
  });

  it('answers bad_request and subscribes to nothing when the frame would pass the limit', async () => {
    ddb.on(UpdateCommand, { Key: CONNECTION_ROW }).rejects(conditionFailed());
    connectionHolds(users(0, 495));

    const reply = replyOf(await subscribe(messageEvent({ action: 'subscribe', id: 's9', channels: [...users(490, 5), ...users(1000, 6)] }, { connectionId: 'conn-1' })));

    expect(reply).toEqual({ type: 'error', id: 's9', code: 'bad_request', message: expect.stringContaining('at most 500 channels; this one has 495') });
    expect(subscriptionWrites()).toEqual([]);
  });

  it('gives up with internal when concurrent frames keep changing the set, having subscribed nothing', async () => {
    ddb.on(UpdateCommand, { Key: CONNECTION_ROW }).rejects(conditionFailed());
    connectionHolds(users(0, 10));

    const reply = replyOf(await subscribe(messageEvent({ action: 'subscribe', channels: users(1000, 2) }, { connectionId: 'conn-1' })));

    expect(reply).toMatchObject({ type: 'error', code: 'internal' });
    expect(rowUpdates()).toHaveLength(5);
    expect(subscriptionWrites()).toEqual([]);
  });

  it('subscribes as before when the connection row is gone (it is disconnecting)', async () => {
    ddb.on(UpdateCommand, { Key: CONNECTION_ROW }).rejects(conditionFailed());
    ddb.on(GetCommand).resolves({});

    const reply = replyOf(await subscribe(messageEvent({ action: 'subscribe', channels: users(0, 2) }, { connectionId: 'conn-1' })));

    expect(reply).toMatchObject({ type: 'subscribed' });
  });
});

describe('unsubscribe', () => {
  it("removes the calling connection's subscriptions", async () => {
    const reply = replyOf(await unsubscribe(messageEvent({ action: 'unsubscribe', id: 'u1', channels: ['user:bob'] }, { connectionId: 'conn-1' })));

    expect(reply).toEqual({ type: 'unsubscribed', id: 'u1', channels: ['user:bob'] });
    expect(subscriptionWrites()).toEqual([{ DeleteRequest: { Key: subscriptionKey('user:bob', 'conn-1') } }]);
    expect(rowUpdates().map((c) => c.args[0].input.Key)).toEqual([{ pk: 'conn#conn-1', sk: 'conn' }]);
  });
});
