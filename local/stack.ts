import { appendFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import * as path from 'node:path';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { LOCAL_PUBLISH_PATH } from '../shared/publish-api';
import { devTokenRoute } from './dev-token';
import { LOCAL_CREDENTIALS, createTables, reapLeftover, startDynamoDbLocal, type DynamoDbLocal } from './dynamodb';
import { startDynamoDbLedger, type PartitionKeys } from './dynamodb-ledger';
import { LocalStackError } from './errors';
import { faultsRoute, type Faults } from './faults';
import { Gateway, type GatewayLimits, type RequestSummary } from './gateway';
import { HttpServer } from './http';
import { resolve, type Resolver } from './intrinsics';
import { LocalFunction, type LogSink } from './lambda';
import { managementApiRoute } from './management';
import { localPrincipals, publishApiRoute, type ResolvedStatement } from './publish-api';
import { QueueMapping } from './queue-mapping';
import { LocalQueues, type DeadLetter, type LocalQueue } from './queues';
import { stackOrigins } from './request-guard';
import { LocalSecrets } from './secrets';
import { sqsApiRoute } from './sqs-api';
import { StreamMapping, type Batch, type FailedBatch, type StreamFaults } from './streams';
import { loadApp, outputPolicyStatements, type AppModel, type JsonObject, type TableModel } from './template';
import { ServiceDeletions, TtlSweeper } from './ttl';
import { responseHeaders, webApp } from './web';

export interface LocalStackOptions {
  /** The project root. */
  readonly root: string;
  /** The cloud assembly to run (cdk.out). */
  readonly assemblyDir: string;
  readonly port: number;
  readonly dynamoDbPort: number;
  /** Where data lives between runs; undefined keeps everything in memory. */
  readonly dataDir?: string;
  /** Where failed stream batches (the on-failure destinations) and dead-lettered messages are written. */
  readonly stateDir: string;
  readonly region: string;
  readonly limits: GatewayLimits;
  readonly ttlSweepMs: number;
  readonly streamPollMs: number;
  /** Containers each function may run at once (Lambda's concurrency, scaled to one machine). */
  readonly functionContainers: number;
  /** Appends every event sent to a function to this file, one JSON line each. */
  readonly eventLog?: string;
  /** Appends what each of the functions' DynamoDB requests cost to this file, one JSON line each (local/dynamodb-ledger.ts). */
  readonly dynamoDbLedger?: string;
  /**
   * Values that replace the template's for one run (`UPDRAFT_FUNCTION_ENV`), in every
   * function whose environment has the variable: a test lowers a threshold without a
   * synth of its own. A variable no function has is refused, so a typo cannot pass unseen.
   */
  readonly environmentOverrides?: Readonly<Record<string, string>>;
  /** The built browser app, served at `/`. */
  readonly webDir: string;
  /** Origins besides the stack's own whose pages may open the WebSocket (`UPDRAFT_ALLOWED_ORIGINS`). */
  readonly allowedOrigins?: readonly string[];
  /** `UPDRAFT_FAULTS`: faults to inject; undefined injects none, and costs nothing. */
  readonly faults?: Faults;
  /** The stack's own messages. */
  readonly log: (line: string) => void;
  /** Every line a function prints. */
  readonly functionLog: LogSink;
  /** One call per WebSocket handshake, message and disconnect. */
  readonly onRequest?: (request: RequestSummary) => void;
  /** One call per batch an event source mapping (a stream's or a queue's) hands a function. */
  readonly onBatch?: (batch: BatchSummary) => void;
  /** Called as each startup phase ends, with a word on what it did. */
  readonly onPhase?: (phase: string, detail: string) => void;
  /** Aborting it (Ctrl-C during startup) stops what has started and rejects. */
  readonly signal?: AbortSignal;
}

export interface BatchSummary {
  readonly source: 'stream' | 'queue';
  readonly functionId: string;
  /** Records (a stream's) or messages (a queue's) in the batch. */
  readonly size: number;
  /** A stream batch that failed; a queue's messages that go back to the queue. */
  readonly failed: number;
  readonly durationMs: number;
}

export interface RunningStack {
  readonly httpUrl: string;
  readonly wsUrl: string;
  readonly app: AppModel;
  /** Clients connected now. */
  connections(): number;
  /**
   * Stops in the order that loses nothing: the TTL sweeper, the stream mappings,
   * the queue mappings (their batches under way end as usual), then the WebSocket
   * API (each client's $disconnect runs while DynamoDB Local is still up), the
   * port, the functions, DynamoDB Local.
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
  /** The publish API's: an API of its own, with ARNs of its own. */
  const publishApiId = localApiId(`${app.stackName}/publish`);

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
    let functionsDynamoDb = dynamo.endpoint;
    if (options.dynamoDbLedger) {
      const ledger = await startDynamoDbLedger(dynamo.endpoint, options.dynamoDbLedger, partitionKeysOf(app.tables.values()));
      cleanups.push(() => ledger.stop());
      functionsDynamoDb = ledger.endpoint;
      phase('DynamoDB ledger', `the functions' requests through ${ledger.endpoint}, their cost in ${path.relative(options.root, options.dynamoDbLedger)}`);
    }

    const failuresDir = path.join(options.stateDir, 'failed-batches');
    const queues = new LocalQueues(app.queues.values(), {
      region,
      baseUrl: httpUrl,
      onDeadLetter: (message, from, to) => recordDeadLetter(failuresDir, message, from, to, log),
    });
    cleanups.push(() => {
      // Messages live in memory only: say what a stop drops (the statuses themselves are in the table).
      for (const queue of queues.all()) {
        const left = queue.size;
        if (left > 0) log(`${queue.model.logicalId}: ${left} message${left === 1 ? '' : 's'} not yet handled, dropped with the stack`);
      }
      queues.close();
      return Promise.resolve();
    });
    const secrets = new LocalSecrets(region, app.stackName, app.secretIds, options.dataDir);
    const tableName = (id: string) => app.tables.get(id)?.name ?? `${app.stackName}-${id}`;
    const functionName = (id: string) => app.functions.get(id)?.name ?? `${app.stackName}-${id}`;
    const resolver: Resolver = {
      ref: (id) => {
        const type = app.resources[id]?.Type;
        if (type === 'AWS::DynamoDB::Table') return tableName(id);
        if (type === 'AWS::Lambda::Function') return functionName(id);
        if (type === 'AWS::ApiGatewayV2::Api') return id === app.httpApi?.logicalId ? publishApiId : apiId;
        if (type === 'AWS::SecretsManager::Secret') return LocalSecrets.arn(region, app.stackName, id);
        if (type === 'AWS::SQS::Queue') return queues.get(id).url;
        return `${app.stackName}-${id}`;
      },
      getAtt: (id, attribute) => {
        const type = app.resources[id]?.Type;
        if (type === 'AWS::DynamoDB::Table' && attribute === 'StreamArn') return streamArns.get(id) ?? '';
        if (type === 'AWS::DynamoDB::Table') return `arn:aws:dynamodb:${region}:000000000000:table/${tableName(id)}`;
        if (type === 'AWS::Lambda::Function') return `arn:aws:lambda:${region}:000000000000:function:${functionName(id)}`;
        if (type === 'AWS::SQS::Queue') return queueAttribute(queues.get(id), attribute);
        throw new LocalStackError(`the local stack cannot resolve ${id}.${attribute} (${type ?? 'unknown resource'})`);
      },
    };
    // The stage's https/wss URLs point at the local stack's one port.
    const deployedBase = `(https|wss)://${apiId}\\.execute-api\\.${region}\\.amazonaws\\.com`;
    const toLocal = (_: string, scheme: string) => (scheme === 'wss' ? `ws://${HOST}:${port}` : httpUrl);
    const localize = (value: string) => value.replace(new RegExp(`^${deployedBase}`), toLocal);
    // The browser app's headers as CloudFront would add them, the CSP's stage URL pointed here too.
    const webHeaders = app.webHeaders ? responseHeaders(app.webHeaders, (value) => resolve(value, resolver, region).replace(new RegExp(deployedBase, 'g'), toLocal)) : {};

    const overrides = overrideEnvironment(app, options.environmentOverrides ?? {});
    for (const [name, functionIds] of overrides) log(`${name}=${options.environmentOverrides?.[name] ?? ''} replaces the template's value in ${functionIds.join(', ')} (UPDRAFT_FUNCTION_ENV)`);
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
        AWS_ENDPOINT_URL_DYNAMODB: functionsDynamoDb,
        AWS_ENDPOINT_URL_SECRETS_MANAGER: httpUrl,
        AWS_ENDPOINT_URL_SQS: httpUrl,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        // Names the function in its SDK clients' user agent (`app/<id>`), which the ledger reads.
        ...(options.dynamoDbLedger ? { AWS_SDK_UA_APP_ID: model.logicalId } : {}),
      };
      for (const [name, value] of Object.entries(model.environment)) {
        environment[name] = options.environmentOverrides?.[name] ?? localize(resolve(value, resolver, region));
      }
      const audience = environment['JWT_AUDIENCE'];
      if (model.logicalId === app.api.routes.get('$connect')?.authorizer?.functionId && audience) {
        devTokenAudience = audience.split(',')[0]?.trim();
      }
      // A queue's event source may run MaximumConcurrency of its function at once; the function's
      // pacing counts on it (the delivery workers share their budget among that many).
      const queueConcurrency = app.queueMappings.find((mapping) => mapping.functionId === model.logicalId)?.maxConcurrency;
      functions.set(model.logicalId, new LocalFunction(model, environment, options.functionLog, Math.max(options.functionContainers, queueConcurrency ?? 0)));
    }
    cleanups.push(async () => {
      await Promise.all([...functions.values()].map((fn) => fn.stop()));
    });
    const faults = options.faults;
    if (faults) {
      // fanout:crash: the functions an event source mapping invokes, whose batches are retried when they crash.
      for (const { functionId } of [...app.streamMappings, ...app.queueMappings]) {
        const fn = functions.get(functionId);
        if (fn) fn.crashes = () => faults.crash();
      }
    }
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
      allowedOrigins: new Set([...stackOrigins(port), ...(options.allowedOrigins ?? [])]),
      log,
      ...(options.onRequest ? { onRequest: options.onRequest } : {}),
      ...onEvent,
    });
    const server = new HttpServer({
      host: HOST,
      port,
      upgrades: gateway,
      browserRoutes: [
        devTokenRoute({ secret: secrets.secrets[0]?.value, ...(devTokenAudience ? { audience: devTokenAudience } : {}), wsUrl }),
        webApp(options.webDir, wsUrl, webHeaders),
      ],
      serviceRoutes: [
        ...(app.httpApi
          ? [
              publishApiRoute({
                api: app.httpApi,
                apiId: publishApiId,
                region,
                functions,
                principals: localPrincipals((output) => resolvedStatements(outputPolicyStatements(app, output), resolver, region)),
                port,
                log,
                ...(options.onRequest ? { onRequest: options.onRequest } : {}),
                ...onEvent,
              }),
            ]
          : []),
        managementApiRoute({ stageName: app.api.stageName, messageBytes: options.limits.messageBytes, connections: gateway, faults: options.faults }),
        faultsRoute(options.faults),
        secrets.route,
        sqsApiRoute(queues),
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

    const onBatch = options.onBatch;
    // Pushed before the stream mappings, so stopped after them: what the streams queued last is still delivered.
    const queueMappings = app.queueMappings.map((model) => {
      const fn = functions.get(model.functionId);
      if (!fn) throw new LocalStackError(`event source mapping ${model.logicalId}: function ${model.functionId} is not in the template`);
      const queue = queues.get(model.queueId);
      const concurrency = Math.min(model.maxConcurrency ?? fn.maxContainers, fn.maxContainers);
      const mapping = new QueueMapping({
        model,
        queue,
        fn,
        region,
        concurrency,
        log,
        ...(onBatch
          ? { onBatch: (size: number, failed: number, durationMs: number) => onBatch({ source: 'queue', functionId: model.functionId, size, failed, durationMs }) }
          : {}),
        ...onEvent,
      });
      mapping.start();
      cleanups.push(() => mapping.stop());
      const limit = model.maxConcurrency === undefined ? '' : ` (MaximumConcurrency ${model.maxConcurrency})`;
      return `${queue.model.logicalId} → ${model.functionId}: batches of ${model.batchSize}, ${concurrency} at once${limit}${model.enabled ? '' : ', disabled'}`;
    });

    const deletions = new ServiceDeletions();
    const streamMappings: StreamMapping[] = [];
    const streamsClient = new DynamoDBStreamsClient({ endpoint: dynamo.endpoint, region, credentials: LOCAL_CREDENTIALS });
    for (const model of app.streamMappings) {
      const streamArn = streamArns.get(model.tableId);
      const fn = functions.get(model.functionId);
      if (!streamArn) throw new LocalStackError(`event source mapping ${model.logicalId}: table ${model.tableId} has no stream`);
      if (!fn) throw new LocalStackError(`event source mapping ${model.logicalId}: function ${model.functionId} is not in the template`);
      const mapping = new StreamMapping({
        model,
        streamArn,
        tableName: tableName(model.tableId),
        fn,
        client: streamsClient,
        region,
        pollIntervalMs: options.streamPollMs,
        serviceDeletions: deletions,
        ...(faults ? { faults: streamFaults(faults, app.tables.get(model.tableId)) } : {}),
        onFailure: (failed) => recordFailure(failuresDir, failed, failed.queueId === undefined ? undefined : queues.get(failed.queueId), log),
        log,
        ...(onBatch
          ? {
              onBatch: (size: number, outcome: 'ok' | 'failed', durationMs: number) =>
                onBatch({ source: 'stream', functionId: model.functionId, size, failed: outcome === 'ok' ? 0 : size, durationMs }),
            }
          : {}),
        ...onEvent,
      });
      mapping.start();
      streamMappings.push(mapping);
      cleanups.push(() => mapping.stop());
    }
    // A function that has just run may have written to a table with a stream: poll it now.
    for (const fn of functions.values()) fn.onInvoked = () => streamMappings.forEach((mapping) => mapping.poke());
    cleanups.push(() => {
      streamsClient.destroy();
      return Promise.resolve();
    });

    const sweeper = new TtlSweeper(dynamo.client, [...app.tables.values()], deletions, options.ttlSweepMs, log);
    sweeper.start();
    cleanups.push(() => sweeper.stop());
    const streams = app.streamMappings.length;
    const publishRoutes = app.httpApi ? `, publish API ${app.httpApi.routes.length} routes at ${LOCAL_PUBLISH_PATH}` : '';
    phase('API and streams', `port ${port}, ${app.api.routes.size} routes${publishRoutes}, ${streams} stream mapping${streams === 1 ? '' : 's'}, ${queues.size} queue${queues.size === 1 ? '' : 's'}`);
    for (const line of queueMappings) log(`  queue mapping    ${line}`);

    return { httpUrl, wsUrl, app, connections: () => gateway.size, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** stream:duplicate and stream:reorder; a reorder swaps records of one partition (one channel of the Statuses table) when it can. */
function streamFaults(faults: Faults, table: TableModel | undefined): StreamFaults {
  const partitionKey = table?.partitionKey;
  const keyOf = (record: Batch[number]) => (partitionKey === undefined ? undefined : JSON.stringify(record.dynamodb?.Keys?.[partitionKey]));
  return { duplicate: (records) => faults.duplicate(records), reorder: (batch) => [...faults.reorder(batch, keyOf)] };
}

/** A stream batch given up on: sent to its on-failure queue, as Lambda sends it, and kept in a file where it is easy to read. */
function recordFailure(dir: string, failed: FailedBatch, queue: LocalQueue | undefined, log: (line: string) => void): void {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${failed.queueId ?? failed.mapping}.jsonl`);
  const body = JSON.stringify(failed.message);
  appendFileSync(file, `${body}\n`);
  let sent = false;
  try {
    queue?.send({ body, senderId: 'lambda' });
    sent = queue !== undefined;
  } catch (error) {
    log(`${failed.mapping}: could not send the failed batch to ${queue?.model.logicalId ?? '?'}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const info = failed.message['DDBStreamBatchInfo'];
  const size = info !== null && typeof info === 'object' && 'batchSize' in info && typeof info.batchSize === 'number' ? info.batchSize : '?';
  log(`!!! ${failed.mapping}: gave up on ${size} stream records${sent ? `; they are in ${queue?.model.logicalId ?? '?'}, as on AWS` : ''}. Details: ${file}`);
}

/** A dead-lettered message, kept where failed stream batches are: nothing consumes a dead-letter queue locally. */
function recordDeadLetter(dir: string, message: DeadLetter, from: LocalQueue, to: LocalQueue, log: (line: string) => void): void {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${to.model.logicalId}.jsonl`);
  appendFileSync(file, `${JSON.stringify({ MessageId: message.messageId, MD5OfBody: message.md5OfBody, Body: message.body, Attributes: message.attributes })}\n`);
  const group = message.attributes.MessageGroupId === undefined ? '' : ` of group ${message.attributes.MessageGroupId}`;
  log(`!!! ${from.model.logicalId}: gave up on message ${message.messageId}${group} after ${message.attributes.ApproximateReceiveCount} receives; it is in ${to.model.logicalId}. Details: ${file}`);
}

/** IAM statements of the template with their resources resolved to local ARNs; Action and Resource may each be one or a list. */
function resolvedStatements(statements: readonly JsonObject[], resolver: Resolver, region: string): ResolvedStatement[] {
  return statements.map((statement) => {
    const listed = (value: JsonObject[string] | undefined) => (value === undefined ? [] : Array.isArray(value) ? value : [value]);
    return {
      effect: statement['Effect'] === 'Deny' ? 'Deny' : 'Allow',
      actions: listed(statement['Action']).map((action) => resolve(action, resolver, region)),
      resources: listed(statement['Resource']).map((resource) => resolve(resource, resolver, region)),
    };
  });
}

/** What `Fn::GetAtt` gives for a queue. */
function queueAttribute(queue: LocalQueue, attribute: string): string {
  if (attribute === 'Arn') return queue.arn;
  if (attribute === 'QueueName') return queue.name;
  if (attribute === 'QueueUrl') return queue.url;
  throw new LocalStackError(`the local stack cannot resolve ${queue.model.logicalId}.${attribute}`);
}

/** For each overridden variable, the functions whose environment has it; refuses one that no function has. */
function overrideEnvironment(app: AppModel, overrides: Readonly<Record<string, string>>): Map<string, string[]> {
  const used = new Map<string, string[]>();
  for (const name of Object.keys(overrides)) {
    const functionIds = [...app.functions.values()].filter((fn) => name in fn.environment).map((fn) => fn.logicalId);
    if (functionIds.length === 0) throw new LocalStackError(`UPDRAFT_FUNCTION_ENV sets ${name}, which no function of the template has`);
    used.set(name, functionIds);
  }
  return used;
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

/** Each table's partition key attribute and its indexes' (`<table>/<index>`), by local name. */
function partitionKeysOf(tables: Iterable<TableModel>): PartitionKeys {
  const keys = new Map<string, string>();
  for (const table of tables) {
    keys.set(table.name, table.partitionKey);
    for (const [index, key] of table.indexPartitionKeys) keys.set(`${table.name}/${index}`, key);
  }
  return keys;
}
