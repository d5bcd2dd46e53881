import { BatchWriteCommand, DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { handler as connect } from '../../../lambdas/connect';
import { handler as disconnect } from '../../../lambdas/disconnect';
import { messageEvent } from '../../support/events';

const ddb = mockClient(DynamoDBDocumentClient);

beforeEach(() => {
  ddb.reset();
  ddb.on(PutCommand).resolves({});
  ddb.on(BatchWriteCommand).resolves({});
});

describe('$connect', () => {
  it('records the connection for the authorized user, expiring after API Gateway cuts it', async () => {
    const event = messageEvent(undefined, { userId: 'bob', connectionId: 'conn-9', routeKey: '$connect' });

    expect(await connect(event)).toEqual({ statusCode: 200 });

    const item = ddb.commandCalls(PutCommand)[0]?.args[0].input.Item;
    const connectedAt = event.requestContext.connectedAt;
    expect(item).toEqual({ pk: 'conn#conn-9', sk: 'conn', connectionId: 'conn-9', userId: 'bob', connectedAt, expiresAt: expect.any(Number) });
    expect(item?.['expiresAt']).toBeGreaterThan(connectedAt / 1000 + 2 * 3600);
  });
});

describe('$disconnect', () => {
  it('removes the connection and every subscription it had', async () => {
    ddb.on(QueryCommand, { IndexName: 'byConnection' })
      .resolvesOnce({ Items: [{ pk: 'conn#conn-9', sk: 'conn' }, { pk: 'chan#user:alice', sk: 'conn-9' }], LastEvaluatedKey: { pk: 'x' } })
      .resolvesOnce({ Items: [{ pk: 'chan#inbox:bob', sk: 'conn-9' }] });

    await disconnect(messageEvent(undefined, { connectionId: 'conn-9', routeKey: '$disconnect' }));

    const deleted = ddb.commandCalls(BatchWriteCommand).flatMap((c) => c.args[0].input.RequestItems?.['Connections'] ?? []);
    expect(deleted.map((d) => d.DeleteRequest?.Key)).toEqual([
      { pk: 'conn#conn-9', sk: 'conn' },
      { pk: 'chan#user:alice', sk: 'conn-9' },
      { pk: 'chan#inbox:bob', sk: 'conn-9' },
    ]);
  });
});
