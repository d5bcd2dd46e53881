// jest's global expect types its asymmetric matchers (expect.any, …) as any; @jest/globals types them.
import { expect } from '@jest/globals';
import { App } from 'aws-cdk-lib';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { UpdraftStack } from '../../../cdk/updraft-stack';
import { assertJava } from '../../../local/dynamodb';
import { resolve, type Resolver } from '../../../local/intrinsics';
import { loadApp, type AppModel } from '../../../local/template';

/** The local stack's model comes from the synthesized template and nowhere else. */
const outdir = mkdtempSync(path.join(tmpdir(), 'updraft-model-'));
let app: AppModel;

beforeAll(() => {
  // As the CLI does, ask for asset metadata; skip esbuild, since only the template is read here.
  const cdkApp = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [], 'aws:cdk:enable-asset-metadata': true } });
  new UpdraftStack(cdkApp, 'Updraft-dev');
  cdkApp.synth();
  app = loadApp(outdir);
});

afterAll(() => rmSync(outdir, { recursive: true, force: true }));

function byPrefix<T extends { logicalId: string }>(items: Iterable<T>, prefix: string): T {
  const found = [...items].find((i) => i.logicalId.startsWith(prefix));
  if (!found) throw new Error(`nothing named ${prefix}* in the template`);
  return found;
}

