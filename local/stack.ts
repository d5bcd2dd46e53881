import { appendFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import * as path from 'node:path';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { devTokenRoute } from './dev-token';
import { LOCAL_CREDENTIALS, createTables, reapLeftover, startDynamoDbLocal, type DynamoDbLocal } from './dynamodb';
import { LocalStackError } from './errors';
import { Gateway, type GatewayLimits, type RequestSummary } from './gateway';
import { HttpServer } from './http';
import { resolve, type Resolver } from './intrinsics';
import { LocalFunction, type LogSink } from './lambda';
import { managementApiRoute } from './management';
import { LocalSecrets } from './secrets';
import { StreamMapping, type FailedBatch } from './streams';
import { loadApp, type AppModel } from './template';
import { ServiceDeletions, TtlSweeper } from './ttl';
import { webApp } from './web';

export interface LocalStackOptions {
  /** The project root. */
  readonly root: string;
  /** The cloud assembly to run (cdk.out). */
  readonly assemblyDir: string;
  readonly port: number;
  readonly dynamoDbPort: number;
  /** Where data lives between runs; undefined keeps everything in memory. */
  readonly dataDir?: string;
  /** Where failed stream batches (the on-failure destinations) are written. */
  readonly stateDir: string;
  readonly region: string;
  readonly limits: GatewayLimits;
  readonly ttlSweepMs: number;
  readonly streamPollMs: number;
  /** Containers each function may run at once (Lambda's concurrency, scaled to one machine). */
  readonly functionContainers: number;
  /** Appends every event sent to a function to this file, one JSON line each. */
  readonly eventLog?: string;
  /** The built browser app, served at `/`. */
  readonly webDir: string;
  /** The stack's own messages. */
  readonly log: (line: string) => void;
  /** Every line a function prints. */
  readonly functionLog: LogSink;
  /** One call per WebSocket handshake, message and disconnect. */
  readonly onRequest?: (request: RequestSummary) => void;
  /** One call per batch a stream mapping hands a function. */
  readonly onBatch?: (functionId: string, records: number, outcome: 'ok' | 'failed', durationMs: number) => void;
  /** Called as each startup phase ends, with a word on what it did. */
  readonly onPhase?: (phase: string, detail: string) => void;
  /** Aborting it (Ctrl-C during startup) stops what has started and rejects. */
  readonly signal?: AbortSignal;
}

export interface RunningStack {
  readonly httpUrl: string;
  readonly wsUrl: string;
  readonly app: AppModel;
  /** Clients connected now. */
  connections(): number;
  /**
   * Stops in the order that loses nothing: the stream mappings and the TTL
   * sweeper, then the WebSocket API (each client's $disconnect runs while
   * DynamoDB Local is still up), the port, the functions, DynamoDB Local.
   */
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';

/** Starts everything the template describes, on one machine. */
export async function startLocalStack(options: LocalStackOptions): Promise<RunningStack> {
  const app = loadApp(options.assemblyDir);
  const { region, port, log } = options;
  const onPhase = options.onPhase;
  const phase = (name: string, detail: string) => {
    options.signal?.throwIfAborted();
    onPhase?.(name, detail);
  };
  const httpUrl = `http://${HOST}:${port}`;
  const wsUrl = `ws://${HOST}:${port}/${app.api.stageName}`;
  const apiId = localApiId(app.stackName);

  await assertPortFree(port, 'UPDRAFT_PORT');
  const leftover = await reapLeftover(options.stateDir, options.dynamoDbPort);
  if (leftover) log(`stopped DynamoDB Local (pid ${leftover}), left running by a stack that did not stop cleanly`);
  await assertPortFree(options.dynamoDbPort, 'UPDRAFT_DYNAMODB_PORT');

  const cleanups: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((error: unknown) => log(`while stopping: ${error instanceof Error ? error.message : String(error)}`));
    }
    cleanups.length = 0;
  };

  try {
    const dynamo: DynamoDbLocal = await startDynamoDbLocal(options.dynamoDbPort, options.dataDir, region, options.stateDir);
    cleanups.push(() => dynamo.stop());
    phase('DynamoDB Local', `${dynamo.endpoint}, ${options.dataDir ? `data in ${path.relative(options.root, options.dataDir)}` : 'in memory'}`);
    const streamArns = await createTables(dynamo.client, app.tables.values());
    phase('tables', [...app.tables.values()].map((table) => table.logicalId).join(', '));

    const secrets = new LocalSecrets(region, app.stackName, app.secretIds, options.dataDir);
    const tableName = (id: string) => app.tables.get(id)?.name ?? `${app.stackName}-${id}`;
    const functionName = (id: string) => app.functions.get(id)?.name ?? `${app.stackName}-${id}`;
    const resolver: Resolver = {
      ref: (id) => {
        const type = app.resources[id]?.Type;
        if (type === 'AWS::DynamoDB::Table') return tableName(id);
        if (type === 'AWS::Lambda::Function') return functionName(id);
        if (type === 'AWS::ApiGatewayV2::Api') return apiId;
        if (type === 'AWS::SecretsManager::Secret') return LocalSecrets.arn(region, app.stackName, id);
        if (type === 'AWS::SQS::Queue') return `${httpUrl}/000000000000/${app.stackName}-${id}`;
        return `${app.stackName}-${id}`;
      },
      getAtt: (id, attribute) => {
        const type = app.resources[id]?.Type;
        if (type === 'AWS::DynamoDB::Table' && attribute === 'StreamArn') return streamArns.get(id) ?? '';
        if (type === 'AWS::DynamoDB::Table') return `arn:aws:dynamodb:${region}:000000000000:table/${tableName(id)}`;
        if (type === 'AWS::Lambda::Function') return `arn:aws:lambda:${region}:000000000000:function:${functionName(id)}`;
        if (type === 'AWS::SQS::Queue') return `arn:aws:sqs:${region}:000000000000:${app.stackName}-${id}`;
        throw new LocalStackError(`the local stack cannot resolve ${id}.${attribute} (${type ?? 'unknown resource'})`);
      },
    };
    // The stage's https/wss URLs point at the local stack's one port.
    const deployedBase = new RegExp(`^(https|wss)://${apiId}\\.execute-api\\.${region}\\.amazonaws\\.com`);
    const localize = (value: string) => value.replace(deployedBase, (_, scheme: string) => (scheme === 'wss' ? `ws://${HOST}:${port}` : httpUrl));

    const functions = new Map<string, LocalFunction>();
    /** The authorizer's audience in hs256 mode (`-c jwtAudience`): dev tokens must carry it to be accepted. */
    let devTokenAudience: string | undefined;
    for (const model of app.functions.values()) {
      const environment: Record<string, string> = {
        PATH: process.env['PATH'] ?? '',
        TZ: ':UTC',
        AWS_REGION: region,
        AWS_DEFAULT_REGION: region,
        AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
        AWS_LAMBDA_FUNCTION_NAME: model.name,
        AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(model.memoryMb),
        AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${model.name}`,
        AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
        LAMBDA_TASK_ROOT: model.bundleDir,
        _HANDLER: model.handler,
        // The handlers' own SDK clients reach local services through the SDK's endpoint settings alone.
        AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
        AWS_ENDPOINT_URL_SECRETS_MANAGER: httpUrl,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      };
      for (const [name, value] of Object.entries(model.environment)) environment[name] = localize(resolve(value, resolver, region));
      const audience = environment['JWT_AUDIENCE'];
      if (model.logicalId === app.api.routes.get('$connect')?.authorizer?.functionId && audience) {
        devTokenAudience = audience.split(',')[0]?.trim();
      }
      functions.set(model.logicalId, new LocalFunction(model, environment, options.functionLog, options.functionContainers));
    }
    cleanups.push(async () => {
      await Promise.all([...functions.values()].map((fn) => fn.stop()));
    });
    // Lambda has provisioned containers initialized before they take traffic; so does `ready`.
    await Promise.all([...functions.values()].map((fn) => fn.warm));
    phase('functions', `${functions.size}, one warm container each (up to ${options.functionContainers})`);

    const eventLog = options.eventLog;
    const onEvent = eventLog ? { onEvent: (kind: string, event: unknown) => appendFileSync(eventLog, `${JSON.stringify({ kind, event })}\n`) } : {};
    const gateway = new Gateway({
      port,
      api: app.api,
      identity: { apiId, stage: app.api.stageName, domainName: `${HOST}:${port}`, region },
      functions,
      limits: options.limits,
      log,
      ...(options.onRequest ? { onRequest: options.onRequest } : {}),
      ...onEvent,
    });
    const server = new HttpServer({
      host: HOST,
      port,
      upgrades: gateway,
      routes: [
        managementApiRoute({ stageName: app.api.stageName, messageBytes: options.limits.messageBytes, connections: gateway }),
        secrets.route,
        devTokenRoute({ secret: secrets.secrets[0]?.value, ...(devTokenAudience ? { audience: devTokenAudience } : {}), wsUrl }),
        webApp(options.webDir, wsUrl),
      ],
      log,
    });
    try {
      await server.listen();
    } catch (error) {
      throw portError(error, port, 'UPDRAFT_PORT');
    }
    cleanups.push(() => server.close());
    // Cleanups run last first: the gateway stops before the port closes and the functions and DynamoDB Local stop,
    // so each open socket's $disconnect still reaches the table.
    cleanups.push(() => gateway.stop());

    const deletions = new ServiceDeletions();
    const streamsClient = new DynamoDBStreamsClient({ endpoint: dynamo.endpoint, region, credentials: LOCAL_CREDENTIALS });
    const failuresDir = path.join(options.stateDir, 'failed-batches');
    for (const model of app.mappings) {
      const streamArn = streamArns.get(model.tableId);
      const fn = functions.get(model.functionId);
      if (!streamArn) throw new LocalStackError(`event source mapping ${model.logicalId}: table ${model.tableId} has no stream`);
      if (!fn) throw new LocalStackError(`event source mapping ${model.logicalId}: function ${model.functionId} is not in the template`);
      const onBatch = options.onBatch;
      const mapping = new StreamMapping({
        model,
        streamArn,
        tableName: tableName(model.tableId),
        fn,
        client: streamsClient,
        region,
        pollIntervalMs: options.streamPollMs,
        serviceDeletions: deletions,
        onFailure: (failed) => recordFailure(failuresDir, failed, log),
        log,
        ...(onBatch ? { onBatch: (records: number, outcome: 'ok' | 'failed', ms: number) => onBatch(model.functionId, records, outcome, ms) } : {}),
        ...onEvent,
      });
      mapping.start();
      cleanups.push(() => mapping.stop());
    }
    cleanups.push(() => {
      streamsClient.destroy();
      return Promise.resolve();
    });

    const sweeper = new TtlSweeper(dynamo.client, [...app.tables.values()], deletions, options.ttlSweepMs, log);
    sweeper.start();
    cleanups.push(() => sweeper.stop());
    phase('API and streams', `port ${port}, ${app.api.routes.size} routes, ${app.mappings.length} stream mapping${app.mappings.length === 1 ? '' : 's'}`);

    return { httpUrl, wsUrl, app, connections: () => gateway.size, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

function recordFailure(dir: string, failed: FailedBatch, log: (line: string) => void): void {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${failed.queueId ?? failed.mapping}.jsonl`);
  appendFileSync(file, `${JSON.stringify(failed.message)}\n`);
  const info = failed.message['DDBStreamBatchInfo'];
  const size = info !== null && typeof info === 'object' && 'batchSize' in info && typeof info.batchSize === 'number' ? info.batchSize : '?';
  log(`!!! ${failed.mapping}: gave up on ${size} stream records; on AWS they would go to the DLQ. Details: ${file}`);
}

/** API ids are ten lower-case letters and digits. */
function localApiId(stackName: string): string {
  let hash = 0;
  for (const c of stackName) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
  return `local${hash.toString(36).padStart(5, '0').slice(-5)}`;
}

async function assertPortFree(port: number, variable: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error) => reject(portError(error, port, variable)));
    probe.listen(port, HOST, () => probe.close(() => resolve()));
  });
}

function portError(error: unknown, port: number, variable: string): Error {
  if (error instanceof Error && 'code' in error && error.code === 'EADDRINUSE') {
    return new LocalStackError(`port ${port} is already in use (is another \`npm start\` running?). Stop it, or choose another port with ${variable}=<port>.`);
  }
  return error instanceof Error ? error : new Error(String(error));
}

