import { ApiGatewayManagementApiClient, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { handler } from '../../../lambdas/fanout';
import { withEmf } from '../../support/emf';
import { aStatus, statusRecord } from '../../support/stream';

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

describe('fan-out metrics', () => {
  it('publishes deliveries, Gone, failures and one latency per delivered status, in one EMF line per invocation', async () => {
    const createdAt = new Date(Date.now() - 250).toISOString();
    const records = [
      statusRecord('user:bob', aStatus({ id: '01JD0000000000000000000011', createdAt })),
      statusRecord('user:dave', aStatus({ id: '01JD0000000000000000000012', createdAt })),
      statusRecord('user:nobody', aStatus({ id: '01JD0000000000000000000013', createdAt })),
    ];

    const { outcome, documents } = await withEmf(async () => {
      let isolated: typeof handler | undefined;
      await jest.isolateModulesAsync(async () => {
        const { mockClient: isolatedMock } = await import('aws-sdk-client-mock');
        const lib = await import('@aws-sdk/lib-dynamodb');
        const api = await import('@aws-sdk/client-apigatewaymanagementapi');
        const db = isolatedMock(lib.DynamoDBDocumentClient);
        db.on(lib.QueryCommand, { ExpressionAttributeValues: { ':pk': 'chan#user:bob' } }).resolves({ Items: [{ sk: 'b1' }, { sk: 'gone1' }] });
        db.on(lib.QueryCommand, { ExpressionAttributeValues: { ':pk': 'chan#user:dave' } }).resolves({ Items: [{ sk: 'd1' }, { sk: 'broken1' }] });
        db.on(lib.QueryCommand, { ExpressionAttributeValues: { ':pk': 'chan#user:nobody' } }).resolves({ Items: [] });
        db.on(lib.GetCommand).resolves({});
        db.on(lib.BatchWriteCommand).resolves({});
        const gone = Object.assign(new Error('gone'), { name: 'GoneException', $metadata: { httpStatusCode: 410 } });
        const gw = isolatedMock(api.ApiGatewayManagementApiClient);
        gw.on(api.PostToConnectionCommand).resolves({});
        gw.on(api.PostToConnectionCommand, { ConnectionId: 'gone1' }).rejects(gone);
        gw.on(api.PostToConnectionCommand, { ConnectionId: 'broken1' }).rejects(Object.assign(new Error('boom'), { $metadata: { httpStatusCode: 500 } }));
        ({ handler: isolated } = await import('../../../lambdas/fanout'));
      });
      if (!isolated) throw new Error('the fan-out handler did not load');
      return isolated({ Records: records });
    });

    expect(outcome).toEqual({ status: 'fulfilled', value: { batchItemFailures: [] } });
    expect(documents).toHaveLength(1);
    const [emf] = documents;
    if (!emf) throw new Error('no EMF document');
    expect(emf._aws.CloudWatchMetrics[0]).toMatchObject({ Namespace: 'Updraft', Dimensions: [['service', 'stage']] });
    expect(emf).toMatchObject({ service: 'updraft', stage: 'test', Deliveries: 2, Gone: 1, DeliveryFailures: 1 });
    // Two statuses reached someone; the one on a channel nobody follows has no latency to report.
    const latencies = emf['PostToDeliveryLatency'] as number[];
    expect(latencies).toHaveLength(2);
    for (const latency of latencies) expect(latency).toBeGreaterThanOrEqual(250);
    expect(emf._aws.CloudWatchMetrics[0]?.Metrics).toContainEqual({ Name: 'PostToDeliveryLatency', Unit: 'Milliseconds' });
  });
});
