import { expect } from '@jest/globals';
import { BatchWriteCommand, DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { handler as connect } from '../../../lambdas/connect';
import { handler as disconnect } from '../../../lambdas/disconnect';
import { messageEvent } from '../../support/events';
import { subscriptionKey } from '../../../shared/store/connection-rows';

const ddb = mockClient(DynamoDBDocumentClient);
/** The token expiry test/support/events.ts gives every event's authorizer context. */
const TOKEN_EXPIRES_AT = 4102444800;

beforeEach(() => {
  ddb.reset();
  ddb.on(PutCommand).resolves({});
  ddb.on(UpdateCommand).resolves({});
  ddb.on(BatchWriteCommand).resolves({});
  ddb.on(QueryCommand, { TableName: 'Follows' }).resolves({ Items: [] });
});

describe('$connect', () => {
  it('records the connection for the authorized user, expiring after API Gateway cuts it', async () => {
    const event = messageEvent(undefined, { userId: 'bob', connectionId: 'conn-9', routeKey: '$connect' });

    expect(await connect(event)).toEqual({ statusCode: 200 });

    const item = ddb.commandCalls(PutCommand)[0]?.args[0].input.Item;
    const connectedAt = event.requestContext.connectedAt;
    expect(item).toEqual({ pk: 'conn#conn-9', sk: 'conn', connectionId: 'conn-9', userId: 'bob', connectedAt, expiresAt: expect.any(Number), tokenExpiresAt: TOKEN_EXPIRES_AT });
    expect(ddb.commandCalls(BatchWriteCommand)).toHaveLength(0);
    expect(item?.['expiresAt']).toBeGreaterThan(connectedAt / 1000 + 2 * 3600);
    expect(ddb.commandCalls(UpdateCommand).map((c) => c.args[0].input.Key)).toEqual([
      { pk: 'churn#bob', sk: 'rate' },
      { pk: 'open#bob', sk: 'open' },
      { pk: 'presence#bob', sk: 'presence' },
    ]);
  });

  it('refuses the handshake with 429 when the user has the most connections allowed, storing nothing', async () => {
    const full = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`open-${i}`, Date.now() + 60_000]));
    ddb.on(UpdateCommand, { Key: { pk: 'open#bob' } }).rejects(Object.assign(new Error('condition'), { name: 'ConditionalCheckFailedException' }));
    ddb.on(GetCommand, { Key: { pk: 'open#bob' } }).resolves({ Item: { pk: 'open#bob', sk: 'open', connections: full } });

    const result = await connect(messageEvent(undefined, { userId: 'bob', connectionId: 'conn-11', routeKey: '$connect' }));

    expect(result).toEqual({ statusCode: 429, body: JSON.stringify({ message: 'at most 10 connections per user; close one first' }) });
    expect(ddb.commandCalls(PutCommand)).toHaveLength(0);
    expect(ddb.commandCalls(BatchWriteCommand)).toHaveLength(0);
    expect(ddb.commandCalls(UpdateCommand).map((c) => String(c.args[0].input.Key?.['pk']))).not.toContain('presence#bob');
  });

  it('refuses the handshake with 429 when the connect budget is spent, taking no slot and storing nothing', async () => {
    // The bucket is full for the next 30 s (tat), past what a handshake of 3 units may wait.
    ddb.on(UpdateCommand, { Key: { pk: 'churn#bob', sk: 'rate' } }).rejects(Object.assign(new Error('condition'), { name: 'ConditionalCheckFailedException' }));
    ddb.on(GetCommand, { Key: { pk: 'churn#bob', sk: 'rate' } }).resolves({ Item: { tat: Date.now() + 10_029 * 20 + 30_000 } });

    const result = await connect(messageEvent(undefined, { userId: 'bob', connectionId: 'conn-12', routeKey: '$connect' }));

    expect(result).toMatchObject({ statusCode: 429, body: expect.stringMatching(/too many connections opened; try again in \d+ s/) });
    expect(ddb.commandCalls(UpdateCommand).map((c) => String(c.args[0].input.Key?.['pk']))).toEqual(['churn#bob']);
    expect(ddb.commandCalls(PutCommand)).toHaveLength(0);
    expect(ddb.commandCalls(BatchWriteCommand)).toHaveLength(0);
  });

  it('gives the slot back when $connect fails after taking it', async () => {
    ddb.on(PutCommand).rejects(new Error('throttled'));

    await expect(connect(messageEvent(undefined, { userId: 'bob', connectionId: 'conn-9', routeKey: '$connect' }))).rejects.toThrow('throttled');

    expect(ddb.commandCalls(UpdateCommand).map((c) => c.args[0].input.UpdateExpression).at(-1)).toBe('REMOVE #map.#c0');
  });

  it('subscribes the new connection to everyone its user follows', async () => {
    ddb.on(QueryCommand, { TableName: 'Follows' }).resolves({ Items: [{ followed: 'alice' }, { followed: 'carol' }] });

    await connect(messageEvent(undefined, { userId: 'bob', connectionId: 'conn-9', routeKey: '$connect' }));

    const query = ddb.commandCalls(QueryCommand)[0]?.args[0].input;
    expect(query).toMatchObject({ TableName: 'Follows', ExpressionAttributeValues: { ':f': 'bob' }, ConsistentRead: true });
    const subscribed = ddb.commandCalls(BatchWriteCommand).flatMap((c) => c.args[0].input.RequestItems?.['Connections'] ?? []);
    expect(subscribed.map((w) => w.PutRequest?.Item)).toEqual(['user:alice', 'user:carol'].map((channel) => ({ ...subscriptionKey(channel, 'conn-9'), expiresAt: expect.any(Number), tokenExpiresAt: TOKEN_EXPIRES_AT })));
    expect(ddb.commandCalls(PutCommand)[0]?.args[0].input.Item).toMatchObject({ followed: 'user:alice user:carol' });
  });
});

describe('$disconnect', () => {
  it('removes the connection, the channels $connect subscribed it to, those of people followed since and those it subscribed to, and notes when the user was seen', async () => {
    ddb.on(GetCommand, { Key: { pk: 'conn#conn-9', sk: 'conn' } }).resolves({
      Item: {
        pk: 'conn#conn-9',
        sk: 'conn',
        connectionId: 'conn-9',
        userId: 'bob',
        connectedAt: 1,
        followed: 'user:alice user:carol',
        followedLater: new Set(['user:dave']),
        channels: new Set(['inbox:bob', 'user:alice']),
      },
    });

    await disconnect(messageEvent(undefined, { connectionId: 'conn-9', routeKey: '$disconnect', userId: 'bob' }));

    const deleted = ddb.commandCalls(BatchWriteCommand).flatMap((c) => c.args[0].input.RequestItems?.['Connections'] ?? []);
    expect(deleted.map((d) => d.DeleteRequest?.Key)).toEqual([
      subscriptionKey('user:alice', 'conn-9'),
      subscriptionKey('user:carol', 'conn-9'),
      subscriptionKey('user:dave', 'conn-9'),
      subscriptionKey('inbox:bob', 'conn-9'),
      { pk: 'conn#conn-9', sk: 'conn' },
    ]);
    // Presence is touched, and the connection's slot given back, side by side.
    expect(ddb.commandCalls(UpdateCommand).map((c) => c.args[0].input.Key)).toEqual(
      expect.arrayContaining([
        { pk: 'presence#bob', sk: 'presence' },
        { pk: 'open#bob', sk: 'open' },
      ]),
    );
    expect(ddb.commandCalls(UpdateCommand)).toHaveLength(2);
  });
});
