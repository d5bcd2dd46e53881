import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { AccessLogFormat, CfnAccount } from 'aws-cdk-lib/aws-apigateway';
import { LogGroupLogDestination, WebSocketApi, WebSocketStage } from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AttributeType, BillingMode, ProjectionType, StreamViewType, Table, type TableProps } from 'aws-cdk-lib/aws-dynamodb';
import { FilterCriteria, FilterRule, StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { ManagedPolicy, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { DynamoEventSource, SqsDlq, SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { DeduplicationScope, FifoThroughputLimit, Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import { fleetBackoff } from '../shared/client/backoff';
import { DEFAULT_FANOUT_CONCURRENCY, EnvVar, FanOutDefaults } from '../shared/config';
import { isCharged } from '../shared/protocol/costs';
import { PublishOutput, PublishRoute } from '../shared/publish-api';
import { ChannelPrefix, Connections, Statuses, TableLayouts, type KeyAttribute, type TableLayout } from '../shared/schema';
import { Identity, type IdentityProps } from './constructs/identity';
import { Monitoring } from './constructs/monitoring';
import { PublishApi } from './constructs/publish-api';
import { UpdraftFunction, type TableAction, type UpdraftFunctionProps } from './constructs/updraft-function';
import { WebApp, WebAppHeaders } from './constructs/web-app';
import { resolveAccountRps, resolveDeliveryLimits, resolveExpectedConnections, resolveLimits, type DeliveryLimits, type ServiceLimits } from './limits';

/**
 * Limits (subscriptions, post rate, stage throttling) and the fan-out tree's size and pace
 * (delivery budget, workers, their concurrency, the direct-delivery threshold) not given
 * here come from CDK context; see cdk/limits.ts.
 */
export interface UpdraftStackProps extends StackProps, Partial<ServiceLimits>, Partial<DeliveryLimits> {
  /** Stage name: the WebSocket stage and the tables' retention follow it. @default 'dev' */
  readonly stage?: string;
  /**
   * The account's API Gateway throttle in the region, requests/s (CDK context accountRps): the stage
   * throttle and delivery budget are sized from it unless given. @default 10000, or 2500 in the
   * regions where that is AWS's default (LOW_THROTTLE_REGIONS)
   */
  readonly accountRps?: number;
  /** Posts in flight at once in one fan-out invocation. @default 32 (DEFAULT_FANOUT_CONCURRENCY) */
  readonly fanOutConcurrency?: number;
  /** How tokens are checked (CDK context authMode, jwksUrl, jwtIssuer, jwtAudience, cognitoUserPoolId, createUserPool). @default hs256 */
  readonly auth?: Omit<IdentityProps, 'keepData'>;
  /** Alarm notifications are sent to this address. @default none (the topic has no subscription) */
  readonly alarmEmail?: string;
  /** X-Ray active tracing on every function. @default false */
  readonly tracing?: boolean;
  /**
   * Set the account's API Gateway CloudWatch Logs role (a per-account, per-region
   * setting that access logging needs). Turn off when the account already has one.
   * @default true
   */
  readonly apiGatewayLogsRole?: boolean;
  /** The built browser app: when given, it is deployed to S3 behind CloudFront. @default no web app */
  readonly webAppDir?: string;
  /**
   * Connections expected at the peak (CDK context expectedConnections): the web app's reconnect
   * backoff spreads that many clients under API Gateway's 500 new connections a second.
   * @default 10000 (DEFAULT_EXPECTED_CONNECTIONS)
   */
  readonly expectedConnections?: number;
}

/** Message routes: one per action of docs/protocol.md, each with its own least-privilege Lambda. */
type MessageRoute = 'post' | 'subscribe' | 'unsubscribe' | 'history' | 'feed' | 'get' | 'ping' | 'follow' | 'unfollow' | 'following' | 'presence';

export class UpdraftStack extends Stack {
  readonly statuses: Table;
  readonly connections: Table;
  readonly follows: Table;
  readonly api: WebSocketApi;
  readonly stage: WebSocketStage;
  readonly identity: Identity;
  /** The fan-out tree's queue: segments of large channels, for the delivery workers. */
  readonly deliveryQueue: Queue;
  readonly monitoring: Monitoring;
  /** The publish API: backends publish and read over HTTP, signed with SigV4 (README "Publish from a backend"). */
  readonly publishApi: PublishApi;

  constructor(scope: Construct, id: string, props: UpdraftStackProps = {}) {
    super(scope, id, props);
    const stageName = props.stage ?? 'dev';
    // Outside dev, user data survives a `cdk destroy` and cannot be deleted by accident.
    const keepData = stageName !== 'dev';
    const accountRps = resolveAccountRps(this.node, this.region, props.accountRps);
    const limits = resolveLimits(this.node, props, accountRps);
    const delivery = resolveDeliveryLimits(this.node, props, accountRps);

    this.statuses = layoutTable(this, 'Statuses', TableLayouts.Statuses, {
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: keepData,
      removalPolicy: keepData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });

    this.connections = layoutTable(this, 'Connections', TableLayouts.Connections, {
      billingMode: BillingMode.PAY_PER_REQUEST,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    NagSuppressions.addResourceSuppressions(this.connections, [
      {
        id: 'AwsSolutions-DDB3',
        reason:
          'Connections holds what lives as long as a WebSocket connection (at most 2 hours, then TTL) and 10-minute retry claims: ' +
          'nothing to restore to a point in time. Statuses and Follows, the user data, have PITR on.',
      },
    ]);

    this.follows = layoutTable(this, 'Follows', TableLayouts.Follows, {
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: keepData,
      removalPolicy: keepData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });

    this.identity = new Identity(this, 'Identity', { ...props.auth, keepData });
    const fn = (id: string, options: Omit<UpdraftFunctionProps, 'stage' | 'tracing'>) =>
      new UpdraftFunction(this, id, { ...options, stage: stageName, tracing: props.tracing ?? false });

    const authorizerFn = fn('Authorizer', {
      handler: 'authorizer',
      description: 'Verifies the JWT on $connect',
      environment: { [EnvVar.maxTokenAgeSeconds]: String(limits.maxTokenAgeSeconds) },
    });
    this.identity.bind(authorizerFn);
    // Each function's grants name the kinds of row it works with (shared/schema.ts) and what it
    // does with each; test/cdk/least-privilege.test.ts holds the same table, row kind by row kind.
    const { connection, subscription, presence, claim, rate, budget, churn, publish, followNotice, openConnections } = Connections.rows;
    /** The same actions on every channel's rows of the Statuses table (`user:`, `thread:`, `inbox:`). */
    const onChannels = (actions: readonly TableAction[]) => Object.fromEntries(Object.values(ChannelPrefix).map((prefix) => [prefix, actions]));
    /** The heads of channels (`head#<channel>`), of every kind or of one. */
    const onHeads = (actions: readonly TableAction[], prefixes: readonly string[] = Object.values(ChannelPrefix)) =>
      Object.fromEntries(prefixes.map((prefix) => [`${Statuses.head.prefix}${prefix}`, actions]));

    const connectionCap = { [EnvVar.maxConnectionsPerUser]: String(limits.maxConnectionsPerUser) };
    // The user's connection slots (`open#`): taken with one conditional update, read when the cap looks reached,
    // and the row created (a conditional put) at a user's first connection and after it has expired.
    // The connect budget (`churn#`): a conditional update per handshake, and a read when it looks spent.
    const connectFn = fn('Connect', {
      handler: 'connect',
      description: '$connect: record, subscribe to follows',
      environment: {
        ...connectionCap,
        [EnvVar.connectRateBurst]: String(limits.connectRateBurst),
        [EnvVar.connectRatePerSecond]: String(limits.connectRatePerSecond),
      },
    })
      .bindTable(EnvVar.connectionsTable, this.connections, {
        rows: {
          [churn.prefix]: ['GetItem', 'UpdateItem'],
          [connection.prefix]: ['PutItem'],
          [subscription.prefix]: ['BatchWriteItem'],
          [presence.prefix]: ['UpdateItem'],
          [openConnections.prefix]: ['GetItem', 'PutItem', 'UpdateItem'],
        },
      })
      .bindTable(EnvVar.followsTable, this.follows, { anyRow: ['Query'] });
    const disconnectFn = fn('Disconnect', { handler: 'disconnect', description: '$disconnect', environment: connectionCap }).bindTable(
      EnvVar.connectionsTable,
      this.connections,
      {
        rows: {
          [connection.prefix]: ['GetItem', 'BatchWriteItem'],
          [subscription.prefix]: ['BatchWriteItem'],
          [presence.prefix]: ['UpdateItem'],
          [openConnections.prefix]: ['UpdateItem'],
        },
      },
    );
    const defaultFn = fn('DefaultRoute', { handler: 'default', description: '$default: non-JSON frames, unknown actions' });

    const routes: Record<MessageRoute, UpdraftFunction> = {
      post: fn('Post', {
        handler: 'post',
        description: 'post a status',
        environment: { [EnvVar.postRateBurst]: String(limits.postRateBurst), [EnvVar.postRatePerSecond]: String(limits.postRatePerSecond) },
      })
        // Reads the parent by id (`status:`); writes the status, its copy by id and a reply's notification in one transaction.
        // The status on its channels and by id; each channel's head (read, then advanced in the same transaction).
        .bindTable(EnvVar.statusesTable, this.statuses, {
          rows: { [Statuses.byIdPrefix]: ['GetItem', 'PutItem'], ...onChannels(['PutItem']), ...onHeads(['BatchGetItem', 'UpdateItem']) },
        })
        // The idempotency claim (written in the post's transaction) and the post rate bucket.
        .bindTable(EnvVar.connectionsTable, this.connections, { rows: { [claim.prefix]: ['GetItem', 'PutItem'], [rate.prefix]: ['GetItem', 'UpdateItem'] } }),
      subscribe: fn('Subscribe', {
        handler: 'subscribe',
        description: 'subscribe, with replay',
        environment: { [EnvVar.maxSubscriptions]: String(limits.maxSubscriptions) },
      })
        // The replay of what was missed.
        // What was missed, and each channel's head: where its live items start.
        .bindTable(EnvVar.statusesTable, this.statuses, { rows: { ...onChannels(['Query']), ...onHeads(['BatchGetItem']) } })
        // The connection row keeps its channels (GetItem when a subscribe nears the limit); the subscriptions are rows of their own.
        .bindTable(EnvVar.connectionsTable, this.connections, { rows: { [connection.prefix]: ['GetItem', 'UpdateItem'], [subscription.prefix]: ['BatchWriteItem'] } }),
      unsubscribe: fn('Unsubscribe', { handler: 'unsubscribe', description: 'unsubscribe' }).bindTable(EnvVar.connectionsTable, this.connections, {
        rows: { [connection.prefix]: ['UpdateItem'], [subscription.prefix]: ['BatchWriteItem'] },
      }),
      history: fn('History', { handler: 'history', description: 'page a channel' }).bindTable(EnvVar.statusesTable, this.statuses, {
        rows: onChannels(['Query']),
      }),
      // Whom the caller follows, their channels' heads (which channels can reach the page), those channels, and the heads of
      // the page's threads (reply counts).
      feed: fn('Feed', { handler: 'feed', description: 'a page of the home feed' })
        .bindTable(EnvVar.followsTable, this.follows, { anyRow: ['Query'] })
        .bindTable(EnvVar.statusesTable, this.statuses, {
          rows: { [ChannelPrefix.user]: ['Query'], ...onHeads(['BatchGetItem'], [ChannelPrefix.user, ChannelPrefix.thread]) },
        }),
      // Statuses by id (their copies under `status:`), and their threads' heads (reply counts).
      get: fn('Get', { handler: 'get', description: 'statuses by id' }).bindTable(EnvVar.statusesTable, this.statuses, {
        rows: { [Statuses.byIdPrefix]: ['BatchGetItem'], ...onHeads(['BatchGetItem'], [ChannelPrefix.thread]) },
      }),
      ping: fn('Ping', { handler: 'ping', description: 'heartbeat' }),
      follow: fn('Follow', { handler: 'follow', description: 'follow a user' })
        // The follow and the follower's count, in one transaction.
        .bindTable(EnvVar.followsTable, this.follows, { anyRow: ['PutItem', 'UpdateItem'] })
        // The follower's open connections (byUser), each subscribed to the followed user's channel
        // (GetItem: each connection row's token expiry, which the new subscription rows carry);
        // whether the followed user was ever seen (their presence row); the follow-notice marker.
        .bindTable(EnvVar.connectionsTable, this.connections, {
          rows: {
            [connection.prefix]: ['GetItem', 'UpdateItem'],
            [subscription.prefix]: ['BatchWriteItem'],
            [presence.prefix]: ['GetItem'],
            [followNotice.prefix]: ['UpdateItem'],
          },
          indexQueries: [Connections.byUserIndex],
        })
        // The follow notification is a row in the followed user's inbox, which advances the inbox's head.
        .bindTable(EnvVar.statusesTable, this.statuses, { rows: { [ChannelPrefix.inbox]: ['PutItem'], ...onHeads(['BatchGetItem', 'UpdateItem'], [ChannelPrefix.inbox]) } }),
      unfollow: fn('Unfollow', { handler: 'unfollow', description: 'unfollow a user' })
        .bindTable(EnvVar.followsTable, this.follows, { anyRow: ['DeleteItem', 'UpdateItem'] })
        .bindTable(EnvVar.connectionsTable, this.connections, {
          rows: { [connection.prefix]: ['UpdateItem'], [subscription.prefix]: ['BatchWriteItem'] },
          indexQueries: [Connections.byUserIndex],
        }),
      following: fn('Following', { handler: 'following', description: 'who the caller follows' }).bindTable(EnvVar.followsTable, this.follows, {
        anyRow: ['Query'],
      }),
      // Who is online (byUser), and when the others were last seen.
      presence: fn('Presence', { handler: 'presence', description: 'who is online' })
        .bindTable(EnvVar.connectionsTable, this.connections, {
          rows: { [presence.prefix]: ['BatchGetItem'] },
          indexQueries: [Connections.byUserIndex],
        })
        // The caller's follow rows: presence is told only for people the caller follows.
        .bindTable(EnvVar.followsTable, this.follows, { anyRow: ['BatchGetItem'] }),
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

    const accessLogs = new LogGroup(this, 'ApiAccessLogs', { retention: RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY });
    this.stage = new WebSocketStage(this, 'Stage', {
      webSocketApi: this.api,
      stageName,
      autoDeploy: true,
      throttle: { rateLimit: limits.throttleRate, burstLimit: limits.throttleBurst },
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        // One JSON line per connect, message and disconnect; no IP address or token is logged.
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            extendedRequestId: '$context.extendedRequestId',
            requestTimeEpoch: '$context.requestTimeEpoch',
            eventType: '$context.eventType',
            routeKey: '$context.routeKey',
            connectionId: '$context.connectionId',
            userId: '$context.authorizer.principalId',
            status: '$context.status',
            integrationLatency: '$context.integrationLatency',
            error: '$context.error.message',
            authorizerError: '$context.authorizer.error',
            integrationError: '$context.integration.error',
          }),
        ),
      },
    });
    if (props.apiGatewayLogsRole ?? true) this.stage.node.addDependency(apiGatewayLogsRole(this));
    NagSuppressions.addResourceSuppressions(
      this.api,
      [
        {
          id: 'AwsSolutions-APIG4',
          reason:
            'A WebSocket API authorizes once, on $connect (the token authorizer); every later route runs on that authorized ' +
            'connection and takes the user from its authorizer context. $disconnect and message routes cannot have an authorizer.',
        },
      ],
      true,
    );
    // A frame after the token's expiry closes its connection (shared/edge.ts): every message route may DELETE it.
    for (const route of Object.values(routes)) route.bindManagementApi(this.api, this.stage, ['DELETE']);
    // Every charged frame takes from its user's action budget (shared/edge.ts, shared/protocol/costs.ts):
    // the bucket's row, `budget#<userId>`, and no other row of the table.
    for (const [action, route] of Object.entries(routes)) {
      if (!isCharged(action)) continue;
      route
        .bindTable(EnvVar.connectionsTable, this.connections, { rows: { [budget.prefix]: ['GetItem', 'UpdateItem'] } })
        .addEnvironment(EnvVar.actionRateBurst, String(limits.actionRateBurst))
        .addEnvironment(EnvVar.actionRatePerSecond, String(limits.actionRatePerSecond));
    }

    const fanOutDlq = new Queue(this, 'FanOutDlq', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy: RemovalPolicy.DESTROY,
    });
    NagSuppressions.addResourceSuppressions(fanOutDlq, [
      { id: 'AwsSolutions-SQS3', reason: 'This queue is the dead-letter queue: the on-failure destination of the fan-out stream mapping.' },
    ]);

    // The fan-out tree (shared/fanout): the stream consumer delivers small channels itself
    // and cuts large ones into segments on this queue; the Deliver workers take them from it.
    const deliverTimeout = Duration.seconds(60);
    const deliveryVisibility = Duration.seconds(6 * deliverTimeout.toSeconds());
    const deliveryReceives = 5;
    // Order per subscriber needs a channel to stay on the queue for as long as a segment of it can
    // wait there, every receive of it included (shared/config.ts FanOutDefaults.queuedForMs).
    if (FanOutDefaults.queuedForMs / 2 <= deliveryReceives * deliveryVisibility.toMilliseconds()) {
      throw new Error(`FanOutDefaults.queuedForMs must be over twice ${deliveryReceives} receives of ${deliveryVisibility.toHumanString()}`);
    }
    const deliveryDlq = new Queue(this, 'DeliveryDlq', {
      // A FIFO queue's dead-letter queue must be FIFO too.
      fifo: true,
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy: RemovalPolicy.DESTROY,
    });
    NagSuppressions.addResourceSuppressions(deliveryDlq, [
      { id: 'AwsSolutions-SQS3', reason: 'This queue is the dead-letter queue: the redrive target of the delivery queue.' },
    ]);
    this.deliveryQueue = new Queue(this, 'DeliveryQueue', {
      // FIFO, one message group per channel delivery group (shared/fanout/segment-queue.ts): a
      // group's segments are received one after another, so each subscriber gets a channel's
      // statuses in order. High-throughput mode: deduplication and the throughput limit per
      // message group, not per queue, so that many channels' groups are sent and received at once.
      fifo: true,
      deduplicationScope: DeduplicationScope.MESSAGE_GROUP,
      fifoThroughputLimit: FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // AWS's advice for a Lambda event source: at least six times the function's timeout, so
      // that a batch whose invocation was throttled is retried before it becomes visible again.
      visibilityTimeout: deliveryVisibility,
      // Far longer than a segment should ever wait (the DeliveryQueueAge alarm says when one
      // does): SQS deletes expired messages without passing them to the DLQ, so a backlog is
      // alarmed on, never dropped in silence.
      retentionPeriod: Duration.days(1),
      deadLetterQueue: { queue: deliveryDlq, maxReceiveCount: deliveryReceives },
      removalPolicy: RemovalPolicy.DESTROY,
    });

    const fanOutConcurrency = props.fanOutConcurrency ?? DEFAULT_FANOUT_CONCURRENCY;
    const fanOutFn = fn('FanOut', {
      handler: 'fanout',
      description: 'Delivers each new status to the live subscribers of its channels, or queues segments of large channels',
      memorySize: 1024,
      timeout: Duration.seconds(60),
      environment: { [EnvVar.fanOutConcurrency]: String(fanOutConcurrency), [EnvVar.fanOutDirectMax]: String(delivery.fanOutDirectMax) },
    })
      // It reads a channel's subscriptions (`chan#`) and, for a connection API Gateway calls Gone, reads
      // its row (`conn#`) and deletes both. The mark that keeps a large channel on the queue is a row
      // in the channel's first subscription partition (`chan#<channel>#0`).
      .bindTable(EnvVar.connectionsTable, this.connections, {
        rows: { [subscription.prefix]: ['Query', 'PutItem', 'BatchWriteItem'], [connection.prefix]: ['GetItem', 'BatchWriteItem'] },
      })
      // DELETE: a subscriber whose token has expired is closed instead of delivered to.
      .bindManagementApi(this.api, this.stage, ['POST', 'DELETE'])
      .bindQueue(EnvVar.deliveryQueueUrl, this.deliveryQueue);
    // FilterRule.isEqual is typed `any` in aws-cdk-lib; it is the pattern ["INSERT"].
    const onInsert: unknown = FilterRule.isEqual('INSERT');
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
            eventName: onInsert,
            dynamodb: {
              Keys: {
                [Statuses.partitionKey]: { S: Statuses.deliveredPrefixes.flatMap((prefix) => FilterRule.beginsWith(prefix)) },
              },
            },
          }),
        ],
      }),
    );

    NagSuppressions.addResourceSuppressions(
      fanOutFn.executionRole,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'dynamodb:ListStreams, added by the DynamoDB event source, supports no resource-level permissions: it must be "*". ' +
            'The record reads (GetRecords, GetShardIterator, DescribeStream) are scoped to the Statuses stream.',
          appliesTo: ['Resource::*'],
        },
      ],
      true,
    );

    const deliverFn = fn('Deliver', {
      handler: 'deliver',
      description: 'Delivery worker: delivers the queued segments of large channels to their subscribers, within the stage delivery budget',
      memorySize: 1024,
      timeout: deliverTimeout,
      environment: {
        [EnvVar.deliveryRps]: String(delivery.deliveryRps),
        // Each worker paces itself at deliveryRps / deliveryWorkers: the event source below runs at most that many.
        [EnvVar.deliveryWorkers]: String(delivery.deliveryWorkers),
        [EnvVar.deliveryConcurrency]: String(delivery.deliveryConcurrency),
      },
    })
      // It reads subscriptions (`chan#`) and, for a connection API Gateway calls Gone, reads
      // its row (`conn#`) and deletes both: those two kinds of row and no other.
      .bindTable(EnvVar.connectionsTable, this.connections, {
        rows: { [subscription.prefix]: ['Query', 'BatchWriteItem'], [connection.prefix]: ['GetItem', 'BatchWriteItem'] },
      })
      .bindManagementApi(this.api, this.stage, ['POST', 'DELETE']);
    deliverFn.addEventSource(
      new SqsEventSource(this.deliveryQueue, {
        // The most a FIFO queue's event source takes at once; the planner cuts groups to fit it.
        batchSize: FanOutDefaults.receiveBatch,
        // The cap on workers that the pacing relies on to keep the fleet within deliveryRps.
        maxConcurrency: delivery.deliveryWorkers,
        // A segment that fails holds back only the later messages of its group (shared/fanout/worker.ts).
        reportBatchItemFailures: true,
      }),
    );

    // The publish API: each function holds what its routes need and no more. Publish writes as post does, but
    // charges the integration budget (`publish#<author>`), never the author's own (`rate#`). PublishRead cannot
    // read inboxes at all; PublishInbox reads nothing else.
    const publishFn = fn('Publish', {
      handler: 'publish',
      description: 'publish API: POST /statuses',
      environment: { [EnvVar.publishRateBurst]: String(limits.publishRateBurst), [EnvVar.publishRatePerSecond]: String(limits.publishRatePerSecond) },
    })
      .bindTable(EnvVar.statusesTable, this.statuses, {
        rows: { [Statuses.byIdPrefix]: ['GetItem', 'PutItem'], ...onChannels(['PutItem']), ...onHeads(['BatchGetItem', 'UpdateItem']) },
      })
      .bindTable(EnvVar.connectionsTable, this.connections, { rows: { [claim.prefix]: ['GetItem', 'PutItem'], [publish.prefix]: ['GetItem', 'UpdateItem'] } });
    const publishReadFn = fn('PublishRead', { handler: 'publish-read', description: 'publish API: GET /statuses/{id}, GET /channels/{channel}/history' }).bindTable(
      EnvVar.statusesTable,
      this.statuses,
      { rows: { [Statuses.byIdPrefix]: ['GetItem'], [ChannelPrefix.user]: ['Query'], [ChannelPrefix.thread]: ['Query'] } },
    );
    const publishInboxFn = fn('PublishInbox', { handler: 'publish-inbox', description: 'publish API: GET /inboxes/{user}/history' }).bindTable(
      EnvVar.statusesTable,
      this.statuses,
      { rows: { [ChannelPrefix.inbox]: ['Query'] } },
    );
    this.publishApi = new PublishApi(this, 'PublishApi', {
      stage: stageName,
      routes: {
        [PublishRoute.post]: publishFn,
        [PublishRoute.status]: publishReadFn,
        [PublishRoute.history]: publishReadFn,
        [PublishRoute.inbox]: publishInboxFn,
      },
      throttle: { rateLimit: limits.publishThrottleRate, burstLimit: limits.publishThrottleBurst },
    });

    this.monitoring = new Monitoring(this, 'Monitoring', {
      stage: stageName,
      api: this.api,
      functions: {
        Authorizer: authorizerFn,
        Connect: connectFn,
        Disconnect: disconnectFn,
        Default: defaultFn,
        ...Object.fromEntries(Object.entries(routes).map(([action, route]) => [action.charAt(0).toUpperCase() + action.slice(1), route])),
        FanOut: fanOutFn,
        Deliver: deliverFn,
        Publish: publishFn,
        PublishRead: publishReadFn,
        PublishInbox: publishInboxFn,
      },
      publishApi: this.publishApi.api,
      fanOut: fanOutFn,
      authorizer: authorizerFn,
      deadLetterQueue: fanOutDlq,
      delivery: { queue: this.deliveryQueue, deadLetterQueue: deliveryDlq, worker: deliverFn, maxWorkers: delivery.deliveryWorkers },
      ...(props.alarmEmail ? { alarmEmail: props.alarmEmail } : {}),
    });

    new CfnOutput(this, 'WebSocketUrl', { value: this.stage.url, description: 'Clients connect to <url>?token=<JWT>' });
    new CfnOutput(this, 'ManagementEndpoint', { value: this.stage.callbackUrl, description: 'API Gateway Management API' });
    new CfnOutput(this, 'FanOutDlqUrl', { value: fanOutDlq.queueUrl, description: 'Stream batches fan-out gave up on' });
    new CfnOutput(this, 'DeliveryDlqUrl', { value: deliveryDlq.queueUrl, description: 'Segments of large channels the delivery workers gave up on' });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.monitoring.topic.topicArn, description: 'Alarms notify this SNS topic' });
    new CfnOutput(this, PublishOutput.url, { value: this.publishApi.api.apiEndpoint, description: 'Publish API: POST /statuses and the reads, signed with SigV4' });
    new CfnOutput(this, PublishOutput.publishPolicy, {
      value: this.publishApi.publishPolicy.managedPolicyArn,
      description: "Attach to a backend's role to let it publish and read (README, Publish from a backend)",
    });
    new CfnOutput(this, PublishOutput.readInboxesPolicy, {
      value: this.publishApi.readInboxesPolicy.managedPolicyArn,
      description: "Attach to a backend's role to let it read users' inboxes too",
    });
    new CfnOutput(this, 'DashboardName', { value: this.monitoring.dashboard.dashboardName, description: 'CloudWatch dashboard' });

    // Declared with or without a web app: the local stack serves the app with these headers, read from the template.
    const webHeaders = new WebAppHeaders(this, 'WebAppHeaders', { wsUrl: this.stage.url });
    if (props.webAppDir) {
      const { maxMs } = fleetBackoff(resolveExpectedConnections(this.node, props.expectedConnections));
      new WebApp(this, 'WebApp', { assetDir: props.webAppDir, wsUrl: this.stage.url, headers: webHeaders, reconnectMaxMs: maxMs });
    }
  }
}

