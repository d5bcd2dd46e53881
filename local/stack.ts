import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:net';
import * as path from 'node:path';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { signToken } from '../shared/auth';
import { Limits } from '../shared/protocol';
import { LOCAL_CREDENTIALS, createTables, reapLeftover, startDynamoDbLocal, type DynamoDbLocal } from './dynamodb';
import { LocalStackError } from './errors';
import { Gateway, json, readBody, type GatewayLimits } from './gateway';
import { resolve, type Resolver } from './intrinsics';
import { LocalFunction } from './lambda';
import { StreamMapping, type FailedBatch } from './streams';
import { loadApp, type AppModel } from './template';
import { ServiceDeletions, TtlSweeper } from './ttl';
import { webApp, type WebHandler } from './web';

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
  readonly log: (line: string) => void;
}

export interface RunningStack {
  readonly httpUrl: string;
  readonly wsUrl: string;
  readonly app: AppModel;
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';

/** Starts everything the template describes, on this machine. */
export async function startLocalStack(options: LocalStackOptions): Promise<RunningStack> {
  const app = loadApp(options.assemblyDir);
  const { region, port, log } = options;
  const httpUrl = `http://${HOST}:${port}`;
  const wsUrl = `ws://${HOST}:${port}/${app.api.stageName}`;
  const apiId = localApiId(app.stackName);

  await assertPortFree(port, 'UPDRAFT_PORT');
  const leftover = await reapLeftover(options.stateDir, options.dynamoDbPort);
  if (leftover) log(`stopped DynamoDB Local (pid ${leftover}), left running by a stack that did not stop cleanly`);
  await assertPortFree(options.dynamoDbPort, 'UPDRAFT_DYNAMODB_PORT');

  const cleanups: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((error: Error) => log(`while stopping: ${error.message}`));
    cleanups.length = 0;
  };

  try {
    const dynamo: DynamoDbLocal = await startDynamoDbLocal(options.dynamoDbPort, options.dataDir, region, options.stateDir);
    cleanups.push(() => dynamo.stop());
    const streamArns = await createTables(dynamo.client, app.tables.values());

    const secrets = new Map(app.secretIds.map((id) => [secretArn(region, app.stackName, id), { id, value: localSecret(options.dataDir, id) }]));
    const resolver: Resolver = {
      ref: (id) => {
        const type = app.resources[id]?.Type;
        if (type === 'AWS::DynamoDB::Table') return app.tables.get(id)!.name;
        if (type === 'AWS::Lambda::Function') return app.functions.get(id)!.name;
        if (type === 'AWS::ApiGatewayV2::Api') return apiId;
        if (type === 'AWS::SecretsManager::Secret') return secretArn(region, app.stackName, id);
        if (type === 'AWS::SQS::Queue') return `${httpUrl}/000000000000/${app.stackName}-${id}`;
        return `${app.stackName}-${id}`;
      },
      getAtt: (id, attribute) => {
        const type = app.resources[id]?.Type;
        if (type === 'AWS::DynamoDB::Table' && attribute === 'StreamArn') return streamArns.get(id) ?? '';
        if (type === 'AWS::DynamoDB::Table') return `arn:aws:dynamodb:${region}:000000000000:table/${app.tables.get(id)!.name}`;
        if (type === 'AWS::Lambda::Function') return `arn:aws:lambda:${region}:000000000000:function:${app.functions.get(id)!.name}`;
        if (type === 'AWS::SQS::Queue') return `arn:aws:sqs:${region}:000000000000:${app.stackName}-${id}`;
        throw new LocalStackError(`the local stack cannot resolve ${id}.${attribute} (${type ?? 'unknown resource'})`);
      },
    };
    // The stage's https/wss URLs point at this machine's one port.
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
      if (model.logicalId === app.api.routes.get('$connect')?.authorizer?.functionId && environment['JWT_AUDIENCE']) {
        devTokenAudience = environment['JWT_AUDIENCE'].split(',')[0]?.trim();
      }
      functions.set(model.logicalId, new LocalFunction(model, environment, (fn, line) => log(`[${fn}] ${line}`), options.functionContainers));
    }
    cleanups.push(async () => {
      await Promise.all([...functions.values()].map((fn) => fn.stop()));
    });

    const eventLog = options.eventLog;
    const onEvent = eventLog ? { onEvent: (kind: string, event: unknown) => appendFileSync(eventLog, `${JSON.stringify({ kind, event })}\n`) } : {};
    const web = webApp(options.webDir, wsUrl);
    const gateway = new Gateway({
      port,
      host: HOST,
      api: app.api,
      identity: { apiId, stage: app.api.stageName, domainName: `${HOST}:${port}`, region },
      functions,
      limits: options.limits,
      log,
      ...onEvent,
      extraRoutes: (req, res, url) => extraRoutes(req, res, url, { secrets, wsUrl, web, ...(devTokenAudience ? { devTokenAudience } : {}) }),
    });
    try {
      await gateway.listen();
    } catch (error) {
      throw portError(error, port, 'UPDRAFT_PORT');
    }
    // The gateway stops first: its sockets close and their $disconnect runs while everything else is still up.
    cleanups.push(() => gateway.stop());

