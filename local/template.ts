import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

/**
 * Reads the synthesized cloud assembly into what the local stack runs. Every
 * table, function, route, authorizer, queue and event source mapping comes from
 * the CloudFormation template, so the local stack cannot drift from `cdk deploy`.
 */

type Json = null | boolean | number | string | Json[] | JsonObject;
interface JsonObject {
  [key: string]: Json;
}
interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, Json>;
  readonly Metadata?: Record<string, Json>;
}

export interface TableModel {
  readonly logicalId: string;
  readonly name: string;
  /** CreateTable input, as the template declares it. */
  readonly definition: Record<string, Json>;
  /** Its partition (HASH) key attribute. */
  readonly partitionKey: string;
  /** Each global secondary index's partition key attribute, by index name. */
  readonly indexPartitionKeys: ReadonlyMap<string, string>;
  readonly ttlAttribute?: string;
  readonly streamViewType?: string;
}

export interface FunctionModel {
  readonly logicalId: string;
  readonly name: string;
  readonly bundleDir: string;
  readonly handler: string;
  readonly timeoutMs: number;
  readonly memoryMb: number;
  /** Environment with intrinsics still unresolved; the stack resolves them onto local endpoints. */
  readonly environment: Record<string, Json>;
}

export interface RouteModel {
  readonly routeKey: string;
  readonly functionId: string;
  /** Whether API Gateway sends the integration's response back to the client (a route response exists). */
  readonly twoWay: boolean;
  readonly authorizer?: AuthorizerModel;
}

export interface AuthorizerModel {
  readonly functionId: string;
  /** e.g. `route.request.querystring.token`. */
  readonly identitySource: readonly string[];
}

/** A route of an HTTP API (payload format 2.0, Lambda proxy integrations). */
export interface HttpRouteModel {
  /** `METHOD /path/{param}`. */
  readonly routeKey: string;
  readonly method: string;
  /** The path's segments; a `{name}` segment matches any one segment. */
  readonly segments: readonly string[];
  readonly functionId: string;
  /** `AWS_IAM` (SigV4, then the caller's IAM policies), or `NONE`. */
  readonly authorizationType: string;
}

export interface HttpApiModel {
  readonly logicalId: string;
  readonly name: string;
  readonly stageName: string;
  readonly routes: readonly HttpRouteModel[];
}

export interface ApiModel {
  readonly logicalId: string;
  readonly name: string;
  readonly routeSelectionExpression: string;
  readonly stageName: string;
  readonly routes: ReadonlyMap<string, RouteModel>;
}

/** An event source mapping from a DynamoDB stream. */
export interface StreamMappingModel {
  readonly logicalId: string;
  readonly tableId: string;
  readonly functionId: string;
  readonly startingPosition: string;
  readonly batchSize: number;
  readonly batchingWindowMs: number;
  readonly bisectOnError: boolean;
  /** -1: retry until the record expires, as Lambda does. */
  readonly maxRetries: number;
  /** -1: no limit. */
  readonly maxRecordAgeMs: number;
  readonly reportBatchItemFailures: boolean;
  readonly filterPatterns: readonly Record<string, Json>[];
  readonly onFailureQueueId?: string;
}

export interface QueueModel {
  readonly logicalId: string;
  /** Its QueueName, or the name CloudFormation would make up (`.fifo` at the end for a FIFO queue, as SQS requires). */
  readonly name: string;
  readonly fifo: boolean;
  readonly contentBasedDeduplication: boolean;
  /** FIFO: whether a deduplication id is unique within its message group or within the queue. */
  readonly deduplicationScope: 'messageGroup' | 'queue';
  readonly visibilityTimeoutMs: number;
  readonly delayMs: number;
  readonly maxMessageBytes: number;
  /** Where a message goes once it has been received `maxReceiveCount` times without being deleted. */
  readonly redrive?: { readonly deadLetterQueueId: string; readonly maxReceiveCount: number };
}

