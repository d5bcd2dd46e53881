import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { WebSocketApi, WebSocketStage } from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AttributeType, BillingMode, ProjectionType, StreamViewType, Table } from 'aws-cdk-lib/aws-dynamodb';
import { FilterCriteria, FilterRule, StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { EnvVar } from '../shared/config';
import { ConnectionsSchema } from '../shared/store/connections';
import { FollowsSchema } from '../shared/store/follows';
import { UpdraftFunction } from './constructs/updraft-function';
import { WebApp } from './constructs/web-app';
import { resolveLimits, type ServiceLimits } from './limits';

/** Limits (subscriptions, post rate, stage throttling) not given here come from CDK context; see cdk/limits.ts. */
export interface UpdraftStackProps extends StackProps, Partial<ServiceLimits> {
  /** Stage name: the WebSocket stage and the tables' retention follow it. @default 'dev' */
  readonly stage?: string;
  /** Posts in flight at once in one fan-out invocation. @default 32 */
  readonly fanOutConcurrency?: number;
  /** The built browser app: when given, it is deployed to S3 behind CloudFront. @default no web app */
  readonly webAppDir?: string;
}

/** Message routes: one per action of PROTOCOL.md, each with its own least-privilege Lambda. */
const MESSAGE_ROUTES = ['post', 'subscribe', 'unsubscribe', 'history', 'ping', 'follow', 'unfollow', 'following', 'presence'] as const;

export class UpdraftStack extends Stack {
  readonly statuses: Table;
  readonly connections: Table;
  readonly follows: Table;
  readonly api: WebSocketApi;
  readonly stage: WebSocketStage;

  constructor(scope: Construct, id: string, props: UpdraftStackProps = {}) {
    super(scope, id, props);
    const stageName = props.stage ?? 'dev';
    // Outside dev, user data survives a `cdk destroy` and cannot be deleted by accident.
    const keepData = stageName !== 'dev';
    const limits = resolveLimits(this.node, props);

    this.statuses = new Table(this, 'Statuses', {
      partitionKey: { name: 'channel', type: AttributeType.STRING },
      sortKey: { name: 'id', type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      stream: StreamViewType.NEW_IMAGE,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: keepData,
      removalPolicy: keepData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });

    this.connections = new Table(this, 'Connections', {
      partitionKey: { name: ConnectionsSchema.partitionKey, type: AttributeType.STRING },
      sortKey: { name: ConnectionsSchema.sortKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: ConnectionsSchema.ttlAttribute,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // Sparse: only connection rows carry userId. Presence and follows read it.
    this.connections.addGlobalSecondaryIndex({
      indexName: ConnectionsSchema.byUserIndex,
      partitionKey: { name: 'userId', type: AttributeType.STRING },
      sortKey: { name: 'connectionId', type: AttributeType.STRING },
      projectionType: ProjectionType.INCLUDE,
      nonKeyAttributes: ['connectedAt'],
    });

    this.follows = new Table(this, 'Follows', {
      partitionKey: { name: FollowsSchema.partitionKey, type: AttributeType.STRING },
      sortKey: { name: FollowsSchema.sortKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: keepData,
      removalPolicy: keepData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });

    const jwtSecret = new Secret(this, 'JwtSecret', {
      description: 'HS256 key that signs Updraft access tokens',
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
      removalPolicy: RemovalPolicy.DESTROY,
    });

    const authorizerFn = new UpdraftFunction(this, 'Authorizer', {
      handler: 'authorizer',
      description: 'Verifies the JWT on $connect',
    }).bindSecret(jwtSecret);
    const connectFn = new UpdraftFunction(this, 'Connect', { handler: 'connect', description: '$connect: record, subscribe to follows' })
      .bindTable(EnvVar.connectionsTable, this.connections, ['PutItem', 'UpdateItem', 'BatchWriteItem'])
      .bindTable(EnvVar.followsTable, this.follows, ['Query']);
    const disconnectFn = new UpdraftFunction(this, 'Disconnect', { handler: 'disconnect', description: '$disconnect' }).bindTable(
      EnvVar.connectionsTable,
      this.connections,
      ['GetItem', 'BatchWriteItem', 'UpdateItem'],
    );
    const defaultFn = new UpdraftFunction(this, 'DefaultRoute', { handler: 'default', description: '$default: non-JSON frames, unknown actions' });

    const routes: Record<(typeof MESSAGE_ROUTES)[number], UpdraftFunction> = {
      post: new UpdraftFunction(this, 'Post', {
        handler: 'post',
        description: 'post a status',
        environment: { [EnvVar.postRateBurst]: String(limits.postRateBurst), [EnvVar.postRatePerSecond]: String(limits.postRatePerSecond) },
      })
        .bindTable(EnvVar.statusesTable, this.statuses, ['GetItem', 'PutItem'])
        // The idempotency claim and the post rate bucket live in the Connections table;
        // the grant reaches those rows and no other.
        .bindTable(EnvVar.connectionsTable, this.connections, ['GetItem', 'PutItem', 'UpdateItem'], { leadingKeys: ['post#*', 'rate#*'] }),
      subscribe: new UpdraftFunction(this, 'Subscribe', {
        handler: 'subscribe',
        description: 'subscribe, with replay',
        environment: { [EnvVar.maxSubscriptions]: String(limits.maxSubscriptions) },
      })
        .bindTable(EnvVar.statusesTable, this.statuses, ['Query'])
        // GetItem: the connection row, read when a subscribe nears the limit.
        .bindTable(EnvVar.connectionsTable, this.connections, ['GetItem', 'UpdateItem', 'BatchWriteItem']),
      unsubscribe: new UpdraftFunction(this, 'Unsubscribe', { handler: 'unsubscribe', description: 'unsubscribe' }).bindTable(
        EnvVar.connectionsTable,
        this.connections,
        ['UpdateItem', 'BatchWriteItem'],
      ),
      history: new UpdraftFunction(this, 'History', { handler: 'history', description: 'page a channel' }).bindTable(
        EnvVar.statusesTable,
        this.statuses,
        ['Query'],
      ),
      ping: new UpdraftFunction(this, 'Ping', { handler: 'ping', description: 'heartbeat' }),
      follow: new UpdraftFunction(this, 'Follow', { handler: 'follow', description: 'follow a user' })
        .bindTable(EnvVar.followsTable, this.follows, ['PutItem', 'UpdateItem'])
        .bindTable(EnvVar.connectionsTable, this.connections, ['Query', 'UpdateItem', 'BatchWriteItem'], { indexes: [ConnectionsSchema.byUserIndex] })
        // The follow notification is a row in the followed user's inbox.
        .bindTable(EnvVar.statusesTable, this.statuses, ['PutItem']),
      unfollow: new UpdraftFunction(this, 'Unfollow', { handler: 'unfollow', description: 'unfollow a user' })
        .bindTable(EnvVar.followsTable, this.follows, ['DeleteItem', 'UpdateItem'])
        .bindTable(EnvVar.connectionsTable, this.connections, ['Query', 'UpdateItem', 'BatchWriteItem'], { indexes: [ConnectionsSchema.byUserIndex] }),
      following: new UpdraftFunction(this, 'Following', { handler: 'following', description: 'who the caller follows' }).bindTable(
        EnvVar.followsTable,
        this.follows,
        ['Query'],
      ),
      presence: new UpdraftFunction(this, 'Presence', { handler: 'presence', description: 'who is online' }).bindTable(
        EnvVar.connectionsTable,
        this.connections,
        ['Query', 'BatchGetItem'],
        { indexes: [ConnectionsSchema.byUserIndex] },
      ),
    };

    this.api = new WebSocketApi(this, 'Api', {
      apiName: `updraft-${stageName}`,
      description: 'Updraft real-time statuses',
      routeSelectionExpression: '$request.body.action',
      connectRouteOptions: {
        integration: new WebSocketLambdaIntegration('ConnectIntegration', connectFn),
        authorizer: new WebSocketLambdaAuthorizer('TokenAuthorizer', authorizerFn, {
          identitySource: ['route.request.querystring.token'],
        }),
      },
      disconnectRouteOptions: { integration: new WebSocketLambdaIntegration('DisconnectIntegration', disconnectFn) },
      defaultRouteOptions: {
        integration: new WebSocketLambdaIntegration('DefaultIntegration', defaultFn),
        returnResponse: true,
      },
    });
    for (const [action, fn] of Object.entries(routes)) {
      this.api.addRoute(action, {
        integration: new WebSocketLambdaIntegration(`${fn.node.id}Integration`, fn),
        returnResponse: true,
      });
    }

    this.stage = new WebSocketStage(this, 'Stage', {
      webSocketApi: this.api,
      stageName,
      autoDeploy: true,
      throttle: { rateLimit: limits.throttleRate, burstLimit: limits.throttleBurst },
    });

    const fanOutDlq = new Queue(this, 'FanOutDlq', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    const fanOutConcurrency = props.fanOutConcurrency ?? 32;
    const fanOutFn = new UpdraftFunction(this, 'FanOut', {
      handler: 'fanout',
      description: 'Delivers each new status to the live subscribers of its channels',
      memorySize: 1024,
      timeout: Duration.seconds(60),
      environment: { [EnvVar.fanOutConcurrency]: String(fanOutConcurrency) },
    })
      .bindTable(EnvVar.connectionsTable, this.connections, ['GetItem', 'Query', 'BatchWriteItem'])
      .bindManagementApi(this.api, this.stage);
    fanOutFn.addEventSource(
      new DynamoEventSource(this.statuses, {
        startingPosition: StartingPosition.LATEST,
        batchSize: 100,
        // Real time: hand records over as soon as the poller has them.
        maxBatchingWindow: Duration.seconds(0),
        parallelizationFactor: 2,
        bisectBatchOnError: true,
        retryAttempts: 5,
        // A status older than this is no longer news; clients catch up with `since`.
        maxRecordAge: Duration.hours(1),
        reportBatchItemFailures: true,
        onFailure: new SqsDlq(fanOutDlq),
        // Only new rows on deliverable channels; the `status:<id>` copy is for reads by id.
        filters: [
          FilterCriteria.filter({
            eventName: FilterRule.isEqual('INSERT'),
            dynamodb: {
              Keys: {
                channel: {
                  S: [...FilterRule.beginsWith('user:'), ...FilterRule.beginsWith('thread:'), ...FilterRule.beginsWith('inbox:')],
                },
              },
            },
          }),
        ],
      }),
    );

    new CfnOutput(this, 'WebSocketUrl', { value: this.stage.url, description: 'Clients connect to <url>?token=<JWT>' });
    new CfnOutput(this, 'ManagementEndpoint', { value: this.stage.callbackUrl, description: 'API Gateway Management API' });
    new CfnOutput(this, 'JwtSecretArn', { value: jwtSecret.secretArn, description: 'HS256 signing key for access tokens' });
    new CfnOutput(this, 'FanOutDlqUrl', { value: fanOutDlq.queueUrl, description: 'Stream batches fan-out gave up on' });

    if (props.webAppDir) new WebApp(this, 'WebApp', { assetDir: props.webAppDir, wsUrl: this.stage.url });
  }
}
