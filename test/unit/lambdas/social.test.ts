import { expect } from '@jest/globals';
import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, BatchWriteCommand, DynamoDBDocumentClient, GetCommand, QueryCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { handler as follow } from '../../../lambdas/follow';
import { handler as presence } from '../../../lambdas/presence';
import { handler as unfollow } from '../../../lambdas/unfollow';
import { ACTION_BUDGET_ROW, isBudgetUpdate, messageEvent, replyOf } from '../../support/events';
import { subscriptionKey } from '../../../shared/store/connection-rows';

const ddb = mockClient(DynamoDBDocumentClient);
/** UpdateItem calls of the handler's own work, without the action budget's. */
const rowUpdates = () => ddb.commandCalls(UpdateCommand).filter((call) => !isBudgetUpdate(call.args[0].input));
const cancelled = (...codes: string[]) =>
  new TransactionCanceledException({ message: 'cancelled', $metadata: {}, CancellationReasons: codes.map((Code) => ({ Code })) });
const writes = () => ddb.commandCalls(BatchWriteCommand).flatMap((c) => c.args[0].input.RequestItems?.['Connections'] ?? []);

beforeEach(() => {
  ddb.reset();
  ddb.on(UpdateCommand, ACTION_BUDGET_ROW).resolves({});
  ddb.on(TransactWriteCommand).resolves({});
  ddb.on(BatchWriteCommand).resolves({});
  // Channel heads: every inbox empty so far.
  ddb.on(BatchGetCommand).resolves({});
  ddb.on(UpdateCommand).resolves({});
  // bob has two connections open; the index does not list the newest one yet.
  ddb.on(QueryCommand, { IndexName: 'byUser' }).resolves({ Items: [{ connectionId: 'b1', connectedAt: 1 }, { connectionId: 'b2', connectedAt: 2 }] });
  // Their rows hold their tokens' expiry, which the index does not project; b3's row is not there yet.
  ddb.on(GetCommand).resolves({});
  ddb.on(GetCommand, { Key: { pk: 'conn#b1' } }).resolves({ Item: { tokenExpiresAt: 111 } });
  ddb.on(GetCommand, { Key: { pk: 'conn#b2' } }).resolves({ Item: { tokenExpiresAt: 222 } });
  // Everyone the tests follow has connected once: they have a presence row.
  ddb.on(GetCommand, { Key: { pk: 'presence#alice' } }).resolves({ Item: { pk: 'presence#alice' } });
});

/** Rows written to inboxes (each in a transaction that advances the inbox's head). */
const inboxRows = () =>
  ddb
    .commandCalls(TransactWriteCommand)
    .flatMap((call) => call.args[0].input.TransactItems ?? [])
    .flatMap((item) => (typeof item.Put?.Item?.['channel'] === 'string' && item.Put.Item['channel'].startsWith('inbox:') ? [item.Put.Item] : []));

describe('follow', () => {
  it("records the follow, subscribes all the follower's connections, and notifies the followed user once", async () => {
    const reply = replyOf(await follow(messageEvent({ action: 'follow', id: 'f1', user: 'alice' }, { userId: 'bob', connectionId: 'b3' })));

    expect(reply).toEqual({ type: 'followed', id: 'f1', user: 'alice' });
    const [put, count] = ddb.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems ?? [];
    expect(put?.Put).toMatchObject({ TableName: 'Follows', Item: { follower: 'bob', followed: 'alice' } });
    expect(count?.Update).toMatchObject({ Key: { follower: 'bob', followed: '#count' }, ExpressionAttributeValues: { ':max': 1000 } });
    // Each subscription row carries its connection's token expiry, for fan-out; b3's is the event's (the caller's).
    expect(writes().map((w) => w.PutRequest?.Item)).toEqual(
      [
        ['b1', 111],
        ['b2', 222],
        ['b3', 4102444800],
      ].map(([id, tokenExpiresAt]) => ({ ...subscriptionKey('user:alice', String(id)), expiresAt: expect.any(Number), tokenExpiresAt })),
    );
    // Each connection row lists the channel, for removal at disconnect (the store tests check which set).
    expect(rowUpdates().map((c) => c.args[0].input.Key)).toEqual([
      ...['b1', 'b2', 'b3'].map((id) => ({ pk: `conn#${id}`, sk: 'conn' })),
      { pk: 'notice#bob#alice', sk: 'follow' },
    ]);
    expect(ddb.commandCalls(GetCommand).find((c) => c.args[0].input.Key?.['pk'] === 'presence#alice')?.args[0].input).toMatchObject({
      Key: { pk: 'presence#alice', sk: 'presence' },
      ConsistentRead: true,
    });
    expect(rowUpdates().at(-1)?.args[0].input).toMatchObject({
      ConditionExpression: 'attribute_not_exists(pk) OR #ttl < :now',
      ExpressionAttributeNames: { '#ttl': 'expiresAt' },
    });
    expect(inboxRows()).toEqual([expect.objectContaining({ channel: 'inbox:alice', kind: 'notification', notification: { kind: 'follow', from: 'bob', at: expect.any(String) }, pos: 1 })]);
  });

  it('follows again without a second notification', async () => {
    ddb.on(TransactWriteCommand).rejects(cancelled('ConditionalCheckFailed', 'None'));

    expect(replyOf(await follow(messageEvent({ action: 'follow', user: 'alice' }, { userId: 'bob' })))).toMatchObject({ type: 'followed' });
    expect(inboxRows()).toHaveLength(0);
    expect(writes()).not.toHaveLength(0);
  });

  it('follows again after an unfollow without a second notification while the first is remembered', async () => {
    ddb.on(UpdateCommand, { Key: { pk: 'notice#bob#alice', sk: 'follow' } }).rejects(
      new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }),
    );

    expect(replyOf(await follow(messageEvent({ action: 'follow', user: 'alice' }, { userId: 'bob' })))).toMatchObject({ type: 'followed' });
    expect(inboxRows()).toHaveLength(0);
  });

  it('follows a user never seen without notifying them or remembering a notice', async () => {
    ddb.on(GetCommand).resolves({});

    expect(replyOf(await follow(messageEvent({ action: 'follow', user: 'ghost' }, { userId: 'bob' })))).toMatchObject({ type: 'followed', user: 'ghost' });
    expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(1);
    expect(writes()).not.toHaveLength(0);
    expect(inboxRows()).toHaveLength(0);
    expect(ddb.commandCalls(UpdateCommand).map((c) => c.args[0].input.Key)).not.toContainEqual({ pk: 'notice#bob#ghost', sk: 'follow' });
  });

  it('answers bad_request at the follow limit, and for following yourself, changing nothing', async () => {
    ddb.on(TransactWriteCommand).rejects(cancelled('None', 'ConditionalCheckFailed'));

    expect(replyOf(await follow(messageEvent({ action: 'follow', user: 'alice' }, { userId: 'bob' })))).toMatchObject({
      code: 'bad_request',
      message: 'you follow 1000 people, the most allowed',
    });
    expect(replyOf(await follow(messageEvent({ action: 'follow', user: 'bob' }, { userId: 'bob' })))).toMatchObject({ code: 'bad_request' });
    expect(writes()).toEqual([]);
    expect(inboxRows()).toHaveLength(0);
  });

  it.each([[{}], [{ user: '' }], [{ user: 'no spaces' }], [{ user: 7 }]])('answers bad_request for %j', async (fields) => {
    expect(replyOf(await follow(messageEvent({ action: 'follow', ...fields })))).toMatchObject({ code: 'bad_request' });
    expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(0);
  });
});