/** An event source mapping from an SQS queue: Lambda's pollers receive batches and delete what the function handled. */
export interface QueueMappingModel {
  readonly logicalId: string;
  readonly queueId: string;
  readonly functionId: string;
  readonly batchSize: number;
  readonly batchingWindowMs: number;
  /** ScalingConfig.MaximumConcurrency: invocations at once at most; absent, as many as the function may run. */
  readonly maxConcurrency?: number;
  readonly reportBatchItemFailures: boolean;
  readonly filterPatterns: readonly Record<string, Json>[];
  readonly enabled: boolean;
}

export interface AppModel {
  readonly stackName: string;
  readonly assemblyDir: string;
  readonly resources: Readonly<Record<string, CfnResource>>;
  readonly tables: ReadonlyMap<string, TableModel>;
  readonly functions: ReadonlyMap<string, FunctionModel>;
  readonly api: ApiModel;
  /** The HTTP API (the publish API), if the template has one. */
  readonly httpApi?: HttpApiModel;
  /** The stack's outputs, by name: their values with intrinsics unresolved. */
  readonly outputs: Readonly<Record<string, Json>>;
  readonly streamMappings: readonly StreamMappingModel[];
  readonly queues: ReadonlyMap<string, QueueModel>;
  readonly queueMappings: readonly QueueMappingModel[];
  readonly secretIds: readonly string[];
  /**
   * The browser app's response headers policy (ResponseHeadersPolicyConfig, intrinsics unresolved):
   * the local stack serves the app with the headers CloudFront would add.
   */
  readonly webHeaders?: Readonly<Record<string, Json>>;
}

