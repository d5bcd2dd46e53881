import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { IWebSocketApi, WebSocketStage } from 'aws-cdk-lib/aws-apigatewayv2';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyDocument, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, LoggingFormat, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import * as path from 'node:path';
import { EnvVar } from '../../shared/config';

/** The DynamoDB actions a handler may be granted, each named; never a wildcard. */
export type TableAction =
  | 'GetItem'
  | 'PutItem'
  | 'DeleteItem'
  | 'UpdateItem'
  | 'Query'
  | 'BatchGetItem'
  | 'BatchWriteItem'
  | 'ConditionCheckItem';

/**
 * What a function may do with a table's rows: by partition key prefix (from shared/schema.ts),
 * the actions on rows of that kind. Adding a kind of row to a function is one line here.
 * TransactWriteItems is authorized action by action (PutItem, UpdateItem, DeleteItem,
 * ConditionCheckItem), so a transaction needs no grant of its own.
 */
export interface TableGrant {
  /** Key prefix (e.g. Connections.rows.rate.prefix) to the actions on the rows whose partition key starts with it. */
  readonly rows?: Readonly<Record<string, readonly TableAction[]>>;
  /**
   * Actions on any row, with no LeadingKeys condition: only for a table whose partition key is a
   * user id with no prefix (Follows). Scoping those to the caller's own rows would need the user
   * id as a principal tag, which a function's role does not carry.
   * @default none
   */
  readonly anyRow?: readonly TableAction[];
  /** Indexes the function Queries: Query on each index's ARN, and nothing on the base table by it. @default none */
  readonly indexQueries?: readonly string[];
}

export interface UpdraftFunctionProps {
  /** The handler file under lambdas/, without its extension. */
  readonly handler: string;
  readonly description: string;
  /** The stage: a dimension of the custom metrics the function publishes. */
  readonly stage: string;
  /** X-Ray active tracing. @default false */
  readonly tracing?: boolean;
  /** @default 512 */
  readonly memorySize?: number;
  /** @default Duration.seconds(10) */
  readonly timeout?: Duration;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  readonly environment?: Record<string, string>;
}

/**
 * Every Updraft Lambda: Node.js 22 on arm64, bundled by the local esbuild
 * (AWS SDK included, so what runs is what was tested), minified with source
 * maps, JSON logs in a log group with a retention. The bind* methods grant a
 * permission and set the environment variable that names the resource in the
 * same call, so the contract between the stack and shared/config.ts lives here.
 */
export class UpdraftFunction extends NodejsFunction {
  /** The role made for this function: `role` as NodejsFunction types it may be absent, this one is not. */
  readonly executionRole: Role;

