import { App, Aws } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { expect } from '@jest/globals';
import { DEFAULT_ACCOUNT_RPS, LOW_THROTTLE_REGIONS, heartbeatsPerSecond, resolveAccountRps } from '../../cdk/limits';
import { UpdraftStack } from '../../cdk/updraft-stack';
import { PublishOutput, PublishRoute } from '../../shared/publish-api';
import { at, list, resourcesOf, statementsIn, text, type Statement } from '../support/template-json';

function synth(stage?: string): Template {
  // Skip esbuild here: these tests read the template, not the bundles.
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  return Template.fromStack(new UpdraftStack(app, 'Test', stage === undefined ? {} : { stage }));
}

const template = synth();
const resources = resourcesOf(template);
const logicalId = (type: string, prefix: string) => {
  const id = Object.keys(resources).find((key) => key.startsWith(prefix) && resources[key]?.Type === type);
  if (!id) throw new Error(`no ${type} named ${prefix}*`);
  return id;
};

/** The statements a function's role holds, found through the role its policy attaches to. */
function statementsOf(fn: string): Statement[] {
  const role = at(resources[logicalId('AWS::Lambda::Function', fn)]?.Properties, 'Role', 'Fn::GetAtt', 0);
  return Object.values(resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy' && list(r.Properties['Roles']).some((ref) => at(ref, 'Ref') === role))
    .flatMap(statementsIn);
}
const actionsOf = (fn: string) => statementsOf(fn).flatMap((s) => [s.Action].flat()).sort();
/** Everything but the ManageConnections DELETE that every message route holds to close expired connections. */
const dataActionsOf = (fn: string) => actionsOf(fn).filter((a) => a !== 'execute-api:ManageConnections');
/** The actions a function may take on one table (the statement naming the table's ARN). */
const tableActionsOf = (fn: string, table: string) => {
  const arn = JSON.stringify({ 'Fn::GetAtt': [logicalId('AWS::DynamoDB::Table', table), 'Arn'] });
  return statementsOf(fn)
    .filter((s) => [s.Resource].flat().some((r) => JSON.stringify(r) === arn))
    .flatMap((s) => [s.Action].flat())
    .sort();
};

describe('WebSocket API', () => {
  it('routes on the action field', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'WEBSOCKET', RouteSelectionExpression: '$request.body.action' });
  });

  it('has a route per action of docs/protocol.md, each answering with a route response', () => {
    for (const key of ['$default', 'post', 'subscribe', 'unsubscribe', 'history', 'feed', 'get', 'ping', 'follow', 'unfollow', 'following', 'presence']) {
      template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: key, RouteResponseSelectionExpression: '$default' });
    }
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: '$disconnect', AuthorizationType: 'NONE' });
    template.resourceCountIs('AWS::ApiGatewayV2::RouteResponse', 12);
  });

  it('puts the token authorizer on $connect, reading the query string', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'REQUEST',
      IdentitySource: ['route.request.querystring.token'],
    });
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
      RouteKey: '$connect',
      AuthorizationType: 'CUSTOM',
      AuthorizerId: { Ref: logicalId('AWS::ApiGatewayV2::Authorizer', 'ApiTokenAuthorizer') },
    });
  });

  it('names the stage from context, throttles it, and outputs both endpoints', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: 'dev',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 2500, ThrottlingBurstLimit: 5000 },
    });
    synth('prod').hasResourceProperties('AWS::ApiGatewayV2::Stage', { StageName: 'prod' });
    template.hasOutput('WebSocketUrl', { Value: { 'Fn::Join': ['', Match.arrayWith(['wss://', '/dev'])] } });
    template.hasOutput('ManagementEndpoint', { Value: { 'Fn::Join': ['', Match.arrayWith(['https://', '/dev'])] } });
  });
});