describe('unfollow', () => {
  it("removes the follow and unsubscribes all the follower's connections", async () => {
    const reply = replyOf(await unfollow(messageEvent({ action: 'unfollow', user: 'alice' }, { userId: 'bob', connectionId: 'b1' })));

    expect(reply).toMatchObject({ type: 'unfollowed', user: 'alice' });
    expect(ddb.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems?.[0]?.Delete).toMatchObject({ Key: { follower: 'bob', followed: 'alice' } });
    expect(writes().map((w) => w.DeleteRequest?.Key)).toEqual([
      subscriptionKey('user:alice', 'b1'),
      subscriptionKey('user:alice', 'b2'),
    ]);
  });
});

describe('presence', () => {
  it('answers who of the people followed is online and when the others were last seen, and strangers as never seen', async () => {
    ddb.on(QueryCommand, { IndexName: 'byUser', ExpressionAttributeValues: { ':u': 'alice' } }).resolves({ Count: 1 });
    ddb.on(QueryCommand, { IndexName: 'byUser', ExpressionAttributeValues: { ':u': 'carol' } }).resolves({ Count: 0 });
    ddb.on(QueryCommand, { IndexName: 'byUser', ExpressionAttributeValues: { ':u': 'dave' } }).resolves({ Count: 0 });
    // bob follows alice, carol and dave, not erin; carol was last seen yesterday.
    ddb.on(BatchGetCommand).callsFake(({ RequestItems }: { RequestItems: Record<string, unknown> }) =>
      'Follows' in RequestItems
        ? { Responses: { Follows: [{ followed: 'alice' }, { followed: 'carol' }, { followed: 'dave' }] } }
        : { Responses: { Connections: [{ pk: 'presence#carol', lastSeen: '2026-11-21T20:00:00.000Z' }] } },
    );

    const reply = replyOf(await presence(messageEvent({ action: 'presence', id: 'pr', users: ['alice', 'carol', 'dave', 'alice', 'erin'] }, { userId: 'bob' })));

    expect(reply).toEqual({
      type: 'presence',
      id: 'pr',
      users: [
        { user: 'alice', online: true, lastSeen: expect.any(String) },
        { user: 'carol', online: false, lastSeen: '2026-11-21T20:00:00.000Z' },
        { user: 'dave', online: false },
        { user: 'erin', online: false },
      ],
    });
    const [follows, seen] = ddb.commandCalls(BatchGetCommand).map((c) => c.args[0].input.RequestItems);
    expect(follows?.['Follows']).toMatchObject({ Keys: ['alice', 'carol', 'dave', 'erin'].map((followed) => ({ follower: 'bob', followed })), ConsistentRead: true });
    expect(seen?.['Connections']?.Keys).toEqual(['alice', 'carol', 'dave'].map((user) => ({ pk: `presence#${user}`, sk: 'presence' })));
    expect(ddb.commandCalls(QueryCommand)).toHaveLength(3);
    expect(ddb.commandCalls(QueryCommand).every((c) => c.args[0].input.Limit === 1)).toBe(true);
  });

  it('answers bad_request for more than 100 ids', async () => {
    const users = Array.from({ length: 101 }, (_, i) => `u${i}`);
    expect(replyOf(await presence(messageEvent({ action: 'presence', users })))).toMatchObject({ code: 'bad_request' });
    expect(ddb.commandCalls(QueryCommand)).toHaveLength(0);
  });
});
