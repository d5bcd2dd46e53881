import { ApiGatewayManagementApiClient, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { handler } from '../../../lambdas/fanout';
import { statusRecord } from '../../support/stream';

const ddb = mockClient(DynamoDBDocumentClient);
const gateway = mockClient(ApiGatewayManagementApiClient);

beforeEach(() => {
  ddb.reset();
  gateway.reset();
  gateway.on(PostToConnectionCommand).resolves({});
});

describe('fan-out handler', () => {
  it('delivers the batch and reports only the records it could not process', async () => {
    ddb.on(QueryCommand, { ExpressionAttributeValues: { ':pk': 'chan#user:bob' } }).resolves({ Items: [{ sk: 'b1' }, { sk: 'b2' }] });
    ddb.on(QueryCommand, { ExpressionAttributeValues: { ':pk': 'chan#user:carol' } }).rejects(new Error('ProvisionedThroughputExceededException'));
    const failing = statusRecord('user:carol');

    const response = await handler({ Records: [statusRecord('user:bob'), failing] });

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: failing.dynamodb?.SequenceNumber }] });
    expect(gateway.commandCalls(PostToConnectionCommand).map((c) => c.args[0].input.ConnectionId)).toEqual(['b1', 'b2']);
  });
});