/** Loads the one stack of the assembly in `assemblyDir` (cdk.out). */
export function loadApp(assemblyDir: string): AppModel {
  const manifestFile = path.join(assemblyDir, 'manifest.json');
  if (!existsSync(manifestFile)) throw new Error(`no cloud assembly in ${assemblyDir}: run npx cdk synth`);
  const manifest = readJson(manifestFile);
  const stacks = Object.entries(obj(manifest['artifacts']) ?? {}).filter(([, artifact]) => obj(artifact)?.['type'] === 'aws:cloudformation:stack');
  if (stacks.length !== 1) throw new Error(`expected one stack in ${assemblyDir}, found ${stacks.length}`);
  const [only] = stacks;
  if (!only) throw new Error(`expected one stack in ${assemblyDir}, found none`);
  const [stackName, artifact] = only;
  const templateFile = str(obj(obj(artifact)?.['properties'])?.['templateFile']) ?? `${stackName}.template.json`;
  const resources: Record<string, CfnResource> = {};
  const template = readJson(path.join(assemblyDir, templateFile));
  const outputs: Record<string, Json> = {};
  for (const [name, output] of Object.entries(obj(template['Outputs']) ?? {})) {
    const value = obj(output)?.['Value'];
    if (value !== undefined) outputs[name] = value;
  }
  for (const [id, value] of Object.entries(obj(template['Resources']) ?? {})) {
    const resource = obj(value);
    const type = str(resource?.['Type']);
    if (!resource || type === undefined) throw new Error(`resource ${id} in ${templateFile} has no Type`);
    const properties = obj(resource['Properties']);
    const metadata = obj(resource['Metadata']);
    resources[id] = { Type: type, ...(properties ? { Properties: properties } : {}), ...(metadata ? { Metadata: metadata } : {}) };
  }
  const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
  const props = (r: CfnResource) => r.Properties ?? {};

  const tables = new Map<string, TableModel>();
  for (const [id, r] of ofType('AWS::DynamoDB::Table')) {
    const p = props(r);
    const ttl = obj(p['TimeToLiveSpecification']);
    const ttlAttribute = ttl?.['Enabled'] === true ? str(ttl['AttributeName']) : undefined;
    const streamViewType = str(obj(p['StreamSpecification'])?.['StreamViewType']);
    const keySchema = p['KeySchema'];
    const attributeDefinitions = p['AttributeDefinitions'];
    if (keySchema === undefined || attributeDefinitions === undefined) throw new Error(`table ${id} has no KeySchema or AttributeDefinitions`);
    const definition: Record<string, Json> = {
      TableName: `${stackName}-${id}`,
      KeySchema: keySchema,
      AttributeDefinitions: attributeDefinitions,
      BillingMode: p['BillingMode'] ?? 'PAY_PER_REQUEST',
    };
    if (p['GlobalSecondaryIndexes']) definition['GlobalSecondaryIndexes'] = p['GlobalSecondaryIndexes'];
    if (p['LocalSecondaryIndexes']) definition['LocalSecondaryIndexes'] = p['LocalSecondaryIndexes'];
    if (p['ProvisionedThroughput']) definition['ProvisionedThroughput'] = p['ProvisionedThroughput'];
    if (streamViewType) definition['StreamSpecification'] = { StreamEnabled: true, StreamViewType: streamViewType };
    const partitionKey = hashKeyOf(keySchema);
    if (partitionKey === undefined) throw new Error(`table ${id} has no HASH key in its KeySchema`);
    const indexPartitionKeys = new Map<string, string>();
    for (const index of Array.isArray(p['GlobalSecondaryIndexes']) ? p['GlobalSecondaryIndexes'] : []) {
      const name = str(obj(index)?.['IndexName']);
      const key = hashKeyOf(obj(index)?.['KeySchema']);
      if (name !== undefined && key !== undefined) indexPartitionKeys.set(name, key);
    }
    tables.set(id, {
      logicalId: id,
      name: `${stackName}-${id}`,
      definition,
      partitionKey,
      indexPartitionKeys,
      ...(ttlAttribute ? { ttlAttribute } : {}),
      ...(streamViewType ? { streamViewType } : {}),
    });
  }

  const functions = new Map<string, FunctionModel>();
  for (const [id, r] of ofType('AWS::Lambda::Function')) {
    const p = props(r);
    const assetPath = r.Metadata?.['aws:asset:path'];
    if (typeof assetPath !== 'string') throw new Error(`function ${id} has no bundled asset in ${assemblyDir}`);
    functions.set(id, {
      logicalId: id,
      name: `${stackName}-${id}`,
      bundleDir: path.resolve(assemblyDir, assetPath),
      handler: str(p['Handler']) ?? 'index.handler',
      timeoutMs: (num(p['Timeout']) ?? 3) * 1000,
      memoryMb: num(p['MemorySize']) ?? 128,
      environment: obj(obj(p['Environment'])?.['Variables']) ?? {},
    });
  }

  const functionIn = (value: Json | undefined): string => {
    const id = findGetAtt(value, (ref) => functions.has(ref));
    if (!id) throw new Error(`no function found in ${JSON.stringify(value)}`);
    return id;
  };

  const apis = ofType('AWS::ApiGatewayV2::Api').filter(([, r]) => props(r)['ProtocolType'] === 'WEBSOCKET');
  if (apis.length !== 1) throw new Error(`expected one WebSocket API, found ${apis.length}`);
  const [api] = apis;
  if (!api) throw new Error('expected one WebSocket API, found none');
  const [apiId, apiResource] = api;
  const authorizers = new Map<string, AuthorizerModel>();
  for (const [id, r] of ofType('AWS::ApiGatewayV2::Authorizer')) {
    const p = props(r);
    authorizers.set(id, { functionId: functionIn(p['AuthorizerUri']), identitySource: strings(p['IdentitySource']) });
  }
  const twoWayRoutes = new Set(ofType('AWS::ApiGatewayV2::RouteResponse').map(([, r]) => refOf(props(r)['RouteId'])));
  /** Routes and stages name their API with `Ref`. */
  const ofApi = (type: string, api: string) => ofType(type).filter(([, r]) => refOf(props(r)['ApiId']) === api);
  const integratedFunction = (routeId: string, p: Record<string, Json>): string => {
    const integrationId = findRef(p['Target'], (ref) => resources[ref]?.Type === 'AWS::ApiGatewayV2::Integration');
    if (!integrationId) throw new Error(`route ${routeId} has no integration`);
    return functionIn(resources[integrationId]?.Properties?.['IntegrationUri']);
  };
  const routes = new Map<string, RouteModel>();
  for (const [id, r] of ofApi('AWS::ApiGatewayV2::Route', apiId)) {
    const p = props(r);
    const authorizer = p['AuthorizerId'] === undefined ? undefined : authorizers.get(refOf(p['AuthorizerId']) ?? '');
    const routeKey = str(p['RouteKey']);
    if (routeKey === undefined) throw new Error(`route ${id} has no RouteKey`);
    routes.set(routeKey, {
      routeKey,
      functionId: integratedFunction(id, p),
      twoWay: twoWayRoutes.has(id),
      ...(authorizer ? { authorizer } : {}),
    });
  }
  const stages = ofApi('AWS::ApiGatewayV2::Stage', apiId);
  const stageName = stages.length === 1 ? stages[0]?.[1].Properties?.['StageName'] : undefined;
  if (typeof stageName !== 'string') throw new Error(`expected one stage with a name, found ${stages.length} stages`);

  const httpApis = ofType('AWS::ApiGatewayV2::Api').filter(([, r]) => props(r)['ProtocolType'] === 'HTTP');
  if (httpApis.length > 1) throw new Error(`the local stack serves one HTTP API, found ${httpApis.length}`);
  let httpApi: HttpApiModel | undefined;
  const [http] = httpApis;
  if (http) {
    const [httpId, httpResource] = http;
    const httpStages = ofApi('AWS::ApiGatewayV2::Stage', httpId);
    const httpStage = httpStages.length === 1 ? httpStages[0]?.[1].Properties?.['StageName'] : undefined;
    if (typeof httpStage !== 'string') throw new Error(`expected one stage of HTTP API ${httpId}, found ${httpStages.length}`);
    const httpRoutes = ofApi('AWS::ApiGatewayV2::Route', httpId).map(([id, r]): HttpRouteModel => {
      const p = props(r);
      const routeKey = str(p['RouteKey']);
      const [method, route] = routeKey?.split(' ') ?? [];
      if (routeKey === undefined || method === undefined || route?.startsWith('/') !== true) throw new Error(`route ${id} has no RouteKey of the form "METHOD /path"`);
      return { routeKey, method, segments: route.split('/').slice(1), functionId: integratedFunction(id, p), authorizationType: str(p['AuthorizationType']) ?? 'NONE' };
    });
    httpApi = { logicalId: httpId, name: str(props(httpResource)['Name']) ?? httpId, stageName: httpStage, routes: httpRoutes };
  }

  const queues = new Map<string, QueueModel>();
  for (const [id, r] of ofType('AWS::SQS::Queue')) queues.set(id, queueModel(id, props(r), stackName, (ref) => resources[ref]?.Type === 'AWS::SQS::Queue'));

  const streamMappings: StreamMappingModel[] = [];
  const queueMappings: QueueMappingModel[] = [];
  for (const [id, r] of ofType('AWS::Lambda::EventSourceMapping')) {
    const p = props(r);
    const functionId = refOf(p['FunctionName']);
    if (!functionId || !functions.has(functionId)) throw new Error(`event source mapping ${id} is not to a function of the template`);
    const filterPatterns = filtersOf(id, p);
    const reportBatchItemFailures = strings(p['FunctionResponseTypes']).includes('ReportBatchItemFailures');
    const batchingWindowMs = (num(p['MaximumBatchingWindowInSeconds']) ?? 0) * 1000;
    const queueId = findGetAtt(p['EventSourceArn'], (ref) => queues.has(ref));
    if (queueId) {
      const maxConcurrency = num(obj(p['ScalingConfig'])?.['MaximumConcurrency']);
      queueMappings.push({
        logicalId: id,
        queueId,
        functionId,
        batchSize: num(p['BatchSize']) ?? 10,
        batchingWindowMs,
        ...(maxConcurrency === undefined ? {} : { maxConcurrency }),
        reportBatchItemFailures,
        filterPatterns,
        enabled: p['Enabled'] !== false,
      });
      continue;
    }
    const tableId = findGetAtt(p['EventSourceArn'], (ref) => tables.has(ref));
    if (!tableId) throw new Error(`event source mapping ${id} is neither from a table's stream nor from a queue of the template`);
    const destination = obj(obj(p['DestinationConfig'])?.['OnFailure'])?.['Destination'];
    const onFailureQueueId = destination === undefined ? undefined : findGetAtt(destination, (ref) => queues.has(ref));
    streamMappings.push({
      logicalId: id,
      tableId,
      functionId,
      startingPosition: str(p['StartingPosition']) ?? 'LATEST',
      batchSize: num(p['BatchSize']) ?? 100,
      batchingWindowMs,
      bisectOnError: p['BisectBatchOnFunctionError'] === true,
      maxRetries: num(p['MaximumRetryAttempts']) ?? -1,
      maxRecordAgeMs: (num(p['MaximumRecordAgeInSeconds']) ?? -1) * 1000,
      reportBatchItemFailures,
      filterPatterns,
      ...(onFailureQueueId ? { onFailureQueueId } : {}),
    });
  }

  const headerPolicies = ofType('AWS::CloudFront::ResponseHeadersPolicy');
  if (headerPolicies.length > 1) throw new Error(`expected at most one CloudFront response headers policy, found ${headerPolicies.length}`);
  const webHeaders = obj(headerPolicies[0]?.[1].Properties?.['ResponseHeadersPolicyConfig']);

  return {
    stackName,
    assemblyDir,
    resources,
    tables,
    functions,
    api: {
      logicalId: apiId,
      name: str(props(apiResource)['Name']) ?? apiId,
      routeSelectionExpression: str(props(apiResource)['RouteSelectionExpression']) ?? '$request.body.action',
      stageName,
      routes,
    },
    ...(httpApi ? { httpApi } : {}),
    outputs,
    streamMappings,
    queues,
    queueMappings,
    secretIds: ofType('AWS::SecretsManager::Secret').map(([id]) => id),
    ...(webHeaders ? { webHeaders } : {}),
  };
}