    const deletions = new ServiceDeletions();
    const streamsClient = new DynamoDBStreamsClient({ endpoint: dynamo.endpoint, region, credentials: LOCAL_CREDENTIALS });
    const failuresDir = path.join(options.stateDir, 'failed-batches');
    for (const model of app.mappings) {
      const streamArn = streamArns.get(model.tableId);
      if (!streamArn) throw new LocalStackError(`event source mapping ${model.logicalId}: table ${model.tableId} has no stream`);
      const mapping = new StreamMapping({
        model,
        streamArn,
        tableName: app.tables.get(model.tableId)!.name,
        fn: functions.get(model.functionId)!,
        client: streamsClient,
        region,
        pollIntervalMs: options.streamPollMs,
        serviceDeletions: deletions,
        onFailure: (failed) => recordFailure(failuresDir, failed, log),
        log,
        ...onEvent,
      });
      mapping.start();
      cleanups.push(() => mapping.stop());
    }
    cleanups.push(async () => streamsClient.destroy());

    const sweeper = new TtlSweeper(dynamo.client, [...app.tables.values()], deletions, options.ttlSweepMs, log);
    sweeper.start();
    cleanups.push(() => sweeper.stop());

    return { httpUrl, wsUrl, app, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

interface RouteContext {
  readonly secrets: Map<string, { id: string; value: string }>;
  readonly devTokenAudience?: string;
  readonly wsUrl: string;
  readonly web: WebHandler;
}

/** The rest of the port: the dev token endpoint, Secrets Manager's GetSecretValue, and the browser app. */
async function extraRoutes(req: IncomingMessage, res: ServerResponse, url: URL, context: RouteContext): Promise<boolean> {
  const target = req.headers['x-amz-target'];
  if (req.method === 'POST' && typeof target === 'string' && target.startsWith('secretsmanager.')) {
    const input = JSON.parse((await readBody(req, 64 * 1024)).body.toString() || '{}') as { SecretId?: string };
    const headers = { 'content-type': 'application/x-amz-json-1.1' };
    const entry = [...context.secrets].find(([arn, s]) => input.SecretId === arn || input.SecretId === s.id);
    if (target !== 'secretsmanager.GetSecretValue') {
      json(res, 400, { __type: 'UnsupportedOperation', message: `${target} is not emulated locally` }, headers);
    } else if (!entry) {
      json(res, 400, { __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." }, headers);
    } else {
      json(
        res,
        200,
        { ARN: entry[0], Name: entry[1].id, SecretString: entry[1].value, VersionId: 'local', VersionStages: ['AWSCURRENT'], CreatedDate: 0 },
        headers,
      );
    }
    return true;
  }
  if (req.method === 'GET' && url.pathname === '/dev/token') {
    const user = url.searchParams.get('user') ?? '';
    if (!Limits.userIdPattern.test(user)) {
      json(res, 400, { error: 'bad_request', message: 'user must match ^[A-Za-z0-9_-]{1,64}$' });
      return true;
    }
    const secret = [...context.secrets.values()][0];
    if (!secret) {
      // jwks mode: tokens come from the issuer, which this machine cannot stand in for.
      json(res, 501, { error: 'not_implemented', message: 'this stack verifies tokens from an OIDC issuer (authMode jwks); dev tokens need hs256' });
      return true;
    }
    const audience = context.devTokenAudience === undefined ? {} : { audience: context.devTokenAudience };
    json(res, 200, { token: await signToken(user, secret.value, '12h', audience), wsUrl: context.wsUrl });
    return true;
  }
  return context.web(req, res);
}

function recordFailure(dir: string, failed: FailedBatch, log: (line: string) => void): void {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${failed.queueId ?? failed.mapping}.jsonl`);
  appendFileSync(file, `${JSON.stringify(failed.message)}\n`);
  const info = failed.message['DDBStreamBatchInfo'] as { batchSize?: number } | undefined;
  log(`!!! ${failed.mapping}: gave up on ${info?.batchSize ?? '?'} stream records; on AWS they would go to the DLQ. Details: ${file}`);
}

/** The JWT secret: kept with the data so tokens survive a restart; fresh for an in-memory run. */
function localSecret(dataDir: string | undefined, id: string): string {
  const generate = () => randomBytes(48).toString('base64').replace(/[^A-Za-z0-9]/g, '').slice(0, 64);
  if (!dataDir) return generate();
  const file = path.join(dataDir, `${id}.secret`);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const value = generate();
  writeFileSync(file, value, { mode: 0o600 });
  return value;
}

const secretArn = (region: string, stack: string, id: string) => `arn:aws:secretsmanager:${region}:000000000000:secret:${stack}-${id}`;

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
  if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    return new LocalStackError(`port ${port} is already in use (is another \`npm start\` running?). Stop it, or choose another port with ${variable}=<port>.`);
  }
  return error as Error;
}

