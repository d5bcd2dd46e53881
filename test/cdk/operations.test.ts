import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { stackPropsFromContext } from '../../cdk/context';
import { expect } from '@jest/globals';
import { UpdraftStack, type UpdraftStackProps } from '../../cdk/updraft-stack';
import { at, constructName, resourcesOf, text, type Resource } from '../support/template-json';


function synth(props: UpdraftStackProps = {}) {
  // Skip esbuild here: these tests read the template, not the bundles.
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const template = Template.fromStack(new UpdraftStack(app, 'Test', props));
  const resources: Record<string, Resource> = resourcesOf(template);
  const idOf = (type: string, prefix: string) => {
    const id = Object.keys(resources).find((key) => key.startsWith(prefix) && resources[key]?.Type === type);
    if (!id) throw new Error(`no ${type} named ${prefix}*`);
    return id;
  };
  const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
  const authorizerEnv = () => at(resources[idOf('AWS::Lambda::Function', 'Authorizer')]?.Properties, 'Environment', 'Variables');
  return { template, resources, idOf, ofType, authorizerEnv };
}

const defaults = synth();

describe('identity: hs256 mode (the default)', () => {
  it('checks tokens against the stack secret, with no audience unless one is configured', () => {
    const env = defaults.authorizerEnv();
    expect(env).toMatchObject({ AUTH_MODE: 'hs256', JWT_SECRET_ARN: { Ref: defaults.idOf('AWS::SecretsManager::Secret', 'JwtSecret') } });
    expect(env).not.toHaveProperty('JWT_AUDIENCE');
    expect(env).not.toHaveProperty('JWKS_URL');
    defaults.template.hasOutput('JwtSecretArn', { Value: { Ref: defaults.idOf('AWS::SecretsManager::Secret', 'JwtSecret') } });
    defaults.template.resourceCountIs('AWS::Cognito::UserPool', 0);
  });

  it('enforces an audience when one is given', () => {
    const { authorizerEnv } = synth({ auth: { mode: 'hs256', audience: ['updraft-a', 'updraft-b'] } });
    expect(authorizerEnv()).toMatchObject({ AUTH_MODE: 'hs256', JWT_AUDIENCE: 'updraft-a,updraft-b' });
  });
});