/**
 * The statements of the managed policy a stack output names (`Value: {Ref: <policy>}`), intrinsics
 * unresolved; none when the output is absent or names something else.
 */
export function outputPolicyStatements(app: Pick<AppModel, 'outputs' | 'resources'>, outputName: string): JsonObject[] {
  const policyId = refOf(app.outputs[outputName]);
  const policy = policyId === undefined ? undefined : app.resources[policyId];
  if (policy?.Type !== 'AWS::IAM::ManagedPolicy') return [];
  const statements = obj(obj(policy.Properties)?.['PolicyDocument'])?.['Statement'];
  const listed: readonly (Json | undefined)[] = Array.isArray(statements) ? statements : [statements];
  return listed.flatMap((statement): JsonObject[] => {
    const found = obj(statement);
    return found ? [found] : [];
  });
}

/** SQS's defaults where the template leaves a property out. */
const SQS_DEFAULTS = { visibilityTimeoutSeconds: 30, maxMessageBytes: 262_144 } as const;

function queueModel(id: string, p: Record<string, Json>, stackName: string, isQueue: (logicalId: string) => boolean): QueueModel {
  const fifo = p['FifoQueue'] === true || p['FifoQueue'] === 'true';
  const name = str(p['QueueName']) ?? `${stackName}-${id}${fifo ? '.fifo' : ''}`;
  // CloudFormation takes the redrive policy as an object or as its JSON text.
  const policyText = str(p['RedrivePolicy']);
  const parsed: unknown = policyText === undefined ? p['RedrivePolicy'] : JSON.parse(policyText);
  const policy = isJsonObject(parsed) ? parsed : undefined;
  let redrive: QueueModel['redrive'];
  if (policy) {
    const deadLetterQueueId = findGetAtt(policy['deadLetterTargetArn'], isQueue);
    const maxReceiveCount = Number(policy['maxReceiveCount']);
    if (!deadLetterQueueId || !Number.isInteger(maxReceiveCount) || maxReceiveCount < 1) {
      throw new Error(`queue ${id} has a redrive policy without a dead-letter queue of the template or a maxReceiveCount: ${JSON.stringify(policy)}`);
    }
    redrive = { deadLetterQueueId, maxReceiveCount };
  }
  return {
    logicalId: id,
    name,
    fifo,
    contentBasedDeduplication: p['ContentBasedDeduplication'] === true || p['ContentBasedDeduplication'] === 'true',
    deduplicationScope: p['DeduplicationScope'] === 'messageGroup' ? 'messageGroup' : 'queue',
    visibilityTimeoutMs: (num(p['VisibilityTimeout']) ?? SQS_DEFAULTS.visibilityTimeoutSeconds) * 1000,
    delayMs: (num(p['DelaySeconds']) ?? 0) * 1000,
    maxMessageBytes: num(p['MaximumMessageSize']) ?? SQS_DEFAULTS.maxMessageBytes,
    ...(redrive ? { redrive } : {}),
  };
}

