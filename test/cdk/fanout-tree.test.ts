import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { HttpApi, WebSocketApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { expect } from '@jest/globals';
import { Monitoring } from '../../cdk/constructs/monitoring';
import { UpdraftStack, type UpdraftStackProps } from '../../cdk/updraft-stack';
import { FanOutDefaults } from '../../shared/config';
import { allows, at, list, resourcesOf, roleStatements, type Resource, type Statement } from '../support/template-json';

/** The fan-out tree's resources: the delivery queue and its DLQ, the Deliver workers, their grants, settings and alarms. */
function synth(props: UpdraftStackProps = {}, context: Record<string, unknown> = {}) {
  // Skip esbuild here: these tests read the template, not the bundles.
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [], ...context } });
  const template = Template.fromStack(new UpdraftStack(app, 'Tree', props));
  const resources = resourcesOf(template);
  const idOf = (type: string, prefix: string) => {
    const ids = Object.keys(resources).filter((key) => key.startsWith(prefix) && resources[key]?.Type === type);
    if (ids.length !== 1 || ids[0] === undefined) throw new Error(`expected one ${type} named ${prefix}*, found ${ids.length}`);
    return ids[0];
  };
  const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
  const propsOf = (type: string, prefix: string) => resources[idOf(type, prefix)]?.Properties ?? {};
  const environmentOf = (fn: string): unknown => at(propsOf('AWS::Lambda::Function', fn), 'Environment', 'Variables');
  const arnOf = (type: string, prefix: string) => ({ 'Fn::GetAtt': [idOf(type, prefix), 'Arn'] });

  const statementsOf = (fn: string): Statement[] => roleStatements(resources, idOf('AWS::Lambda::Function', fn));
  /** Whether a function's role allows `action` on a resource of the stack, for an item whose partition key is `leadingKey`. */
  const may = (fn: string, action: string, resource: { type: string; prefix: string }, leadingKey?: string): boolean =>
    allows(statementsOf(fn), action, arnOf(resource.type, resource.prefix), leadingKey);

  return { template, resources, idOf, ofType, propsOf, environmentOf, arnOf, statementsOf, may };
}

const tree = synth();
const Connections = { type: 'AWS::DynamoDB::Table', prefix: 'Connections' };
const Statuses = { type: 'AWS::DynamoDB::Table', prefix: 'Statuses' };
const DeliveryQueue = { type: 'AWS::SQS::Queue', prefix: 'DeliveryQueue' };
const DeliveryDlq = { type: 'AWS::SQS::Queue', prefix: 'DeliveryDlq' };
/** Items of the Connections table, by kind (shared/schema.ts). */
const subscription = 'chan#user:ada#0';
const connection = 'conn#AbCdEfGhIjKlMnO=';

describe('delivery queue', () => {
  it('is a high-throughput FIFO queue: order within a message group, deduplication and throughput per group', () => {
    const queue = tree.propsOf('AWS::SQS::Queue', 'DeliveryQueue');

    expect(queue).toMatchObject({ FifoQueue: true, DeduplicationScope: 'messageGroup', FifoThroughputLimit: 'perMessageGroupId', SqsManagedSseEnabled: true });
    // Senders name each segment's deduplication id (shared/fanout/segment-queue.ts): no content-based deduplication.
    expect(queue['ContentBasedDeduplication']).toBeUndefined();
    expect(queue['MessageRetentionPeriod']).toBe(24 * 3600);
  });

  it('hides a received batch for at least six times the worker timeout, as AWS advises for Lambda event sources', () => {
    const timeout = Number(tree.propsOf('AWS::Lambda::Function', 'Deliver')['Timeout']);
    const visibility = Number(tree.propsOf('AWS::SQS::Queue', 'DeliveryQueue')['VisibilityTimeout']);

    expect(timeout).toBe(60);
    expect(visibility).toBeGreaterThanOrEqual(6 * timeout);
  });

  it('moves a segment received 5 times to a FIFO DLQ that keeps it 14 days', () => {
    expect(tree.propsOf('AWS::SQS::Queue', 'DeliveryQueue')['RedrivePolicy']).toEqual({ deadLetterTargetArn: tree.arnOf('AWS::SQS::Queue', 'DeliveryDlq'), maxReceiveCount: 5 });
    expect(tree.propsOf('AWS::SQS::Queue', 'DeliveryDlq')).toMatchObject({ FifoQueue: true, SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 24 * 3600 });
    tree.template.hasOutput('DeliveryDlqUrl', { Value: { Ref: tree.idOf('AWS::SQS::Queue', 'DeliveryDlq') } });
  });

  it('refuses requests without TLS, on the queue and its DLQ', () => {
    for (const queue of ['DeliveryQueue', 'DeliveryDlq']) {
      tree.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: tree.idOf('AWS::SQS::Queue', queue) }],
        PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Action: 'sqs:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
      });
    }
  });
});

