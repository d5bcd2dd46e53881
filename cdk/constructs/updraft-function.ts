import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { IWebSocketApi, WebSocketStage } from 'aws-cdk-lib/aws-apigatewayv2';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Architecture, LoggingFormat, Runtime } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
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

export interface UpdraftFunctionProps {
  /** The handler file under lambdas/, without its extension. */
  readonly handler: string;
  readonly description: string;
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
  constructor(scope: Construct, id: string, props: UpdraftFunctionProps) {
    super(scope, id, {
      entry: path.join(__dirname, '..', '..', 'lambdas', `${props.handler}.ts`),
      handler: 'handler',
      description: props.description,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(10),
      loggingFormat: LoggingFormat.JSON,
      logGroup: new LogGroup(scope, `${id}Logs`, {
        retention: props.logRetention ?? RetentionDays.ONE_MONTH,
        removalPolicy: RemovalPolicy.DESTROY,
      }),
      environment: { POWERTOOLS_SERVICE_NAME: 'updraft', NODE_OPTIONS: '--enable-source-maps', ...props.environment },
      bundling: {
        minify: true,
        sourceMap: true,
        target: 'node22',
        format: OutputFormat.CJS,
        externalModules: [],
        forceDockerBundling: false,
      },
    });
  }

  /**
   * Grants `actions` on `table` (and on the named indexes only), and sets the
   * variable that names the table. `leadingKeys` narrows the grant to items
   * whose partition key matches one of the patterns.
   */
  bindTable(
    variable: (typeof EnvVar)['statusesTable' | 'connectionsTable' | 'followsTable'],
    table: ITable,
    actions: readonly TableAction[],
    options: { readonly indexes?: readonly string[]; readonly leadingKeys?: readonly string[] } = {},
  ): this {
    this.addToRolePolicy(
      new PolicyStatement({
        actions: actions.map((action) => `dynamodb:${action}`),
        resources: [table.tableArn, ...(options.indexes ?? []).map((index) => `${table.tableArn}/index/${index}`)],
        ...(options.leadingKeys ? { conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [...options.leadingKeys] } } } : {}),
      }),
    );
    this.addEnvironment(variable, table.tableName);
    return this;
  }

  /** `execute-api:ManageConnections` on this stage's `POST @connections/*` only: enough to send, nothing more. */
  bindManagementApi(api: IWebSocketApi, stage: WebSocketStage): this {
    const connections = Stack.of(this).formatArn({
      service: 'execute-api',
      resource: api.apiId,
      resourceName: `${stage.stageName}/POST/@connections/*`,
    });
    this.addToRolePolicy(new PolicyStatement({ actions: ['execute-api:ManageConnections'], resources: [connections] }));
    this.addEnvironment(EnvVar.connectionsEndpoint, stage.callbackUrl);
    return this;
  }

  bindSecret(secret: ISecret): this {
    this.addToRolePolicy(new PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [secret.secretArn] }));
    this.addEnvironment(EnvVar.jwtSecretArn, secret.secretArn);
    return this;
  }
}