/** A mapping's filter criteria: each pattern is JSON text in the template. */
function filtersOf(id: string, p: Record<string, Json>): JsonObject[] {
  const listed = obj(p['FilterCriteria'])?.['Filters'];
  return (Array.isArray(listed) ? listed : []).map((filter) => {
    const pattern = str(obj(filter)?.['Pattern']);
    const parsed: unknown = pattern === undefined ? undefined : JSON.parse(pattern);
    if (!isJsonObject(parsed)) throw new Error(`event source mapping ${id} has a filter that is not a JSON object: ${JSON.stringify(filter)}`);
    return parsed;
  });
}

function refOf(value: Json | undefined): string | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && typeof value['Ref'] === 'string' ? value['Ref'] : undefined;
}

/** The first `Fn::GetAtt` target anywhere inside `value` that satisfies `accept`. */
function findGetAtt(value: Json | undefined, accept: (logicalId: string) => boolean): string | undefined {
  return walk(value, (node) => {
    const getAtt = node['Fn::GetAtt'];
    return Array.isArray(getAtt) && typeof getAtt[0] === 'string' && accept(getAtt[0]) ? getAtt[0] : undefined;
  });
}

function findRef(value: Json | undefined, accept: (logicalId: string) => boolean): string | undefined {
  return walk(value, (node) => (typeof node['Ref'] === 'string' && accept(node['Ref']) ? node['Ref'] : undefined));
}