describe('delivery workers', () => {
  it('are invoked by the queue 10 messages at a time, at most deliveryWorkers at once, reporting failed messages', () => {
    const mappings = tree.ofType('AWS::Lambda::EventSourceMapping').filter(([, m]) => JSON.stringify(m.Properties['EventSourceArn']) === JSON.stringify(tree.arnOf('AWS::SQS::Queue', 'DeliveryQueue')));

    expect(mappings.map(([, m]) => m.Properties)).toEqual([
      {
        EventSourceArn: tree.arnOf('AWS::SQS::Queue', 'DeliveryQueue'),
        FunctionName: { Ref: tree.idOf('AWS::Lambda::Function', 'Deliver') },
        BatchSize: 10,
        ScalingConfig: { MaximumConcurrency: FanOutDefaults.deliveryWorkers },
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      },
    ]);
  });

  it('run with 1,024 MB for 60 s at most, told their budget, pool size, concurrency, table, endpoint and stage', () => {
    expect(tree.propsOf('AWS::Lambda::Function', 'Deliver')).toMatchObject({ MemorySize: 1024, Timeout: 60, Description: expect.stringMatching(/deliver/i) });
    expect(tree.environmentOf('Deliver')).toEqual({
      POWERTOOLS_SERVICE_NAME: 'updraft',
      NODE_OPTIONS: '--enable-source-maps',
      UPDRAFT_STAGE: 'dev',
      DELIVERY_RPS: '6000',
      DELIVERY_WORKERS: '10',
      DELIVERY_CONCURRENCY: '100',
      CONNECTIONS_TABLE: { Ref: tree.idOf('AWS::DynamoDB::Table', 'Connections') },
      CONNECTIONS_ENDPOINT: { 'Fn::Join': ['', expect.arrayContaining(['https://', '/dev'])] },
    });
  });

  it('read subscriptions and remove gone connections, and nothing else of the tables', () => {
    const { may } = tree;

    expect(may('Deliver', 'dynamodb:Query', Connections, subscription)).toBe(true);
    expect(may('Deliver', 'dynamodb:GetItem', Connections, connection)).toBe(true);
    expect(may('Deliver', 'dynamodb:BatchWriteItem', Connections, subscription)).toBe(true);
    expect(may('Deliver', 'dynamodb:BatchWriteItem', Connections, connection)).toBe(true);

    expect(may('Deliver', 'dynamodb:PutItem', Connections, subscription)).toBe(false);
    expect(may('Deliver', 'dynamodb:UpdateItem', Connections, connection)).toBe(false);
    expect(may('Deliver', 'dynamodb:Query', Connections, 'presence#ada')).toBe(false);
    expect(may('Deliver', 'dynamodb:GetItem', Connections, 'rate#ada')).toBe(false);
    for (const action of ['PutItem', 'Query', 'GetItem']) expect(may('Deliver', `dynamodb:${action}`, Statuses, 'user:ada')).toBe(false);
  });

  it('take segments from the queue but never send to it', () => {
    const { may } = tree;

    for (const action of ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility']) expect(may('Deliver', action, DeliveryQueue)).toBe(true);
    expect(may('Deliver', 'sqs:SendMessage', DeliveryQueue)).toBe(false);
    expect(may('Deliver', 'sqs:SendMessage', DeliveryDlq)).toBe(false);
  });

  it('post to connections of this stage, and close only those whose token expired (DELETE)', () => {
    const manage = tree.statementsOf('Deliver').filter((s) => s.Action === 'execute-api:ManageConnections');

    expect(manage.flatMap((s) => [s.Resource].flat()).map((r) => /\/(\w+)\/(POST|DELETE)\/@connections\/\*/.exec(JSON.stringify(r))?.slice(1))).toEqual([
      ['dev', 'POST'],
      ['dev', 'DELETE'],
    ]);
  });
});

describe('stream consumer, the root of the tree', () => {
  it('is told the queue and the direct-delivery threshold', () => {
    expect(tree.environmentOf('FanOut')).toMatchObject({
      DELIVERY_QUEUE_URL: { Ref: tree.idOf('AWS::SQS::Queue', 'DeliveryQueue') },
      FANOUT_DIRECT_MAX: String(FanOutDefaults.directMax),
    });
  });

  it('sends segments to the queue and may not take them', () => {
    const { may } = tree;

    expect(may('FanOut', 'sqs:SendMessage', DeliveryQueue)).toBe(true);
    for (const action of ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:PurgeQueue']) expect(may('FanOut', action, DeliveryQueue)).toBe(false);
  });

  it("writes the queued mark in a channel's partition, and no row of another kind", () => {
    const { may } = tree;

    expect(may('FanOut', 'dynamodb:PutItem', Connections, subscription)).toBe(true);
    for (const key of [connection, 'post#ada#r1', 'rate#ada', 'presence#ada']) expect(may('FanOut', 'dynamodb:PutItem', Connections, key)).toBe(false);
    expect(may('FanOut', 'dynamodb:UpdateItem', Connections, subscription)).toBe(false);
  });

  it('is the only function that sends to the delivery queue, and the workers the only ones that take from it', () => {
    const functions = tree.ofType('AWS::Lambda::Function').map(([id]) => id);
    const allowed = (action: string) => functions.filter((id) => tree.may(id, action, DeliveryQueue));

    expect(allowed('sqs:SendMessage')).toEqual([tree.idOf('AWS::Lambda::Function', 'FanOut')]);
    expect(allowed('sqs:ReceiveMessage')).toEqual([tree.idOf('AWS::Lambda::Function', 'Deliver')]);
  });
});

describe('tree settings from CDK context', () => {
  const settingsOf = (stack: ReturnType<typeof synth>) => {
    const [[, mapping] = []] = stack.ofType('AWS::Lambda::EventSourceMapping').filter(([, m]) => m.Properties['ScalingConfig'] !== undefined);
    return {
      deliver: stack.environmentOf('Deliver'),
      fanOut: at(stack.environmentOf('FanOut'), 'FANOUT_DIRECT_MAX'),
      maximumConcurrency: at(mapping?.Properties, 'ScalingConfig', 'MaximumConcurrency'),
    };
  };

  it('takes every setting from context as the command line gives it (strings), into plain values in the template', () => {
    const settings = settingsOf(synth({}, { deliveryRps: '2500.5', deliveryWorkers: '50', deliveryConcurrency: '20', fanOutDirectMax: '500' }));

    expect(settings).toEqual({
      deliver: expect.objectContaining({ DELIVERY_RPS: '2500.5', DELIVERY_WORKERS: '50', DELIVERY_CONCURRENCY: '20' }),
      fanOut: '500',
      maximumConcurrency: 50,
    });
  });

  it('lets stack props win over context', () => {
    const settings = settingsOf(synth({ deliveryWorkers: 4 }, { deliveryWorkers: '50' }));

    expect(settings.maximumConcurrency).toBe(4);
    expect(settings.deliver).toMatchObject({ DELIVERY_WORKERS: '4' });
  });

  it.each([
    [{ deliveryWorkers: '1' }, /deliveryWorkers must be a whole number from 2 to 1000 \(the bounds of an SQS event source's maximum concurrency\), not "1"/],
    [{ deliveryWorkers: '1001' }, /deliveryWorkers must be a whole number from 2 to 1000/],
    [{ deliveryWorkers: '2.5' }, /deliveryWorkers/],
    [{ deliveryRps: '0' }, /deliveryRps must be a positive number/],
    [{ deliveryRps: 'fast' }, /deliveryRps must be a positive number, not "fast"/],
    [{ deliveryConcurrency: '0' }, /deliveryConcurrency must be a whole number of at least 1/],
    [{ fanOutDirectMax: '1.5' }, /fanOutDirectMax must be a whole number of at least 1/],
  ])('refuses %j', (context, message) => {
    expect(() => synth({}, context)).toThrow(message);
  });
});

describe('tree monitoring', () => {
  const alarms = tree.ofType('AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
  const alarmNamed = (name: string) => {
    const found = alarms.find((a) => a['AlarmName'] === `Tree-${name}`);
    if (!found) throw new Error(`no alarm ${name}`);
    return found;
  };
  const queueName = (prefix: string) => [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [tree.idOf('AWS::SQS::Queue', prefix), 'QueueName'] } }];
  const metricStats = (alarm: Resource['Properties']) => list(alarm['Metrics']).map((m) => at(m, 'MetricStat'));

  it('alarms on the first segment in the delivery DLQ', () => {
    expect(alarmNamed('DeliveryDlqNotEmpty')).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: queueName('DeliveryDlq'),
      Statistic: 'Maximum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
  });

  it('alarms when a queued segment is older than the time that keeps order per subscriber allows', () => {
    const alarm = alarmNamed('DeliveryQueueAge');

    expect(metricStats(alarm)).toEqual([{ Metric: { Namespace: 'AWS/SQS', MetricName: 'ApproximateAgeOfOldestMessage', Dimensions: queueName('DeliveryQueue') }, Stat: 'Maximum', Period: 60 }]);
    expect(alarm).toMatchObject({ Threshold: 300, EvaluationPeriods: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
    // The channel's mark outlives each queued status by at least half of queuedForMs; the alarm must ring first.
    expect(Number(alarm['Threshold']) * 1000).toBeLessThan(FanOutDefaults.queuedForMs / 2);
  });

  it('alarms when API Gateway throttles more than 1% of deliveries for 15 minutes', () => {
    const alarm = alarmNamed('DeliveriesThrottled');

    expect(alarm).toMatchObject({ Threshold: 1, EvaluationPeriods: 3, DatapointsToAlarm: 3 });
    expect(list(alarm['Metrics']).map((m) => at(m, 'Expression')).filter(Boolean)).toEqual(['100 * throttled / MAX([throttled + delivered, 1])']);
    expect(metricStats(alarm).filter(Boolean)).toEqual(
      expect.arrayContaining(
        ['ThrottledDeliveries', 'Deliveries'].map((MetricName) => ({
          Metric: { Namespace: 'Updraft', MetricName, Dimensions: [{ Name: 'service', Value: 'updraft' }, { Name: 'stage', Value: 'dev' }] },
          Stat: 'Sum',
          Period: 300,
        })),
      ),
    );
  });

  it('alarms on the workers crashing or being throttled, as for every function', () => {
    const deliver = { Ref: tree.idOf('AWS::Lambda::Function', 'Deliver') };

    expect(alarmNamed('DeliverErrors')).toMatchObject({ Namespace: 'AWS/Lambda', MetricName: 'Errors', Dimensions: [{ Name: 'FunctionName', Value: deliver }] });
    expect(alarmNamed('DeliverThrottles')).toMatchObject({ Namespace: 'AWS/Lambda', MetricName: 'Throttles', Dimensions: [{ Name: 'FunctionName', Value: deliver }] });
  });

  it("graphs the queue's depth and age, segments queued and delivered, throttling, and the workers against their cap", () => {
    const [[, dashboard] = []] = tree.ofType('AWS::CloudWatch::Dashboard');
    const body = JSON.stringify(at(dashboard?.Properties, 'DashboardBody'));

    for (const expected of [
      '\\"AWS/SQS\\",\\"ApproximateNumberOfMessagesVisible\\"',
      '\\"AWS/SQS\\",\\"ApproximateNumberOfMessagesNotVisible\\"',
      '\\"AWS/SQS\\",\\"ApproximateAgeOfOldestMessage\\"',
      '\\"Updraft\\",\\"QueuedSegments\\"',
      '\\"Updraft\\",\\"DeliveredSegments\\"',
      '\\"Updraft\\",\\"ThrottledDeliveries\\"',
      '\\"AWS/Lambda\\",\\"ConcurrentExecutions\\"',
      // The workers' cap drawn across their concurrency.
      '{\\"value\\":10,\\"label\\":\\"maximum concurrency (deliveryWorkers)\\"',
    ]) {
      expect(body).toContain(expected);
    }
    expect(body).toContain(`{"Ref":"${tree.idOf('AWS::Lambda::Function', 'Deliver')}"}`);
  });

  it('refuses a queue age alarm that would ring only once order may already be lost', () => {
    const monitoring = (queueAgeThreshold: Duration) => {
      const stack = new Stack(new App(), 'Alone');
      const fn = (id: string) => LambdaFunction.fromFunctionName(stack, id, id);
      const queue = (id: string) => Queue.fromQueueArn(stack, id, `arn:aws:sqs:eu-west-1:000000000000:${id}.fifo`);
      return new Monitoring(stack, 'Monitoring', {
        stage: 'dev',
        api: WebSocketApi.fromWebSocketApiAttributes(stack, 'Api', { webSocketId: 'abc123' }),
        publishApi: HttpApi.fromHttpApiAttributes(stack, 'PublishApi', { httpApiId: 'def456' }),
        functions: {},
        fanOut: fn('FanOut'),
        authorizer: fn('Authorizer'),
        deadLetterQueue: queue('FanOutDlq'),
        delivery: { queue: queue('DeliveryQueue'), deadLetterQueue: queue('DeliveryDlq'), worker: fn('Deliver'), maxWorkers: 2, queueAgeThreshold },
      });
    };

    expect(() => monitoring(Duration.millis(FanOutDefaults.queuedForMs / 2))).toThrow(/must ring before 45 minutes/);
    expect(() => monitoring(Duration.minutes(44))).not.toThrow();
  });
});