const attribute = (key: KeyAttribute) => ({ name: key.name, type: key.type === 'S' ? AttributeType.STRING : AttributeType.NUMBER });

/** A table laid out as shared/schema.ts says: keys, TTL, stream and indexes; `props` add what differs by table (billing, retention). */
function layoutTable(scope: Construct, id: string, layout: TableLayout, props: Omit<TableProps, 'partitionKey' | 'sortKey'>): Table {
  const table = new Table(scope, id, {
    ...props,
    partitionKey: attribute(layout.partitionKey),
    sortKey: attribute(layout.sortKey),
    ...(layout.ttlAttribute ? { timeToLiveAttribute: layout.ttlAttribute } : {}),
    ...(layout.stream ? { stream: StreamViewType.NEW_IMAGE } : {}),
  });
  for (const index of layout.indexes) {
    table.addGlobalSecondaryIndex({
      indexName: index.name,
      partitionKey: attribute(index.partitionKey),
      ...(index.sortKey ? { sortKey: attribute(index.sortKey) } : {}),
      projectionType: ProjectionType.INCLUDE,
      nonKeyAttributes: [...index.nonKeyAttributes],
    });
  }
  return table;
}

/**
 * API Gateway writes access logs with one role per account and region, set in
 * its account settings. The role is retained on `cdk destroy`: the setting
 * outlives the stack (CloudFormation cannot unset it), and every other API in
 * the account logs through it, so deleting the role would break their logging.
 */
function apiGatewayLogsRole(scope: Construct): CfnAccount {
  const role = new Role(scope, 'ApiGatewayLogsRole', {
    assumedBy: new ServicePrincipal('apigateway.amazonaws.com'),
    description: 'API Gateway account setting: writes API logs to CloudWatch Logs',
    managedPolicies: [ManagedPolicy.fromAwsManagedPolicyName('service-role/AmazonAPIGatewayPushToCloudWatchLogs')],
  });
  role.applyRemovalPolicy(RemovalPolicy.RETAIN);
  NagSuppressions.addResourceSuppressions(role, [
    {
      id: 'AwsSolutions-IAM4',
      reason:
        'The account-wide API Gateway logging role serves every API of the account and region, whose log groups this stack ' +
        'cannot name; AmazonAPIGatewayPushToCloudWatchLogs is the policy AWS maintains for exactly that role.',
      appliesTo: ['Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs'],
    },
  ]);
  const account = new CfnAccount(scope, 'ApiGatewayAccount', { cloudWatchRoleArn: role.roleArn });
  account.applyRemovalPolicy(RemovalPolicy.RETAIN);
  return account;
}