function walk(value: Json | undefined, visit: (node: JsonObject) => string | undefined): string | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  if (Array.isArray(value)) {
    for (const item of value) {
      const found = walk(item, visit);
      if (found) return found;
    }
    return undefined;
  }
  const here = visit(value);
  if (here) return here;
  for (const child of Object.values(value)) {
    const found = walk(child, visit);
    if (found) return found;
  }
  return undefined;
}

export type { Json, JsonObject, CfnResource };

const str = (value: Json | undefined): string | undefined => (typeof value === 'string' ? value : undefined);
const num = (value: Json | undefined): number | undefined => (typeof value === 'number' ? value : undefined);
const obj = (value: Json | undefined): JsonObject | undefined => (value !== null && typeof value === 'object' && !Array.isArray(value) ? value : undefined);
/** The HASH key's attribute in a KeySchema. */
const hashKeyOf = (keySchema: Json | undefined): string | undefined =>
  Array.isArray(keySchema) ? str(keySchema.map(obj).find((key) => key?.['KeyType'] === 'HASH')?.['AttributeName']) : undefined;
const strings = (value: Json | undefined): string[] => (Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : []);

function isJsonObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** A JSON file whose top level must be an object. */
function readJson(file: string): JsonObject {
  const value: unknown = JSON.parse(readFileSync(file, 'utf8'));
  if (!isJsonObject(value)) throw new Error(`${file} is not a JSON object`);
  return value;
}