describe('identity: jwks mode', () => {
  it('takes any OIDC issuer: JWKS URL, issuer and audience; no secret, no IAM for the authorizer', () => {
    const stack = synth({ auth: { mode: 'jwks', jwksUrl: 'https://login.example.com/jwks', issuer: 'https://login.example.com/', audience: ['updraft'] } });

    expect(stack.authorizerEnv()).toMatchObject({
      AUTH_MODE: 'jwks',
      JWKS_URL: 'https://login.example.com/jwks',
      JWT_ISSUER: 'https://login.example.com/',
      JWT_AUDIENCE: 'updraft',
    });
    expect(stack.authorizerEnv()).not.toHaveProperty('JWT_AUDIENCE_CLAIM');
    expect(stack.authorizerEnv()).not.toHaveProperty('JWT_SECRET_ARN');
    stack.template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    const role = text(at(stack.resources[stack.idOf('AWS::Lambda::Function', 'Authorizer')]?.Properties, 'Role', 'Fn::GetAtt', 0));
    expect(stack.ofType('AWS::IAM::Policy').filter(([, p]) => JSON.stringify(p.Properties['Roles']).includes(role))).toEqual([]);
  });

  it('makes an existing Cognito pool one setting: JWKS URL and issuer follow from the pool id; access tokens, client_id checked', () => {
    const { authorizerEnv } = synth({ auth: { cognitoUserPoolId: 'eu-west-1_AbCdEf123', audience: ['1example23456789'] } });

    expect(authorizerEnv()).toEqual(
      expect.objectContaining({
        AUTH_MODE: 'jwks',
        JWKS_URL: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123/.well-known/jwks.json',
        JWT_ISSUER: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123',
        JWT_AUDIENCE: '1example23456789',
        JWT_AUDIENCE_CLAIM: 'client_id',
        JWT_TOKEN_USE: 'access',
      }),
    );
  });

  it('creates a user pool and app client on request, and takes their access tokens', () => {
    const stack = synth({ auth: { createUserPool: true } });
    const pool = stack.idOf('AWS::Cognito::UserPool', 'IdentityUserPool');
    const client = stack.idOf('AWS::Cognito::UserPoolClient', 'IdentityUserPoolUpdraftClient');

    stack.template.hasResourceProperties('AWS::Cognito::UserPool', {
      MfaConfiguration: 'ON',
      EnabledMfas: ['SOFTWARE_TOKEN_MFA'],
      AdminCreateUserConfig: { AllowAdminCreateUserOnly: true },
      Policies: { PasswordPolicy: { MinimumLength: 12, RequireLowercase: true, RequireUppercase: true, RequireNumbers: true, RequireSymbols: true } },
    });
    stack.template.hasResourceProperties('AWS::Cognito::UserPoolClient', {
      UserPoolId: { Ref: pool },
      GenerateSecret: false,
      ExplicitAuthFlows: Match.arrayWith(['ALLOW_USER_SRP_AUTH']),
    });
    const env = stack.authorizerEnv();
    expect(env).toMatchObject({ AUTH_MODE: 'jwks', JWT_AUDIENCE: { Ref: client }, JWT_AUDIENCE_CLAIM: 'client_id', JWT_TOKEN_USE: 'access' });
    expect(JSON.stringify(at(env, 'JWKS_URL'))).toContain(`{"Ref":"${pool}"},"/.well-known/jwks.json"`);
    expect(JSON.stringify(at(env, 'JWT_ISSUER'))).toContain('https://cognito-idp.');
    stack.template.hasOutput('UserPoolId', { Value: { Ref: pool } });
    stack.template.hasOutput('UserPoolClientId', { Value: { Ref: client } });
    stack.template.resourceCountIs('AWS::SecretsManager::Secret', 0);
  });

  it.each([
    ['jwks without an audience', { mode: 'jwks' as const, jwksUrl: 'https://x/jwks', issuer: 'https://x/' }, /jwtAudience/],
    ['jwks without a JWKS URL', { mode: 'jwks' as const, issuer: 'https://x/', audience: ['a'] }, /jwksUrl/],
    ['hs256 with a Cognito pool', { mode: 'hs256' as const, cognitoUserPoolId: 'eu-west-1_x', audience: ['a'] }, /authMode jwks/],
    ['an existing pool and a new one', { cognitoUserPoolId: 'eu-west-1_x', createUserPool: true, audience: ['a'] }, /not both/],
  ])('refuses to synthesize %s', (_, auth, message) => {
    expect(() => synth({ auth })).toThrow(message);
  });
});

describe('context flags', () => {
  const read = (context: Record<string, unknown>) => stackPropsFromContext(new App({ context }).node);

  it('reads every flag, as strings from the command line', () => {
    expect(
      read({
        stage: 'prod',
        authMode: 'jwks',
        jwksUrl: 'https://x/jwks',
        jwtIssuer: 'https://x/',
        jwtAudience: 'a, b',
        alarmEmail: 'ops@example.com',
        tracing: 'true',
        apiGatewayLogsRole: 'false',
        nag: 'true',
      }),
    ).toEqual({
      stage: 'prod',
      auth: { mode: 'jwks', jwksUrl: 'https://x/jwks', issuer: 'https://x/', audience: ['a', 'b'], createUserPool: false },
      alarmEmail: 'ops@example.com',
      tracing: true,
      apiGatewayLogsRole: false,
      nag: true,
    });
  });

  it('defaults to dev, hs256, no email, no tracing, the logs role, no nag', () => {
    expect(read({})).toEqual({ stage: 'dev', auth: { createUserPool: false }, tracing: false, apiGatewayLogsRole: true, nag: false });
    expect(read({ cognitoUserPoolId: 'eu-west-1_x', createUserPool: 'false' }).auth).toEqual({ cognitoUserPoolId: 'eu-west-1_x', createUserPool: false });
  });

  it.each([
    [{ authMode: 'rs256' }, /authMode/],
    [{ tracing: 'yes' }, /tracing must be true or false/],
  ])('refuses %j', (context, message) => {
    expect(() => read(context)).toThrow(message);
  });
});