describe('the account throttle (accountRps)', () => {
  const stageOf = (t: Template) => at(Object.values(t.findResources('AWS::ApiGatewayV2::Stage', { Properties: { StageName: 'dev' } }))[0]?.['Properties'], 'DefaultRouteSettings');

  it("leaves room in the default stage throttle for a million connections' heartbeats, and in the account for the delivery budget", () => {
    const settings = stageOf(template);
    const rate = at(settings, 'ThrottlingRateLimit');
    const deliveryRps = Number(at(resources[logicalId('AWS::Lambda::Function', 'Deliver')]?.Properties, 'Environment', 'Variables', 'DELIVERY_RPS'));

    expect(typeof rate === 'number' && rate >= heartbeatsPerSecond(1_000_000)).toBe(true);
    expect(heartbeatsPerSecond(1_000_000)).toBeCloseTo(1949, 0);
    expect(Number(rate) + deliveryRps).toBeLessThanOrEqual(0.85 * DEFAULT_ACCOUNT_RPS);
  });

  it('sizes the stage throttle and the delivery budget from context, unless they are given themselves', () => {
    const low = Template.fromStack(new UpdraftStack(new App({ context: { 'aws:cdk:bundling-stacks': [], accountRps: '2500' } }), 'Low'));
    const given = Template.fromStack(new UpdraftStack(new App({ context: { 'aws:cdk:bundling-stacks': [], accountRps: '2500', throttleRate: '900' } }), 'Given'));

    expect(stageOf(low)).toEqual({ ThrottlingRateLimit: 625, ThrottlingBurstLimit: 1250 });
    low.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ DELIVERY_RPS: '1500' }) } });
    expect(stageOf(given)).toEqual({ ThrottlingRateLimit: 900, ThrottlingBurstLimit: 1250 });
  });

  it("takes AWS's default for the region: 2,500 in the 13 regions that have it, else 10,000", () => {
    const node = new App().node;
    expect([resolveAccountRps(node, 'af-south-1'), resolveAccountRps(node, 'mx-central-1'), resolveAccountRps(node, 'us-east-1'), resolveAccountRps(node, Aws.REGION)]).toEqual([2500, 2500, 10_000, 10_000]);
    expect(LOW_THROTTLE_REGIONS.size).toBe(13);
    expect(resolveAccountRps(new App({ context: { accountRps: '20000' } }).node, 'af-south-1')).toBe(20_000);
    expect(() => resolveAccountRps(new App({ context: { accountRps: 'lots' } }).node, 'us-east-1')).toThrow(/accountRps must be a whole number of at least 100, not "lots"/);
  });
});

describe('limits', () => {
  const environmentOf = (fn: string) => at(resources[logicalId('AWS::Lambda::Function', fn)]?.Properties, 'Environment', 'Variables');
  const fromContext = (context: Record<string, unknown>) => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [], ...context } });
    return new UpdraftStack(app, 'Limited');
  };

  it('gives post its rate and subscribe its subscription limit, defaults when nothing is set', () => {
    expect(environmentOf('Post')).toMatchObject({ POST_RATE_BURST: '10', POST_RATE_PER_SECOND: '1' });
    expect(environmentOf('Subscribe')).toMatchObject({ MAX_SUBSCRIPTIONS: '500' });
  });

  it('takes every limit from CDK context, as the command line gives it (strings)', () => {
    const limited = Template.fromStack(
      fromContext({ maxSubscriptions: '20', postRateBurst: '3', postRatePerSecond: '0.5', throttleRate: '50', throttleBurst: '100' }),
    );

    limited.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ POST_RATE_BURST: '3', POST_RATE_PER_SECOND: '0.5' }) },
    });
    limited.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ MAX_SUBSCRIPTIONS: '20' }) } });
    limited.hasResourceProperties('AWS::ApiGatewayV2::Stage', { DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 } });
  });

  it('refuses a limit that is not a positive number, or a fraction where a whole number is needed', () => {
    expect(() => fromContext({ postRateBurst: '0' })).toThrow(/postRateBurst must be a whole number/);
    expect(() => fromContext({ maxSubscriptions: '2.5' })).toThrow(/maxSubscriptions/);
    expect(() => fromContext({ postRatePerSecond: 'fast' })).toThrow(/postRatePerSecond must be a positive number/);
  });

  it('refuses a connect budget whose burst cannot pay for a handshake at the follow limit', () => {
    expect(() => fromContext({ connectRateBurst: '1002' })).toThrow(/connectRateBurst must be a whole number of at least 1003 \(a handshake at the follow limit must fit in the burst\)/);
    expect(() => fromContext({ connectRateBurst: '1003', connectRatePerSecond: '0.5' })).not.toThrow();
  });
});