  constructor(scope: Construct, id: string, props: UpdraftFunctionProps) {
    const logGroup = new LogGroup(scope, `${id}Logs`, {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // A role of its own instead of AWSLambdaBasicExecutionRole, whose logs:* reach every log
    // group in the account: this one writes to the function's own log group and nowhere else.
    const role = new Role(scope, `${id}Role`, {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `${props.description} (Updraft)`,
      inlinePolicies: {
        logs: new PolicyDocument({
          statements: [new PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] })],
        }),
      },
    });
    super(scope, id, {
      entry: path.join(__dirname, '..', '..', 'lambdas', `${props.handler}.ts`),
      handler: 'handler',
      description: props.description,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(10),
      loggingFormat: LoggingFormat.JSON,
      logGroup,
      role,
      tracing: props.tracing ? Tracing.ACTIVE : Tracing.DISABLED,
      environment: {
        POWERTOOLS_SERVICE_NAME: 'updraft',
        [EnvVar.stage]: props.stage,
        NODE_OPTIONS: '--enable-source-maps',
        ...props.environment,
      },
      bundling: {
        minify: true,
        sourceMap: true,
        target: 'node22',
        format: OutputFormat.CJS,
        externalModules: [],
        forceDockerBundling: false,
      },
    });
    this.executionRole = role;
    NagSuppressions.addResourceSuppressions(this, [
      {
        id: 'AwsSolutions-L1',
        reason:
          'Pinned on purpose to Node.js 22, the runtime the bundles target (esbuild target node22) and the local stack emulates; ' +
          'moving to a newer runtime is a deliberate change with its own tests, not something a synth should do silently.',
      },
    ]);
    if (props.tracing) {
      NagSuppressions.addResourceSuppressions(
        role,
        [
          {
            id: 'AwsSolutions-IAM5',
            reason: 'X-Ray active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions, so "*" is the only resource.',
            appliesTo: ['Resource::*'],
          },
        ],
        true,
      );
    }
  }

  /**
   * Grants what `grant` lists on `table`, row kind by row kind, and sets the variable that
   * names the table. Each statement carries a `dynamodb:LeadingKeys` condition on the key
   * prefixes of shared/schema.ts, so a function reaches the kinds of row it works with and no
   * other (a handler that writes subscriptions cannot reset a rate bucket). Index Queries are
   * granted on the index ARN only.
   */
  bindTable(variable: (typeof EnvVar)['statusesTable' | 'connectionsTable' | 'followsTable'], table: ITable, grant: TableGrant): this {
    for (const { actions, prefixes } of statementsOf(grant.rows ?? {})) {
      this.addToRolePolicy(
        new PolicyStatement({
          actions: actions.map((action) => `dynamodb:${action}`),
          resources: [table.tableArn],
          conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': prefixes.map((prefix) => `${prefix}*`) } },
        }),
      );
    }
    if (grant.anyRow && grant.anyRow.length > 0) {
      this.addToRolePolicy(new PolicyStatement({ actions: grant.anyRow.map((action) => `dynamodb:${action}`), resources: [table.tableArn] }));
    }
    if (grant.indexQueries && grant.indexQueries.length > 0) {
      this.addToRolePolicy(
        new PolicyStatement({ actions: ['dynamodb:Query'], resources: grant.indexQueries.map((index) => `${table.tableArn}/index/${index}`) }),
      );
    }
    this.addEnvironment(variable, table.tableName);
    return this;
  }

  /**
   * `execute-api:ManageConnections` on this stage's `@connections/*` for the
   * given methods only: POST to send (fan-out), DELETE to close (a connection
   * whose token expired).
   */
  bindManagementApi(api: IWebSocketApi, stage: WebSocketStage, methods: readonly ('POST' | 'DELETE')[] = ['POST']): this {
    const connections = methods.map((method) =>
      Stack.of(this).formatArn({ service: 'execute-api', resource: api.apiId, resourceName: `${stage.stageName}/${method}/@connections/*` }),
    );
    this.addToRolePolicy(new PolicyStatement({ actions: ['execute-api:ManageConnections'], resources: connections }));
    this.addEnvironment(EnvVar.connectionsEndpoint, stage.callbackUrl);
    NagSuppressions.addResourceSuppressions(
      this.executionRole,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'Connection ids are made by API Gateway at run time, so the resource ends in @connections/*; ' +
            'it is scoped to this API, this stage and the named HTTP methods.',
          // The region and account are tokens in an environment-agnostic stack, and literal
          // when the app is given them (`cdk synth` passes CDK_DEFAULT_REGION, us-east-1 without a profile).
          appliesTo: [
            {
              regex:
                '/^Resource::arn:<AWS::Partition>:execute-api:(<AWS::Region>|[a-z]{2}(-[a-z]+)+-\\d):(<AWS::AccountId>|\\d{12}):<Api[A-Za-z0-9]+>\\/[^/]+\\/(POST|DELETE)\\/@connections\\/\\*$/',
            },
          ],
        },
      ],
      true,
    );
    return this;
  }

  /**
   * `sqs:SendMessage` on `queue` (SendMessageBatch is authorized by it too), and the
   * variable that holds its URL. Nothing else: not GetQueueAttributes or GetQueueUrl as
   * `grantSendMessages` adds, and no receive, which is the event source's.
   */
  bindQueue(variable: (typeof EnvVar)['deliveryQueueUrl'], queue: IQueue): this {
    this.addToRolePolicy(new PolicyStatement({ actions: ['sqs:SendMessage'], resources: [queue.queueArn] }));
    this.addEnvironment(variable, queue.queueUrl);
    return this;
  }

  bindSecret(secret: ISecret): this {
    this.addToRolePolicy(new PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [secret.secretArn] }));
    this.addEnvironment(EnvVar.jwtSecretArn, secret.secretArn);
    return this;
  }
}

/**
 * One statement per set of actions that share the same key prefixes: the fewest statements
 * for the grant, each as narrow as what it lists.
 */
function statementsOf(rows: Readonly<Record<string, readonly TableAction[]>>): { actions: TableAction[]; prefixes: string[] }[] {
  const prefixesByAction = new Map<TableAction, string[]>();
  for (const [prefix, actions] of Object.entries(rows)) {
    for (const action of actions) prefixesByAction.set(action, [...(prefixesByAction.get(action) ?? []), prefix]);
  }
  const statements = new Map<string, { actions: TableAction[]; prefixes: string[] }>();
  for (const [action, prefixes] of prefixesByAction) {
    const sorted = [...new Set(prefixes)].sort();
    const key = sorted.join('\0');
    const statement = statements.get(key) ?? { actions: [], prefixes: sorted };
    statement.actions.push(action);
    statements.set(key, statement);
  }
  return [...statements.values()].map(({ actions, prefixes }) => ({ actions: actions.sort(), prefixes }));
}