describe('loadApp', () => {
  it('reads tables with their keys, indexes, stream and TTL', () => {
    const statuses = byPrefix(app.tables.values(), 'Statuses');
    const connections = byPrefix(app.tables.values(), 'Connections');

    expect(statuses).toMatchObject({ name: expect.stringMatching(/^Updraft-dev-Statuses/), streamViewType: 'NEW_IMAGE' });
    expect(statuses.definition).toMatchObject({ StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_IMAGE' }, BillingMode: 'PAY_PER_REQUEST' });
    expect(connections).toMatchObject({ ttlAttribute: 'expiresAt' });
    expect(connections.definition['GlobalSecondaryIndexes']).toEqual([expect.objectContaining({ IndexName: 'byUser' })]);
    expect([statuses.partitionKey, connections.partitionKey]).toEqual(['channel', 'pk']);
    expect(connections.indexPartitionKeys).toEqual(new Map([['byUser', 'userId']]));
  });

  it('reads every route with its function, the authorizer on $connect, and which routes answer', () => {
    expect([...app.api.routes.keys()].sort()).toEqual(['$connect', '$default', '$disconnect', 'feed', 'follow', 'following', 'get', 'history', 'ping', 'post', 'presence', 'subscribe', 'unfollow', 'unsubscribe']);
    expect(app.api).toMatchObject({ stageName: 'dev', routeSelectionExpression: '$request.body.action' });
    const connect = app.api.routes.get('$connect');
    expect(connect?.authorizer).toEqual({ functionId: expect.stringMatching(/^Authorizer/), identitySource: ['route.request.querystring.token'] });
    expect(connect?.twoWay).toBe(false);
    expect(app.api.routes.get('post')).toMatchObject({ functionId: expect.stringMatching(/^Post/), twoWay: true });
  });

  it('reads functions with their timeout and unresolved environment', () => {
    const fanOut = byPrefix(app.functions.values(), 'FanOut');
    expect(fanOut).toMatchObject({ handler: 'index.handler', timeoutMs: 60_000, memoryMb: 1024 });
    expect(fanOut.environment['CONNECTIONS_ENDPOINT']).toHaveProperty('Fn::Join');
  });

  it('reads the stream mapping in full', () => {
    expect(app.streamMappings).toEqual([
      expect.objectContaining({
        tableId: expect.stringMatching(/^Statuses/),
        functionId: expect.stringMatching(/^FanOut/),
        startingPosition: 'LATEST',
        batchSize: 100,
        batchingWindowMs: 0,
        bisectOnError: true,
        maxRetries: 5,
        maxRecordAgeMs: 3_600_000,
        reportBatchItemFailures: true,
        onFailureQueueId: expect.stringMatching(/^FanOutDlq/),
      }),
    ]);
    expect(app.streamMappings[0]?.filterPatterns[0]).toMatchObject({ eventName: ['INSERT'] });
  });

  it("reads the fan-out tree's delivery queue, its DLQ and its event source mapping", () => {
    const queue = byPrefix(app.queues.values(), 'DeliveryQueue');
    const dlq = byPrefix(app.queues.values(), 'DeliveryDlq');

    expect(queue).toMatchObject({ name: expect.stringMatching(/^Updraft-dev-DeliveryQueue.*\.fifo$/), fifo: true, deduplicationScope: 'messageGroup', redrive: { deadLetterQueueId: dlq.logicalId } });
    expect(dlq.fifo).toBe(true);
    expect(app.queueMappings).toEqual([
      expect.objectContaining({ queueId: queue.logicalId, functionId: expect.stringMatching(/^Deliver/), batchSize: 10, reportBatchItemFailures: true, maxConcurrency: expect.any(Number) }),
    ]);
  });
});

describe('loadApp on the fan-out tree', () => {
  /** The CloudFormation the CDK stack writes for the delivery queue, its DLQ and its mapping, next to a stream mapping. */
  const resources = {
    Api: { Type: 'AWS::ApiGatewayV2::Api', Properties: { Name: 'Api', ProtocolType: 'WEBSOCKET', RouteSelectionExpression: '$request.body.action' } },
    Stage: { Type: 'AWS::ApiGatewayV2::Stage', Properties: { ApiId: { Ref: 'Api' }, StageName: 'dev' } },
    Statuses: {
      Type: 'AWS::DynamoDB::Table',
      Properties: {
        KeySchema: [{ AttributeName: 'channel', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'channel', AttributeType: 'S' }],
        StreamSpecification: { StreamViewType: 'NEW_IMAGE' },
      },
    },
    FanOut: { Type: 'AWS::Lambda::Function', Properties: { Environment: { Variables: { DELIVERY_QUEUE_URL: { Ref: 'DeliveryQueue' } } } }, Metadata: { 'aws:asset:path': 'asset.fanout' } },
    Deliver: { Type: 'AWS::Lambda::Function', Properties: { Timeout: 60 }, Metadata: { 'aws:asset:path': 'asset.deliver' } },
    DeliveryDlq: { Type: 'AWS::SQS::Queue', Properties: { FifoQueue: true, MessageRetentionPeriod: 1209600 } },
    DeliveryQueue: {
      Type: 'AWS::SQS::Queue',
      Properties: {
        FifoQueue: true,
        ContentBasedDeduplication: false,
        DeduplicationScope: 'messageGroup',
        FifoThroughputLimit: 'perMessageGroupId',
        VisibilityTimeout: 360,
        RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': ['DeliveryDlq', 'Arn'] }, maxReceiveCount: 5 },
      },
    },
    DeliverMapping: {
      Type: 'AWS::Lambda::EventSourceMapping',
      Properties: {
        EventSourceArn: { 'Fn::GetAtt': ['DeliveryQueue', 'Arn'] },
        FunctionName: { Ref: 'Deliver' },
        BatchSize: 10,
        ScalingConfig: { MaximumConcurrency: 10 },
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      },
    },
    FanOutMapping: {
      Type: 'AWS::Lambda::EventSourceMapping',
      Properties: { EventSourceArn: { 'Fn::GetAtt': ['Statuses', 'StreamArn'] }, FunctionName: { Ref: 'FanOut' }, StartingPosition: 'LATEST' },
    },
  };
  let tree: AppModel;
  const treeDir = mkdtempSync(path.join(tmpdir(), 'updraft-tree-'));
  afterAll(() => rmSync(treeDir, { recursive: true, force: true }));

  beforeAll(() => {
    writeFileSync(path.join(treeDir, 'manifest.json'), JSON.stringify({ artifacts: { 'Updraft-dev': { type: 'aws:cloudformation:stack', properties: { templateFile: 't.json' } } } }));
    writeFileSync(path.join(treeDir, 't.json'), JSON.stringify({ Resources: resources }));
    tree = loadApp(treeDir);
  });

  it('reads FIFO queues with their visibility timeout, deduplication and redrive policy', () => {
    expect(tree.queues.get('DeliveryQueue')).toEqual({
      logicalId: 'DeliveryQueue',
      name: 'Updraft-dev-DeliveryQueue.fifo',
      fifo: true,
      contentBasedDeduplication: false,
      deduplicationScope: 'messageGroup',
      visibilityTimeoutMs: 360_000,
      delayMs: 0,
      maxMessageBytes: 262_144,
      redrive: { deadLetterQueueId: 'DeliveryDlq', maxReceiveCount: 5 },
    });
    expect(tree.queues.get('DeliveryDlq')).toMatchObject({ fifo: true, deduplicationScope: 'queue', visibilityTimeoutMs: 30_000 });
  });

  it('tells a queue mapping from a stream mapping', () => {
    expect(tree.queueMappings).toEqual([
      {
        logicalId: 'DeliverMapping',
        queueId: 'DeliveryQueue',
        functionId: 'Deliver',
        batchSize: 10,
        batchingWindowMs: 0,
        maxConcurrency: 10,
        reportBatchItemFailures: true,
        filterPatterns: [],
        enabled: true,
      },
    ]);
    expect(tree.streamMappings).toEqual([expect.objectContaining({ logicalId: 'FanOutMapping', tableId: 'Statuses', functionId: 'FanOut' })]);
  });
});

describe('resolve', () => {
  const resolver: Resolver = { ref: (id) => `ref(${id})`, getAtt: (id, attribute) => `${id}.${attribute}` };

  it('resolves the intrinsics CDK writes into environments and ARNs', () => {
    expect(resolve({ 'Fn::Join': ['', ['https://', { Ref: 'Api' }, '.execute-api.', { Ref: 'AWS::Region' }, '.', { Ref: 'AWS::URLSuffix' }, '/dev']] }, resolver, 'eu-west-1')).toBe(
      'https://ref(Api).execute-api.eu-west-1.amazonaws.com/dev',
    );
    expect(resolve({ 'Fn::GetAtt': ['Table', 'StreamArn'] }, resolver, 'r')).toBe('Table.StreamArn');
    expect(resolve({ 'Fn::Select': [1, { 'Fn::Split': ['/', 'a/b/c'] }] }, resolver, 'r')).toBe('b');
    expect(resolve({ 'Fn::Sub': 'arn:${AWS::Partition}:x:${AWS::Region}:${Thing.Arn}' }, resolver, 'r')).toBe('arn:aws:x:r:Thing.Arn');
    expect(() => resolve({ 'Fn::ImportValue': 'x' }, resolver, 'r')).toThrow(/unsupported intrinsic/);
  });
});

describe('assertJava', () => {
  it('says how to install Java when it is missing', () => {
    expect(() => assertJava({ PATH: '/nonexistent' })).toThrow(/needs Java.*apt-get install -y default-jre-headless/);
    expect(() => assertJava()).not.toThrow();
  });
});