describe('tables', () => {
  it('keeps statuses on demand, with PITR and a NEW_IMAGE stream', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'channel', KeyType: 'HASH' }, { AttributeName: 'id', KeyType: 'RANGE' }],
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      StreamSpecification: { StreamViewType: 'NEW_IMAGE' },
    });
  });

  it('expires connection rows by TTL and indexes connections by user', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
      BillingMode: 'PAY_PER_REQUEST',
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      GlobalSecondaryIndexes: [
        {
          IndexName: 'byUser',
          KeySchema: [{ AttributeName: 'userId', KeyType: 'HASH' }, { AttributeName: 'connectionId', KeyType: 'RANGE' }],
          Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['connectedAt'] },
        },
      ],
    });
  });

  it('keeps follows on demand with PITR, with no index by followed user', () => {
    const follows = resources[logicalId('AWS::DynamoDB::Table', 'Follows')]?.Properties;
    expect(follows).toMatchObject({
      KeySchema: [{ AttributeName: 'follower', KeyType: 'HASH' }, { AttributeName: 'followed', KeyType: 'RANGE' }],
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
    expect(at(follows, 'GlobalSecondaryIndexes')).toBeUndefined();
  });

  it('retains user data with deletion protection outside dev, and lets dev be destroyed', () => {
    template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Delete', Properties: Match.objectLike({ StreamSpecification: Match.anyValue(), DeletionProtectionEnabled: false }) });
    const prod = synth('prod');
    prod.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({ StreamSpecification: Match.anyValue(), DeletionProtectionEnabled: true }),
    });
    prod.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({ KeySchema: Match.arrayWith([{ AttributeName: 'follower', KeyType: 'HASH' }]), DeletionProtectionEnabled: true }),
    });
  });
});

describe('fan-out', () => {
  it('consumes the stream with every setting spelled out', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [logicalId('AWS::DynamoDB::Table', 'Statuses'), 'StreamArn'] },
      FunctionName: { Ref: logicalId('AWS::Lambda::Function', 'FanOut') },
      StartingPosition: 'LATEST',
      BatchSize: 100,
      MaximumBatchingWindowInSeconds: 0,
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: 5,
      MaximumRecordAgeInSeconds: 3600,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [logicalId('AWS::SQS::Queue', 'FanOutDlq'), 'Arn'] } } },
    });
  });

  it('is invoked only for new rows on deliverable channels', () => {
    const fanOut = JSON.stringify({ Ref: logicalId('AWS::Lambda::Function', 'FanOut') });
    const mapping = Object.values(resources).find((r) => r.Type === 'AWS::Lambda::EventSourceMapping' && JSON.stringify(r.Properties['FunctionName']) === fanOut);
    const patterns = list(at(mapping?.Properties, 'FilterCriteria', 'Filters')).map((f): unknown => JSON.parse(text(at(f, 'Pattern'))));
    expect(patterns).toEqual([
      { eventName: ['INSERT'], dynamodb: { Keys: { channel: { S: [{ prefix: 'user:' }, { prefix: 'thread:' }, { prefix: 'inbox:' }] } } } },
    ]);
  });

  it('keeps failed batches in an encrypted DLQ for 14 days', () => {
    template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 24 * 3600 });
  });

  it('sends with a configured concurrency to the management endpoint', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ FANOUT_CONCURRENCY: '32', CONNECTIONS_ENDPOINT: Match.anyValue(), CONNECTIONS_TABLE: Match.anyValue() }) },
    });
  });
});