describe('monitoring', () => {
  const { template, resources, idOf, ofType } = defaults;
  const topic = idOf('AWS::SNS::Topic', 'MonitoringAlarmTopic');
  const alarms = ofType('AWS::CloudWatch::Alarm');
  const alarmNamed = (name: string) => {
    const found = alarms.find(([, a]) => a.Properties['AlarmName'] === `Test-${name}`);
    if (!found) throw new Error(`no alarm ${name}`);
    return found[1].Properties;
  };
  const fnRef = (prefix: string) => ({ Ref: idOf('AWS::Lambda::Function', prefix) });

  it('every alarm notifies the topic on alarm and on recovery, and stays quiet when a metric is missing', () => {
    expect(alarms.length).toBeGreaterThan(0);
    for (const [, alarm] of alarms) {
      expect(alarm.Properties).toMatchObject({ AlarmActions: [{ Ref: topic }], OKActions: [{ Ref: topic }], TreatMissingData: 'notBreaching' });
      expect(alarm.Properties['AlarmDescription']).toMatch(/See README "Operations"/);
    }
  });

  it('alarms when fan-out falls a minute behind the stream for 3 minutes', () => {
    expect(alarmNamed('FanOutIteratorAge')).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'IteratorAge',
      Dimensions: [{ Name: 'FunctionName', Value: fnRef('FanOut') }],
      Statistic: 'Maximum',
      Period: 60,
      Threshold: 60_000,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
  });

  it('alarms on the first message in the DLQ', () => {
    expect(alarmNamed('FanOutDlqNotEmpty')).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [idOf('AWS::SQS::Queue', 'FanOutDlq'), 'QueueName'] } }],
      Statistic: 'Maximum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
  });

  it("alarms on API Gateway's WebSocket server-side errors: IntegrationError + ExecutionError on this API and stage", () => {
    const alarm = alarmNamed('ApiServerErrors');
    expect(alarm).toMatchObject({ Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
    const metrics = alarm['Metrics'] as { Id: string; Expression?: string; MetricStat?: { Metric: Record<string, unknown>; Stat: string; Period: number } }[];
    expect(metrics.find((m) => m.Expression)?.Expression).toBe('integration + execution');
    const dimensions = [
      { Name: 'ApiId', Value: { Ref: idOf('AWS::ApiGatewayV2::Api', 'Api') } },
      { Name: 'Stage', Value: 'dev' },
    ];
    expect(metrics.filter((m) => m.MetricStat).map((m) => m.MetricStat)).toEqual(
      expect.arrayContaining(
        ['IntegrationError', 'ExecutionError'].map((MetricName) => ({
          Metric: { Namespace: 'AWS/ApiGateway', MetricName, Dimensions: expect.arrayContaining(dimensions) },
          Stat: 'Sum',
          Period: 300,
        })),
      ),
    );
  });

  it('alarms on errors of every function but the authorizer (whose errors are refused tokens), and on throttles of all', () => {
    const functions = ofType('AWS::Lambda::Function').map(([id]) => id);
    const alarmedOn = (metric: string) =>
      alarms
        .filter(([, a]) => a.Properties['MetricName'] === metric && a.Properties['Namespace'] === 'AWS/Lambda')
        .map(([, a]) => text(at(a.Properties, 'Dimensions', 0, 'Value', 'Ref')))
        .sort();
    const authorizer = idOf('AWS::Lambda::Function', 'Authorizer');

    expect(alarmedOn('Throttles')).toEqual([...functions].sort());
    expect(alarmedOn('Errors')).toEqual(functions.filter((id) => id !== authorizer).sort());
    expect(alarmNamed('PostErrors')).toMatchObject({ Statistic: 'Sum', Period: 300, Threshold: 1 });
    expect(alarmNamed('AuthorizerFailures')).toMatchObject({
      Namespace: 'Updraft',
      MetricName: 'AuthorizerFailures',
      Dimensions: expect.arrayContaining([
        { Name: 'service', Value: 'updraft' },
        { Name: 'stage', Value: 'dev' },
      ]),
      Threshold: 1,
    });
  });

  it('has a topic that takes only TLS, with an email subscription only when alarmEmail is set', () => {
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: topic }],
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
    template.resourceCountIs('AWS::SNS::Subscription', 0);

    const withEmail = synth({ alarmEmail: 'ops@example.com' });
    withEmail.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
      TopicArn: { Ref: withEmail.idOf('AWS::SNS::Topic', 'MonitoringAlarmTopic') },
    });
  });

  it('has a dashboard with traffic, fan-out, latency, Gone rate, iterator age, Lambda health and DLQ depth', () => {
    const dashboard = ofType('AWS::CloudWatch::Dashboard');
    expect(dashboard).toHaveLength(1);
    expect(at(dashboard, 0, 1, 'Properties', 'DashboardName')).toBe('Test');
    const body = JSON.stringify(at(dashboard, 0, 1, 'Properties', 'DashboardBody'));
    for (const expected of [
      '\\"AWS/ApiGateway\\",\\"ConnectCount\\"',
      '\\"AWS/ApiGateway\\",\\"MessageCount\\"',
      '\\"Updraft\\",\\"Posts\\"',
      '\\"Updraft\\",\\"Deliveries\\"',
      '\\"Updraft\\",\\"PostToDeliveryLatency\\"',
      '\\"stat\\":\\"p99\\"',
      '\\"Updraft\\",\\"Gone\\"',
      '100 * gone / MAX([attempts, 1])',
      '\\"AWS/Lambda\\",\\"IteratorAge\\"',
      '\\"AWS/Lambda\\",\\"Errors\\"',
      '\\"AWS/Lambda\\",\\"Throttles\\"',
      '\\"AWS/Lambda\\",\\"Duration\\"',
      '\\"AWS/SQS\\",\\"ApproximateNumberOfMessagesVisible\\"',
      '\\"AWS/ApiGateway\\",\\"IntegrationError\\"',
    ]) {
      expect(body).toContain(expected);
    }
    // The custom metrics are read with the dimensions the handlers publish them with.
    expect(body).toContain('\\"service\\",\\"updraft\\",\\"stage\\",\\"dev\\"');
  });

  it('tells each function its stage, the dimension of its metrics', () => {
    for (const [, fn] of ofType('AWS::Lambda::Function')) expect(at(fn.Properties, 'Environment', 'Variables')).toMatchObject({ UPDRAFT_STAGE: 'dev' });
  });

  it('logs every connect, message and disconnect of the stage as JSON', () => {
    const [[, stage] = []] = ofType('AWS::ApiGatewayV2::Stage');
    if (!stage) throw new Error('no stage');
    expect(stage.Properties['AccessLogSettings']).toMatchObject({ DestinationArn: { 'Fn::GetAtt': [idOf('AWS::Logs::LogGroup', 'ApiAccessLogs'), 'Arn'] } });
    const format: unknown = JSON.parse(text(at(stage.Properties, 'AccessLogSettings', 'Format')));
    expect(format).toMatchObject({ requestId: '$context.requestId', eventType: '$context.eventType', routeKey: '$context.routeKey', connectionId: '$context.connectionId' });
    template.hasResourceProperties('AWS::ApiGateway::Account', { CloudWatchRoleArn: { 'Fn::GetAtt': [idOf('AWS::IAM::Role', 'ApiGatewayLogsRole'), 'Arn'] } });
    expect(stage.DependsOn).toContain(idOf('AWS::ApiGateway::Account', 'ApiGatewayAccount'));
    synth({ apiGatewayLogsRole: false }).template.resourceCountIs('AWS::ApiGateway::Account', 0);
  });

  it('gives each function a role that writes to its own log group only, with no managed policy', () => {
    for (const [id, fn] of ofType('AWS::Lambda::Function')) {
      const role = resources[text(at(fn.Properties, 'Role', 'Fn::GetAtt', 0))];
      expect(at(role, 'Properties', 'ManagedPolicyArns')).toBeUndefined();
      expect(at(role, 'Properties', 'Policies')).toEqual([
        {
          PolicyName: 'logs',
          PolicyDocument: {
            Version: '2012-10-17',
            Statement: [
              { Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Effect: 'Allow', Resource: { 'Fn::GetAtt': [at(fn.Properties, 'LoggingConfig', 'LogGroup', 'Ref'), 'Arn'] } },
            ],
          },
        },
      ]);
      expect(id).toBeTruthy();
    }
  });

  it('traces with X-Ray only when asked', () => {
    for (const [, fn] of ofType('AWS::Lambda::Function')) expect(at(fn.Properties, 'TracingConfig', 'Mode')).not.toBe('Active');
    for (const [, fn] of synth({ tracing: true }).ofType('AWS::Lambda::Function')) expect(fn.Properties['TracingConfig']).toEqual({ Mode: 'Active' });
  });
});