describe('functions', () => {
  const functions = Object.values(resources).filter((r) => r.Type === 'AWS::Lambda::Function');

  it('run Node.js 22 on arm64 with source maps and JSON logs in a retained log group', () => {
    // 17 behind the WebSocket API and its streams and queue, 3 behind the publish API.
    expect(functions).toHaveLength(20);
    for (const fn of functions) {
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        LoggingConfig: { LogFormat: 'JSON', LogGroup: { Ref: expect.any(String) } },
        Environment: { Variables: expect.objectContaining({ NODE_OPTIONS: '--enable-source-maps' }) },
      });
      const logGroup = resources[text(at(fn.Properties, 'LoggingConfig', 'LogGroup', 'Ref'))];
      expect(logGroup?.Properties['RetentionInDays']).toBe(30);
    }
  });

  it('grant each handler only the actions it uses', () => {
    // GetItem: the user's connection slots, read when the cap looks reached.
    expect(tableActionsOf('Connect', 'Connections')).toEqual(['dynamodb:BatchWriteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem']);
    expect(tableActionsOf('Connect', 'Follows')).toEqual(['dynamodb:Query']);
    expect(actionsOf('Disconnect')).toEqual(['dynamodb:BatchWriteItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem']);
    expect(tableActionsOf('Follow', 'Follows')).toEqual(['dynamodb:PutItem', 'dynamodb:UpdateItem']);
    // Query: on the byUser index only; GetItem: the connection rows' token expiry, the followed user's presence
    // row (were they ever seen?) and the action budget's row; UpdateItem: connection rows, the follow-notice marker
    // and the budget (test/cdk/least-privilege.test.ts holds every grant row kind by row kind).
    expect([...new Set(tableActionsOf('Follow', 'Connections'))]).toEqual(['dynamodb:BatchWriteItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem']);
    // The follow notification, and its inbox's head (read, then advanced with it).
    expect(tableActionsOf('Follow', 'Statuses')).toEqual(['dynamodb:BatchGetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem']);
    expect(tableActionsOf('Unfollow', 'Follows')).toEqual(['dynamodb:DeleteItem', 'dynamodb:UpdateItem']);
    // Query: on the byUser index only; GetItem and UpdateItem: the action budget's row.
    expect([...new Set(tableActionsOf('Presence', 'Connections'))]).toEqual(['dynamodb:BatchGetItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem']);
    // The caller's own follow rows: presence is told for people followed only.
    expect(tableActionsOf('Presence', 'Follows')).toEqual(['dynamodb:BatchGetItem']);
    expect(tableActionsOf('Presence', 'Statuses')).toEqual([]);
    expect(dataActionsOf('Following')).toEqual(['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:UpdateItem']);
    // PutItem: the queued mark, on `chan#` partitions only (test/cdk/fanout-tree.test.ts).
    expect([...new Set(tableActionsOf('FanOut', 'Connections'))]).toEqual(['dynamodb:BatchWriteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query']);
    expect(tableActionsOf('Deliver', 'Connections')).toEqual(['dynamodb:BatchWriteItem', 'dynamodb:GetItem', 'dynamodb:Query']);
    expect(dataActionsOf('Deliver').filter((a) => a.startsWith('dynamodb:'))).toEqual(['dynamodb:BatchWriteItem', 'dynamodb:GetItem', 'dynamodb:Query']);
    expect(tableActionsOf('Post', 'Statuses')).toEqual(['dynamodb:BatchGetItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem']);
    expect(tableActionsOf('Post', 'Connections')).toEqual(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem']);
    expect(tableActionsOf('Subscribe', 'Statuses')).toEqual(['dynamodb:BatchGetItem', 'dynamodb:Query']);
    expect(tableActionsOf('Subscribe', 'Connections')).toEqual(['dynamodb:BatchWriteItem', 'dynamodb:GetItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:UpdateItem']);
    expect(dataActionsOf('Subscribe')).toEqual([
      'dynamodb:BatchGetItem',
      'dynamodb:BatchWriteItem',
      'dynamodb:GetItem',
      'dynamodb:GetItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
      'dynamodb:UpdateItem',
    ]);
    expect(dataActionsOf('Unsubscribe')).toEqual(['dynamodb:BatchWriteItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:UpdateItem']);
    expect(dataActionsOf('History')).toEqual(['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:UpdateItem']);
    expect(actionsOf('Authorizer')).toEqual(['secretsmanager:GetSecretValue']);
    expect(statementsOf('DefaultRoute')).toEqual([]);
    expect(dataActionsOf('Ping')).toEqual([]);
  });

  it('charge every action but post and ping to the action budget, reaching its users\' budget rows and no other', () => {
    const connections = JSON.stringify({ 'Fn::GetAtt': [logicalId('AWS::DynamoDB::Table', 'Connections'), 'Arn'] });
    const budget = { Effect: 'Allow', Action: ['dynamodb:GetItem', 'dynamodb:UpdateItem'], Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['budget#*'] } } };
    for (const fn of ['Subscribe', 'Unsubscribe', 'History', 'Feed', 'Get', 'Follow', 'Unfollow', 'Following', 'Presence']) {
      const scoped = statementsOf(fn).filter((s) => JSON.stringify(s.Resource).includes(connections) && JSON.stringify(s.Condition ?? {}).includes('budget#*'));
      expect(scoped).toEqual([expect.objectContaining(budget)]);
      expect(at(resources[logicalId('AWS::Lambda::Function', fn)]?.Properties, 'Environment', 'Variables')).toMatchObject({ ACTION_RATE_BURST: '1250', ACTION_RATE_PER_SECOND: '20' });
    }
    for (const fn of ['Post', 'Ping']) expect(at(resources[logicalId('AWS::Lambda::Function', fn)]?.Properties, 'Environment', 'Variables')).not.toHaveProperty('ACTION_RATE_BURST');
    expect(at(resources[logicalId('AWS::Lambda::Function', 'Connect')]?.Properties, 'Environment', 'Variables')).toMatchObject({
      MAX_CONNECTIONS_PER_USER: '10',
      CONNECT_RATE_BURST: '10030',
      CONNECT_RATE_PER_SECOND: '50',
    });
    expect(at(resources[logicalId('AWS::Lambda::Function', 'Authorizer')]?.Properties, 'Environment', 'Variables')).toMatchObject({ MAX_TOKEN_AGE_SECONDS: '86400' });
  });

  it('never grant a wildcard action on a table, and scope ManageConnections to POST on this stage', () => {
    const all: Statement[] = Object.values(resources).filter((r) => r.Type === 'AWS::IAM::Policy').flatMap(statementsIn);
    for (const action of all.flatMap((s) => [s.Action].flat())) expect(action).not.toMatch(/\*/);

    const manage = statementsOf('FanOut').filter((s) => s.Action === 'execute-api:ManageConnections');
    expect(manage).toHaveLength(1);
    // POST to deliver, DELETE to close a subscriber whose token expired; this stage only.
    expect([manage[0]?.Resource].flat().map((r) => /\/dev\/(POST|DELETE)\/@connections\/\*"\]\]\}$/.exec(JSON.stringify(r))?.[1])).toEqual(['POST', 'DELETE']);
    expect(actionsOf('FanOut')).toEqual(
      expect.arrayContaining(['dynamodb:BatchWriteItem', 'dynamodb:Query', 'execute-api:ManageConnections', 'sqs:SendMessage']),
    );
  });

  it('may close connections (DELETE) from every message route, and only fan-out and the delivery workers may send (POST)', () => {
    const manageOf = (fn: string) =>
      statementsOf(fn)
        .filter((st) => st.Action === 'execute-api:ManageConnections')
        .flatMap((st) => [st.Resource].flat())
        .map((r) => /\/(POST|DELETE)\/@connections\/\*/.exec(JSON.stringify(r))?.[1]);
    for (const fn of ['Post', 'Subscribe', 'Unsubscribe', 'History', 'Feed', 'Get', 'Ping', 'Follow', 'Unfollow', 'Following', 'Presence']) {
      expect(manageOf(fn)).toEqual(['DELETE']);
      expect(at(resources[logicalId('AWS::Lambda::Function', fn)]?.Properties, 'Environment', 'Variables')).toHaveProperty('CONNECTIONS_ENDPOINT');
    }
    // Fan-out closes a subscriber whose token has expired instead of delivering to it.
    expect(manageOf('FanOut')).toEqual(['POST', 'DELETE']);
    expect(manageOf('Deliver')).toEqual(['POST', 'DELETE']);
    for (const fn of ['Authorizer', 'Connect', 'Disconnect', 'DefaultRoute']) expect(manageOf(fn)).toEqual([]);
  });

  it('reach only the idempotency claims and rate buckets from post, and only the indexes a handler reads', () => {
    const connections = JSON.stringify({ 'Fn::GetAtt': [logicalId('AWS::DynamoDB::Table', 'Connections'), 'Arn'] });
    const claims = statementsOf('Post').filter((s) => JSON.stringify(s.Resource).includes(connections));
    const leadingKeys = claims.flatMap((s) => list(at(s.Condition, 'ForAllValues:StringLike', 'dynamodb:LeadingKeys')));
    expect([...new Set(leadingKeys)].sort()).toEqual(['post#*', 'rate#*']);

    const policies = JSON.stringify(Object.values(resources).filter((r) => r.Type === 'AWS::IAM::Policy'));
    expect(policies).not.toContain('/index/*');
    for (const fn of ['Follow', 'Unfollow', 'Presence']) expect(JSON.stringify(statementsOf(fn))).toContain('/index/byUser');
    for (const fn of ['Connect', 'Disconnect', 'Subscribe', 'Unsubscribe', 'FanOut', 'Deliver', 'Post']) expect(JSON.stringify(statementsOf(fn))).not.toContain('/index/');
  });

  it('read the JWT secret that the stack creates', () => {
    template.resourceCountIs('AWS::SecretsManager::Secret', 1);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ JWT_SECRET_ARN: { Ref: logicalId('AWS::SecretsManager::Secret', 'JwtSecret') } }) },
    });
  });
});

describe('publish API', () => {
  const httpApi = logicalId('AWS::ApiGatewayV2::Api', 'PublishApi');
  const routesOf = () => Object.values(resources).filter((r) => r.Type === 'AWS::ApiGatewayV2::Route' && at(r.Properties, 'ApiId', 'Ref') === httpApi);

  it('is an HTTP API whose every route takes IAM authorization (SigV4)', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP', Name: 'updraft-dev-publish' });
    const routes = routesOf();
    expect(routes.map((r) => r.Properties['RouteKey']).sort()).toEqual(Object.values(PublishRoute).sort());
    for (const route of routes) expect(route.Properties['AuthorizationType']).toBe('AWS_IAM');
  });

  it('sends each route to its own least-privilege function, with payload format 2.0', () => {
    const functionOf = (routeKey: string) => {
      const route = routesOf().find((r) => r.Properties['RouteKey'] === routeKey);
      const target = JSON.stringify(route?.Properties['Target']);
      const integration = Object.entries(resources).find(([id, r]) => r.Type === 'AWS::ApiGatewayV2::Integration' && target.includes(`"${id}"`))?.[1];
      expect(integration?.Properties).toMatchObject({ IntegrationType: 'AWS_PROXY', PayloadFormatVersion: '2.0' });
      return at(integration?.Properties, 'IntegrationUri', 'Fn::GetAtt', 0);
    };
    expect(functionOf(PublishRoute.post)).toBe(logicalId('AWS::Lambda::Function', 'Publish'));
    expect(functionOf(PublishRoute.status)).toBe(logicalId('AWS::Lambda::Function', 'PublishRead'));
    expect(functionOf(PublishRoute.history)).toBe(logicalId('AWS::Lambda::Function', 'PublishRead'));
    expect(functionOf(PublishRoute.inbox)).toBe(logicalId('AWS::Lambda::Function', 'PublishInbox'));
  });

  it('charges its own budget, from context, and throttles its stage with access logs', () => {
    const t = Template.fromStack(
      new UpdraftStack(new App({ context: { 'aws:cdk:bundling-stacks': [], publishRateBurst: '7', publishRatePerSecond: '0.5', publishThrottleRate: '20', publishThrottleBurst: '40' } }), 'Ctx'),
    );
    t.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'publish API: POST /statuses',
      Environment: { Variables: Match.objectLike({ PUBLISH_RATE_BURST: '7', PUBLISH_RATE_PER_SECOND: '0.5' }) },
    });
    t.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 20, ThrottlingBurstLimit: 40 },
      AccessLogSettings: { Format: Match.stringLikeRegexp('"caller":"\\$context.identity.userArn"') },
    });
  });

  it('grants nothing to anyone: two managed policies, attached to no role, say what a backend may be given', () => {
    const policies = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::IAM::ManagedPolicy');
    expect(policies).toHaveLength(2);
    const routesIn = (prefix: string) => {
      const found = policies.find(([id]) => id.startsWith(prefix));
      expect(found?.[1].Properties['Roles'] ?? []).toEqual([]);
      expect(found?.[1].Properties['Users'] ?? []).toEqual([]);
      const statements = statementsIn(found?.[1] ?? { Type: '', Properties: {} });
      expect(statements.every((s) => s.Effect === 'Allow' && s.Action === 'execute-api:Invoke')).toBe(true);
      // The route ARNs' tails, after the API's id: `/$default/POST/statuses`.
      return statements.flatMap((s) => [s.Resource].flat().map((r) => text(at(r, 'Fn::Join', 1, 8)))).sort();
    };
    expect(routesIn('PublishApiPublishPolicy')).toEqual(['/$default/GET/channels/*/history', '/$default/GET/statuses/*', '/$default/POST/statuses']);
    expect(routesIn('PublishApiReadInboxesPolicy')).toEqual(['/$default/GET/inboxes/*/history']);
    // Nothing else in the stack may invoke it.
    const invokers = Object.values(resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy')
      .flatMap(statementsIn)
      .filter((s) => [s.Action].flat().includes('execute-api:Invoke'));
    expect(invokers).toEqual([]);
  });

  it('outputs its URL and the two policies by the names integrators and the local stack read', () => {
    const outputs = template.toJSON()['Outputs'] as Record<string, { Value: unknown }>;
    expect(Object.keys(outputs)).toEqual(expect.arrayContaining(Object.values(PublishOutput)));
    expect(JSON.stringify(outputs[PublishOutput.url]?.Value)).toContain(httpApi);
  });

  it('alarms on its 5xx answers', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: Match.stringLikeRegexp('PublishApiServerErrors$'),
      Metrics: [Match.objectLike({ MetricStat: Match.objectLike({ Metric: { MetricName: '5xx', Namespace: 'AWS/ApiGateway', Dimensions: [{ Name: 'ApiId', Value: { Ref: httpApi } }] } }) })],
    });
  });
});