describe('data safety', () => {
  const kept = (stack: ReturnType<typeof synth>) =>
    Object.entries(stack.resources)
      .filter(([, r]) => (r.DeletionPolicy ?? 'Delete') !== 'Delete')
      .map(([id, r]) => `${r.Type} ${constructName(id)}`)
      .sort();

  it('dev: cdk destroy removes everything but the account-wide API Gateway logs role and setting', () => {
    const dev = synth({ auth: { createUserPool: true }, alarmEmail: 'ops@example.com' });

    expect(kept(dev)).toEqual(['AWS::ApiGateway::Account ApiGatewayAccount', 'AWS::IAM::Role ApiGatewayLogsRole']);
    // Deleted explicitly, not by default: log groups, the DLQ, the tables and the user pool.
    for (const type of ['AWS::Logs::LogGroup', 'AWS::SQS::Queue', 'AWS::DynamoDB::Table', 'AWS::Cognito::UserPool']) {
      const found = dev.ofType(type);
      expect(found.length).toBeGreaterThan(0);
      for (const [, r] of found) expect(r.DeletionPolicy).toBe('Delete');
    }
    expect(dev.ofType('AWS::Logs::LogGroup')).toHaveLength(22); // one per function (20) and each API stage's access log (2)
    dev.template.hasResourceProperties('AWS::Cognito::UserPool', { DeletionProtection: 'INACTIVE' });
    for (const [, table] of dev.ofType('AWS::DynamoDB::Table')) expect(table.Properties['DeletionProtectionEnabled'] ?? false).toBe(false);
    expect(defaults.resources[defaults.idOf('AWS::SecretsManager::Secret', 'JwtSecret')]?.DeletionPolicy).toBe('Delete');
  });

  it('outside dev: statuses, follows and user accounts are retained with deletion protection; ephemeral state is not', () => {
    const prod = synth({ stage: 'prod', auth: { createUserPool: true } });

    expect(kept(prod)).toEqual([
      'AWS::ApiGateway::Account ApiGatewayAccount',
      'AWS::Cognito::UserPool IdentityUserPool',
      'AWS::DynamoDB::Table Follows',
      'AWS::DynamoDB::Table Statuses',
      'AWS::IAM::Role ApiGatewayLogsRole',
    ]);
    prod.template.hasResourceProperties('AWS::Cognito::UserPool', { DeletionProtection: 'ACTIVE' });
    for (const [id, table] of prod.ofType('AWS::DynamoDB::Table')) {
      if (!id.startsWith('Connections')) expect(table.Properties).toMatchObject({ DeletionProtectionEnabled: true, PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } });
    }
  });
});
