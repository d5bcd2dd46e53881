/**
 * Benchmark: one status to every subscriber of one channel, through the fan-out tree as
 * it runs on AWS, against AWS's limits; and, with --baseline, the samples' approach (one
 * Lambda, a Scan, an unbounded Promise.all of PostToConnectionCommand) in the same run.
 * Prints one line per run (JSON with --json; the timing breakdown too with --detail),
 * with the issue's targets next to the figures; asserts nothing.
 *
 *   npm run bench:scale -- [--subscribers 10000,100000,1000000] [--runs 3] [--baseline] [--json] [--detail]
 *       [--store auto|dynamodb|memory] [--latency-ms 25] [--latency-sigma 0.4] [--throttle 10000] [--burst 5000]
 *       [--gone 0.01] [--errors 0.001] [--workers 10] [--delivery-rps <throttle>] [--batch-size <FanOutDefaults>]
 *       [--receive fill|group] [--sqs-ms 10] [--query-ms 10] [--baseline-max 100000] [--threads 2]
 *       [--segment-size <FanOutDefaults>] [--max-segments <FanOutDefaults>] [--pacer-burst <the Pacer's>]
 *
 * In this process, as the handlers wire them (lambdas/fanout.ts, lambdas/deliver.ts):
 * the stream consumer (fanOut, the real planner) gets one INSERT record of a status on
 * `user:celebrity`; its segments go to a model of the SQS FIFO queue and its event source
 * mapping (scale/fifo-model.ts), which invokes the real delivery worker (deliverSegments)
 * in up to `--workers` warm containers, each with its own DeliveryClient and Pacer at
 * deliveryRps / workers (the delivery budget is the whole throttle unless --delivery-rps
 * says otherwise), spread over worker threads. The model Management API
 * (scale/model-api.ts) runs in a child process, so the CPU counted here is the clients'
 * and the tree's alone. Subscriptions come from DynamoDB Local (rows written by the real
 * writeSubscriptions, timed apart) up to 100,000, and from an in-memory store with the
 * same pages beyond (auto); each in-memory Query waits --query-ms.
 *
 * Figures: wall time from the consumer's invocation to the model's last 200; the share
 * of the throttle counts 200s and 410s (a Gone spends a token too); CPU per delivery is
 * this process's (every thread) over the run, per 200; GB-seconds sum the modelled
 * invocations' billed durations. Cost counts every AWS call: API Gateway messages (200s,
 * and 5xx to err high; 429s and 410s carry no message), Lambda requests and GB-seconds,
 * SQS requests per 64 KB (SendMessageBatch, and the event source's one ReceiveMessage and
 * one DeleteMessageBatch per batch), DynamoDB read units of every Query (strongly
 * consistent, from the rows' bytes), the queued mark's write, and the removal of each
 * gone connection (a GetItem, and a BatchWriteItem of its row and one subscription).
 *
 * Not modelled: the DynamoDB stream's own delay before the consumer runs, cold starts
 * (containers are warm, as in steady traffic), and idle long polls (a cost at rest).
 * The baseline runs once per subscriber count, up to --baseline-max (a million SDK
 * promises at once would take many minutes and GBs of heap).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { ApiGatewayManagementApiClient, GoneException, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { ScanCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { DEFAULT_FANOUT_CONCURRENCY, FanOutDefaults } from '../../shared/config';
import { DeliveryClient } from '../../shared/fanout/delivery-client';
import { fanOut, type FanOutDeps } from '../../shared/fanout/engine';
import type { SegmentQueue } from '../../shared/fanout/segment-queue';
import { newId } from '../../shared/ids';
import { Connections, TableLayouts } from '../../shared/schema';
import { connectionOfKey } from '../../shared/fanout/hash-space';
import { writeSubscriptions } from '../../shared/store/connection-rows';
import { statusItem } from '../../shared/store/items';
import { createTableInput, startStoreDatabase, type StoreDatabase } from '../support/dynamodb-local';
import { CREDENTIALS, goneRemover, QuietLogger, type HostCounts } from './scale/containers';
import { FifoModel, type FifoCounts, type Invocation } from './scale/fifo-model';
import { MeteredSubscriptions, markRowBytes, newStoreMeter, subscriptionRowBytes, type StoreMeter } from './scale/metered-subscriptions';
import { epochMs, isGone, startModelApi, type ModelApi, type ModelReport } from './scale/model-api';
import { AUTHOR, CHANNEL, connectionIds, openStore, REGION, type OpenStore, type StoreSpec } from './scale/subscribers';
import { WorkerThreads } from './scale/worker-threads';

/**
 * us-east-1 on-demand list prices as of 2026 (aws.amazon.com/{api-gateway,lambda,sqs,dynamodb}/pricing/),
 * in dollars per unit.
 */
const PRICES = {
  /** WebSocket messages, first billion a month, per 32 KB unit. Only posts the gateway took are counted: not 429s, not 410s (nothing reached a client); 5xx are, to err high. */
  apiGatewayMessage: 1.0 / 1e6,
  lambdaRequest: 0.2 / 1e6,
  /** x86's price per GB-second; the stack's functions are arm64, which costs 20% less: this errs high. */
  lambdaGbSecond: 0.0000166667,
  /** FIFO queue requests, each 64 KB of payload a request. */
  sqsFifoRequest: 0.5 / 1e6,
  /** On-demand read and write request units. */
  dynamoReadUnit: 0.125 / 1e6,
  dynamoWriteUnit: 0.625 / 1e6,
} as const;

/** Memory of the modelled functions, MB, as cdk/updraft-stack.ts gives FanOut (the stream consumer); the delivery workers get the same 1 GB. */
const LAMBDA_MEMORY_MB = { streamConsumer: 1024, worker: 1024 } as const;
/** FanOut's timeout in cdk/updraft-stack.ts: what the baseline, one invocation, must finish within. */
const LAMBDA_TIMEOUT_S = 60;
/** A 1,769 MB function has one full vCPU; CPU scales with memory below that. */
const vcpuAt = (memoryMb: number) => Math.min(1, memoryMb / 1769);

/** The issue's targets, for a 10,000/s throttle and 25 ms latency. */
const TARGETS = {
  wallSeconds: new Map([
    [10_000, 1.3],
    [100_000, 12],
    [1_000_000, 115],
  ]),
  fractionOfThrottle: new Map([[1_000_000, 0.87]]),
  costPerMillion: 1.05,
} as const;

const DYNAMODB_MAX = 100_000;
const WARM_UP_SUBSCRIBERS = 20_000;
/** A Lambda bills its duration in whole milliseconds. */
const billedGbSeconds = (ms: number, memoryMb: number) => (Math.ceil(ms) / 1000) * (memoryMb / 1024);

const { values: args } = parseArgs({
  options: {
    subscribers: { type: 'string', multiple: true, default: ['10000'] },
    runs: { type: 'string', default: '1' },
    store: { type: 'string', default: 'auto' },
    'latency-ms': { type: 'string', default: '25' },
    'latency-sigma': { type: 'string', default: '0.4' },
    throttle: { type: 'string', default: '10000' },
    burst: { type: 'string', default: '5000' },
    gone: { type: 'string', default: '0.01' },
    errors: { type: 'string', default: '0.001' },
    workers: { type: 'string', default: String(FanOutDefaults.deliveryWorkers) },
    /** The budget the workers share; the default is the whole throttle. */
    'delivery-rps': { type: 'string' },
    'batch-size': { type: 'string', default: String(FanOutDefaults.receiveBatch) },
    receive: { type: 'string', default: 'fill' },
    'sqs-ms': { type: 'string', default: '10' },
    'query-ms': { type: 'string', default: '10' },
    /** The workers' pacer burst, seconds, for experiments; the default is the Pacer's. */
    'pacer-burst': { type: 'string' },
    /** The planner's subscribers per segment, for experiments; the default is the stack's. */
    'segment-size': { type: 'string', default: String(FanOutDefaults.segmentSize) },
    /** The planner's cap on segments per status, for experiments; the default is the stack's. */
    'max-segments': { type: 'string', default: String(FanOutDefaults.maxSegments) },
    /** Worker threads the delivery worker containers are spread over. */
    threads: { type: 'string', default: String(Math.min(2, cpus().length)) },
    baseline: { type: 'boolean', default: false },
    'baseline-max': { type: 'string', default: '100000' },
    json: { type: 'boolean', default: false },
    detail: { type: 'boolean', default: false },
  },
});

function positive(name: string, text: string | undefined, integer = false): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0 || (integer && !Number.isInteger(value))) throw new Error(`--${name} must be a ${integer ? 'whole ' : ''}number ≥ 0, not ${text ?? 'nothing'}`);
  return value;
}

const throttle = positive('throttle', args.throttle);
const options = {
  subscribers: args.subscribers.flatMap((list) => list.split(',')).map((n) => positive('subscribers', n.replace(/_/g, ''), true)),
  runs: positive('runs', args.runs, true),
  store: args.store,
  model: {
    latencyMs: positive('latency-ms', args['latency-ms']),
    latencySigma: positive('latency-sigma', args['latency-sigma']),
    throttle,
    burst: positive('burst', args.burst),
    gone: positive('gone', args.gone),
    errors: positive('errors', args.errors),
  },
  workers: positive('workers', args.workers, true),
  deliveryRps: args['delivery-rps'] === undefined ? throttle : positive('delivery-rps', args['delivery-rps']),
  batchSize: positive('batch-size', args['batch-size'], true),
  receive: args.receive,
  sqsMs: positive('sqs-ms', args['sqs-ms']),
  queryMs: positive('query-ms', args['query-ms']),
  segmentSize: positive('segment-size', args['segment-size'], true),
  maxSegments: positive('max-segments', args['max-segments'], true),
  pacerBurst: args['pacer-burst'] === undefined ? undefined : positive('pacer-burst', args['pacer-burst']),
  threads: positive('threads', args.threads, true),
  baseline: args.baseline,
  baselineMax: positive('baseline-max', args['baseline-max'], true),
  json: args.json,
  detail: args.detail,
};
if (options.store !== 'auto' && options.store !== 'dynamodb' && options.store !== 'memory') throw new Error('--store must be auto, dynamodb or memory');
const storeChoice: 'auto' | 'dynamodb' | 'memory' = options.store;
if (options.receive !== 'fill' && options.receive !== 'group') throw new Error('--receive must be fill or group');
if (options.batchSize < 1 || options.batchSize > 10) throw new Error('--batch-size must be 1 to 10 (SQS FIFO event sources take at most 10)');
const receive: 'fill' | 'group' = options.receive;
/** The targets hold for the issue's conditions only. */
const targetsApply = options.model.throttle === 10_000 && options.model.latencyMs === 25;

// --- subscribers -------------------------------------------------------------------------------

interface Source {
  readonly kind: 'dynamodb' | 'memory';
  readonly subscribers: number;
  readonly spec: StoreSpec;
  /** The stream consumer's view of the store (the workers open their own in their threads). */
  readonly opened: OpenStore;
  /** Live subscribers: those the model does not answer Gone for. */
  readonly expected: ReadonlySet<string>;
  readonly loadMs: number;
  /** The samples' read: every row of the table, then filtered; ids and the bytes read. */
  scan(): Promise<{ readonly connectionIds: string[]; readonly bytes: number }>;
}

let database: StoreDatabase | undefined;

async function prepare(n: number, threads: WorkerThreads): Promise<Source> {
  const ids = connectionIds(n);
  const expected = new Set(ids.filter((id) => !isGone(id, options.model.gone)));
  const kind = storeChoice === 'auto' ? (n <= DYNAMODB_MAX ? 'dynamodb' : 'memory') : storeChoice;
  const started = performance.now();
  if (kind === 'memory') {
    const spec: StoreSpec = { kind, subscribers: n, prefix: '', queryMs: options.queryMs };
    const opened = openStore(spec);
    await threads.useStore(spec);
    const memory = opened.memory;
    return {
      kind,
      subscribers: n,
      spec,
      opened,
      expected,
      loadMs: performance.now() - started,
      scan: async () => {
        const rows = memory?.rows(CHANNEL) ?? [];
        const bytes = rows.reduce((sum, row) => sum + (row.sk.startsWith('#') ? markRowBytes(row.pk) : subscriptionRowBytes(row.pk, connectionOfKey(row.sk))), 0);
        // One modelled round trip per 1 MB page, as a Scan reads.
        for (let page = 0; page < Math.ceil(bytes / 2 ** 20); page++) await new Promise((resolve) => setTimeout(resolve, options.queryMs));
        return { connectionIds: rows.filter((row) => !row.sk.startsWith('#')).map((row) => connectionOfKey(row.sk)), bytes };
      },
    };
  }
  database ??= await startStoreDatabase();
  const { db, endpoint } = database;
  const table = `Connections-${n}`;
  await db.send(new CreateTableCommand(createTableInput(table, TableLayouts.Connections)));
  const connectedAt = Date.now() - 60 * 60 * 1000;
  const rows = ids.map((connectionId) => ({ connectionId, connectedAt, channel: CHANNEL }));
  // writeSubscriptions keeps 8 BatchWriteItem calls in flight; four of them side by side load faster.
  const quarter = Math.ceil(rows.length / 4);
  await Promise.all([0, 1, 2, 3].map((i) => writeSubscriptions(db, table, rows.slice(i * quarter, (i + 1) * quarter))));
  const spec: StoreSpec = { kind, endpoint, table };
  await threads.useStore(spec);
  return { kind, subscribers: n, spec, opened: openStore(spec), expected, loadMs: performance.now() - started, scan: () => scanTable(db, table) };
}

/** The samples' Scan: every item of the table, page by page, filtered to the channel after reading. */
async function scanTable(db: DynamoDBDocumentClient, table: string): Promise<{ connectionIds: string[]; bytes: number }> {
  const ids: string[] = [];
  let bytes = 0;
  let start: Record<string, unknown> | undefined;
  do {
    const page = await db.send(
      new ScanCommand({
        TableName: table,
        FilterExpression: `begins_with(${Connections.partitionKey}, :channel)`,
        ExpressionAttributeValues: { ':channel': `${Connections.rows.subscription.prefix}${CHANNEL}#` },
        ExclusiveStartKey: start,
      }),
    );
    for (const item of page.Items ?? []) {
      const pk = String(item[Connections.partitionKey]);
      const sk = String(item[Connections.sortKey]);
      if (sk.startsWith('#')) {
        bytes += markRowBytes(pk);
        continue;
      }
      const connectionId = connectionOfKey(sk);
      bytes += subscriptionRowBytes(pk, connectionId);
      ids.push(connectionId);
    }
    start = page.LastEvaluatedKey;
  } while (start);
  return { connectionIds: ids, bytes };
}

// --- the stream consumer ----------------------------------------------------------------------

/** The stream consumer's warm container, wired as lambdas/fanout.ts wires it (no pacer: it delivers small channels only). */
class Consumer {
  readonly logger = new QuietLogger();
  readonly remover = goneRemover(options.queryMs);
  private readonly client: DeliveryClient;

  constructor(endpoint: string) {
    this.client = new DeliveryClient({ endpoint, region: REGION, credentials: CREDENTIALS, maxSockets: DEFAULT_FANOUT_CONCURRENCY });
  }

  async invoke(record: DynamoDBRecord, store: MeteredSubscriptions, queue: SegmentQueue): Promise<Awaited<ReturnType<typeof fanOut>>> {
    const deps: FanOutDeps = {
      connections: this.remover.connections,
      subscriptions: store,
      delivery: this.client,
      queue,
      plan: {
        directPerShard: Math.ceil(FanOutDefaults.directMax / Connections.rows.subscription.shards),
        groups: FanOutDefaults.groups,
        segmentSize: options.segmentSize,
        maxSegments: options.maxSegments,
        receiveBatch: options.batchSize,
        queuedFor: FanOutDefaults.queuedForMs,
        directBudget: FanOutDefaults.directBudget,
      },
      concurrency: DEFAULT_FANOUT_CONCURRENCY,
      logger: this.logger,
    };
    return fanOut([record], deps);
  }

  async destroy(): Promise<void> {
    await this.client.destroy();
  }
}

/** The tree: the stream consumer here, the queue model, the worker containers in their threads. */
interface Tree {
  readonly consumer: Consumer;
  readonly fifo: FifoModel;
  readonly threads: WorkerThreads;
}

/** The stream's record of a new status on the channel, as the Statuses table writes it (PostLog, items.ts). */
function insertRecord(createdAt: string): DynamoDBRecord {
  const fixture = JSON.parse(readFileSync(path.join(__dirname, '..', 'events', 'dynamodb', 'stream-insert.json'), 'utf8')) as { Records: DynamoDBRecord[] };
  const template = fixture.Records[0];
  const status = { id: newId(), author: AUTHOR, text: 'Live from the main stage: the fan-out tree just took its first million. Thank you all for being here!', createdAt };
  const row = statusItem(CHANNEL, status);
  const image = Object.fromEntries(Object.entries(row).map(([name, value]) => [name, { S: String(value) }]));
  return {
    ...template,
    eventID: createHash('md5').update(status.id).digest('hex'),
    eventName: 'INSERT',
    dynamodb: {
      ...template?.dynamodb,
      ApproximateCreationDateTime: Math.floor(Date.parse(createdAt) / 1000),
      Keys: { channel: { S: CHANNEL }, id: { S: status.id } },
      NewImage: image,
      SequenceNumber: String(Date.now()) + '00000000',
      SizeBytes: JSON.stringify(image).length,
    },
  };
}

// --- runs -----------------------------------------------------------------------------------------

interface Cost {
  readonly apiGateway: number;
  readonly lambda: number;
  readonly sqs: number;
  readonly dynamodb: number;
  readonly total: number;
  readonly perMillionDeliveries: number;
}

interface Result {
  readonly approach: 'tree' | 'baseline';
  readonly store: 'dynamodb' | 'memory';
  readonly subscribers: number;
  readonly live: number;
  readonly delivered: number;
  readonly gone: number;
  readonly duplicates: number;
  readonly missing: number;
  /** Deliveries to ids that are no subscriber: a bug if ever non-zero. */
  readonly unexpected: number;
  readonly wallMs: number;
  /** (200 + 410 answers) per second of wall time, over the throttle: a Gone spends a token like a delivery. */
  readonly fractionOfThrottle: number;
  readonly cpuMicrosPerDelivery: number;
  readonly lambdaGbSeconds: number;
  readonly lambdaRequests: number;
  /** The baseline's one invocation: its CPU alone on a 1 GB Lambda's share of a vCPU, a floor on its duration there. */
  readonly lambdaCpuBoundSeconds?: number;
  readonly cost: Cost;
  readonly targets: {
    readonly wallSeconds?: number;
    readonly fractionOfThrottle?: number;
    readonly costPerMillion: number;
    readonly met: boolean;
  };
  /** The machine's 1-minute load average when the run started and when it ended (others' work included). */
  readonly loadAverage: number;
  readonly loadAverageEnd: number;
  readonly posts: { readonly total: number; readonly throttled: number; readonly errors: number; readonly clientGaveUp: number };
  readonly breakdown: Record<string, unknown>;
}

interface Meters {
  readonly report: ModelReport;
  readonly source: Source;
  readonly startedAt: number;
  readonly cpuMicros: number;
  readonly loadAverage: number;
}

function tally(meters: Meters): Pick<Result, 'delivered' | 'gone' | 'duplicates' | 'missing' | 'unexpected' | 'wallMs' | 'fractionOfThrottle' | 'cpuMicrosPerDelivery' | 'live'> {
  const { report, source } = meters;
  let duplicates = 0;
  let unexpected = 0;
  let reached = 0;
  for (const [id, count] of Object.entries(report.delivered)) {
    if (!source.expected.has(id)) unexpected += count;
    else {
      reached++;
      duplicates += count - 1;
    }
  }
  const wallMs = (report.lastOkAt ?? NaN) - meters.startedAt;
  return {
    live: source.expected.size,
    delivered: report.ok,
    gone: report.gone,
    duplicates,
    missing: source.expected.size - reached,
    unexpected,
    wallMs,
    fractionOfThrottle: (report.ok + report.gone) / (wallMs / 1000) / options.model.throttle,
    cpuMicrosPerDelivery: meters.cpuMicros / Math.max(1, report.ok),
  };
}

/** Which of the issue's targets apply to a run of `n` subscribers, and whether its figures meet them. */
function targetsFor(n: number, figures: { wallMs: number; fractionOfThrottle: number; duplicates: number; missing: number }, costPerMillion: number) {
  const { wallMs, fractionOfThrottle: fraction, duplicates, missing } = figures;
  const wallSeconds = targetsApply ? TARGETS.wallSeconds.get(n) : undefined;
  const fractionOfThrottle = targetsApply ? TARGETS.fractionOfThrottle.get(n) : undefined;
  const met =
    duplicates === 0 &&
    missing === 0 &&
    costPerMillion <= TARGETS.costPerMillion &&
    (wallSeconds === undefined || wallMs / 1000 <= wallSeconds) &&
    (fractionOfThrottle === undefined || fraction >= fractionOfThrottle);
  return { ...(wallSeconds === undefined ? {} : { wallSeconds }), ...(fractionOfThrottle === undefined ? {} : { fractionOfThrottle }), costPerMillion: TARGETS.costPerMillion, met };
}

function cost(parts: { messages: number; lambdaRequests: number; gbSeconds: number; sqsRequests: number; readUnits: number; writeUnits: number }, delivered: number): Cost {
  const apiGateway = parts.messages * PRICES.apiGatewayMessage;
  const lambda = parts.lambdaRequests * PRICES.lambdaRequest + parts.gbSeconds * PRICES.lambdaGbSecond;
  const sqs = parts.sqsRequests * PRICES.sqsFifoRequest;
  const dynamodb = parts.readUnits * PRICES.dynamoReadUnit + parts.writeUnits * PRICES.dynamoWriteUnit;
  const total = apiGateway + lambda + sqs + dynamodb;
  return { apiGateway, lambda, sqs, dynamodb, total, perMillionDeliveries: (total / Math.max(1, delivered)) * 1e6 };
}

/** CPU time the whole machine has spent busy, in ms summed over cores. */
function machineBusyMs(): number {
  return cpus().reduce((sum, cpu) => sum + cpu.times.user + cpu.times.nice + cpu.times.sys + cpu.times.irq, 0);
}

/** A Gone's cleanup (ConnectionStore.removeGone): a consistent GetItem of a small row, and a BatchWriteItem deleting it and its one subscription. */
const REMOVAL_UNITS = { read: 1, write: 2 };

/** Sums the store meters of the consumer and of every thread. */
function sumMeters(meters: readonly StoreMeter[]): StoreMeter {
  const total = newStoreMeter();
  for (const meter of meters) {
    for (const key of Object.keys(total) as (keyof StoreMeter)[]) total[key] = key === 'maxQueryMs' ? Math.max(total[key], meter[key]) : total[key] + meter[key];
  }
  return total;
}

async function runTree(tree: Tree, model: ModelApi, source: Source): Promise<Result> {
  await model.reset();
  await tree.threads.reset();
  tree.fifo.resetCounts();
  tree.consumer.remover.reset();
  const consumerStore = new MeteredSubscriptions(source.opened.store);
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const loadAverage = loadavg()[0] ?? NaN;

  let sendMs = 0;
  const queue: SegmentQueue = {
    send: async (segments) => {
      const started = performance.now();
      await tree.fifo.send(segments);
      sendMs += performance.now() - started;
    },
  };
  const startedAt = epochMs();
  const record = insertRecord(new Date(startedAt).toISOString());
  const machineBefore = machineBusyMs();
  const cpuBefore = process.cpuUsage();
  const consumerStarted = performance.now();
  const consumed = await tree.consumer.invoke(record, consumerStore, queue);
  const consumerMs = performance.now() - consumerStarted;
  await tree.fifo.drained();
  const cpu = process.cpuUsage(cpuBefore);
  const machineMs = machineBusyMs() - machineBefore;
  const endedAt = epochMs();
  const loadAverageEnd = loadavg()[0] ?? NaN;
  loop.disable();
  const report = await model.report();
  const hosts: HostCounts[] = await tree.threads.collect();

  const figures = tally({ report, source, startedAt, cpuMicros: cpu.user + cpu.system, loadAverage });
  const fifo: FifoCounts = tree.fifo.counts;
  const invocations: Invocation[] = tree.fifo.invocations;
  const store = sumMeters([consumerStore.meter, ...hosts.map((host) => host.meter)]);
  const removals = tree.consumer.remover.removals() + hosts.reduce((sum, host) => sum + host.removals, 0);
  const failed = consumed.failed + hosts.reduce((sum, host) => sum + host.failed, 0);
  const rates = hosts.flatMap((host) => host.rates);
  const workerGbSeconds = invocations.reduce((sum, invocation) => sum + billedGbSeconds(invocation.durationMs, LAMBDA_MEMORY_MB.worker), 0);
  const lambdaGbSeconds = billedGbSeconds(consumerMs, LAMBDA_MEMORY_MB.streamConsumer) + workerGbSeconds;
  const lambdaRequests = 1 + invocations.length;
  const costs = cost(
    {
      messages: report.ok + report.errors,
      lambdaRequests,
      gbSeconds: lambdaGbSeconds,
      sqsRequests: fifo.sendChunks + fifo.receiveChunks + fifo.deleteCalls,
      readUnits: store.readUnits + removals * REMOVAL_UNITS.read,
      writeUnits: store.writeUnits + removals * REMOVAL_UNITS.write,
    },
    report.ok,
  );
  const busyMs = invocations.reduce((sum, invocation) => sum + invocation.durationMs, 0);
  const span = (report.lastOkAt ?? NaN) - (fifo.firstReceivedAt ?? NaN);
  const after = (at: number | undefined) => (at === undefined ? undefined : Math.round(at - startedAt));
  return {
    approach: 'tree',
    store: source.kind,
    subscribers: source.subscribers,
    ...figures,
    lambdaGbSeconds,
    lambdaRequests,
    cost: costs,
    targets: targetsFor(source.subscribers, figures, costs.perMillionDeliveries),
    loadAverage,
    loadAverageEnd,
    posts: { total: report.posts, throttled: report.throttled, errors: report.errors, clientGaveUp: failed },
    breakdown: {
      consumer: {
        plan: consumed.segments > 0 ? 'queue' : 'direct',
        segments: consumed.segments,
        firstPagesMs: Math.round(store.firstPagesMs),
        markMs: Math.round(store.markMs),
        sendMs: Math.round(sendMs),
        totalMs: Math.round(consumerMs),
      },
      queue: {
        sendCalls: fifo.sendCalls,
        receives: fifo.receiveCalls,
        deletes: fifo.deleteCalls,
        redriven: fifo.redriven,
        firstReceivedMs: after(fifo.firstReceivedAt),
        meanWaitMs: Math.round(fifo.waitMsTotal / Math.max(1, fifo.messagesSent)),
        maxWaitMs: Math.round(fifo.waitMsMax),
      },
      workers: {
        invocations: invocations.length,
        meanMessages: round1(invocations.reduce((sum, i) => sum + i.messages, 0) / Math.max(1, invocations.length)),
        meanGroups: round1(invocations.reduce((sum, i) => sum + i.groups, 0) / Math.max(1, invocations.length)),
        meanMs: Math.round(busyMs / Math.max(1, invocations.length)),
        maxMs: Math.round(Math.max(0, ...invocations.map((i) => i.durationMs))),
        /** Busy worker time over workers × (first receive → last delivery). */
        utilization: round2(busyMs / (options.workers * span)),
        /** Deliveries a second while busy, per invocation, against the share deliveryRps / workers. */
        busyRate: Math.round((report.ok + report.gone + report.errors) / (busyMs / 1000)),
        throttledSeen: hosts.reduce((sum, host) => sum + host.throttled, 0),
        pacerRateMin: Math.round(Math.min(...rates)),
      },
      store: {
        queries: store.queries,
        rowsRead: store.rowsRead,
        queryMs: Math.round(store.queryMs),
        firstRangePageMs: Math.round(store.firstRangePageMs),
        maxQueryMs: Math.round(store.maxQueryMs),
        readUnits: store.readUnits,
        writeUnits: store.writeUnits,
        removals,
      },
      deliveredAtMs: {
        firstPost: after(report.firstPostAt),
        p50: after(report.okAt?.p50),
        p90: after(report.okAt?.p90),
        p99: after(report.okAt?.p99),
        last: after(report.lastOkAt),
      },
      cpu: {
        benchCoreShare: round2((cpu.user + cpu.system) / 1000 / figures.wallMs),
        /** The main thread's loop (consumer, queue model); the workers run in threads of their own. */
        benchLoopP99Ms: round1(loop.percentile(99) / 1e6),
        modelCoreShare: round2(report.serverCpuMicros / 1000 / figures.wallMs),
        modelLoopP99Ms: round1(report.serverLoopP99Ms),
        /** Every process's, others' included: at the core count, the machine was the limit. */
        machineCoreShare: round2(machineMs / (endedAt - startedAt)),
        /** Per worker at its share of the budget, the share of a 1 GB Lambda's vCPU the deliveries would use. */
        workerLambdaCpuShare: round2((figures.cpuMicrosPerDelivery * (options.deliveryRps / options.workers)) / 1e6 / vcpuAt(LAMBDA_MEMORY_MB.worker)),
      },
      cost: { apiGateway: round6(costs.apiGateway), lambda: round6(costs.lambda), sqs: round6(costs.sqs), dynamodb: round6(costs.dynamodb) },
      warnings: tree.consumer.logger.warnings + hosts.reduce((sum, host) => sum + host.warnings, 0),
      errors: tree.consumer.logger.errors + hosts.reduce((sum, host) => sum + host.errors, 0),
    },
  };
}

/**
 * The samples' approach: one Lambda Scans the whole table, then posts to everyone at once
 * through the SDK client with its defaults (50 sockets, 3 attempts), deleting the gone. A
 * failed post is not retried: the sample's handler answers 500.
 */
async function runBaseline(model: ModelApi, source: Source): Promise<Result> {
  await model.reset();
  const loadAverage = loadavg()[0] ?? NaN;
  const client = new ApiGatewayManagementApiClient({ endpoint: model.endpoint, region: REGION, credentials: CREDENTIALS });
  const data = Buffer.from(JSON.stringify({ type: 'status', channel: CHANNEL, status: { id: newId(), author: AUTHOR, text: 'baseline', createdAt: new Date().toISOString() } }));
  let gone = 0;
  let failed = 0;
  const startedAt = epochMs();
  const cpuBefore = process.cpuUsage();
  const scanStarted = performance.now();
  const scanned = await source.scan();
  const scanMs = performance.now() - scanStarted;
  await Promise.all(
    scanned.connectionIds.map(async (connectionId) => {
      try {
        await client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: data }));
      } catch (error) {
        if (error instanceof GoneException) gone++;
        else failed++;
      }
    }),
  );
  const durationMs = epochMs() - startedAt;
  const cpu = process.cpuUsage(cpuBefore);
  const loadAverageEnd = loadavg()[0] ?? NaN;
  client.destroy();
  const report = await model.report();
  const figures = tally({ report, source, startedAt, cpuMicros: cpu.user + cpu.system, loadAverage });
  const lambdaGbSeconds = billedGbSeconds(durationMs, LAMBDA_MEMORY_MB.streamConsumer);
  // A Scan reads eventually consistent by default: half a unit per 4 KB.
  const readUnits = Math.ceil(scanned.bytes / 4096) / 2;
  const costs = cost({ messages: report.ok + report.errors, lambdaRequests: 1, gbSeconds: lambdaGbSeconds, sqsRequests: 0, readUnits, writeUnits: gone }, report.ok);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  return {
    approach: 'baseline',
    store: source.kind,
    subscribers: source.subscribers,
    ...figures,
    lambdaGbSeconds,
    lambdaRequests: 1,
    lambdaCpuBoundSeconds: round1(cpuSeconds / vcpuAt(LAMBDA_MEMORY_MB.streamConsumer)),
    cost: costs,
    targets: targetsFor(source.subscribers, figures, costs.perMillionDeliveries),
    loadAverage,
    loadAverageEnd,
    posts: { total: report.posts, throttled: report.throttled, errors: report.errors, clientGaveUp: failed },
    breakdown: {
      scanMs: Math.round(scanMs),
      readUnits,
      invocationMs: Math.round(durationMs),
      exceedsLambdaTimeout: Math.max(durationMs / 1000, cpuSeconds / vcpuAt(LAMBDA_MEMORY_MB.streamConsumer)) > LAMBDA_TIMEOUT_S,
      goneSeen: gone,
      cost: { apiGateway: round6(costs.apiGateway), lambda: round6(costs.lambda), dynamodb: round6(costs.dynamodb) },
    },
  };
}

// --- printing ---------------------------------------------------------------------------------------

const round1 = (n: number) => Math.round(n * 10) / 10;
const round2 = (n: number) => Math.round(n * 100) / 100;
const round6 = (n: number) => Math.round(n * 1e6) / 1e6;
const count = (n: number) => n.toLocaleString('en-US');
const mark = (ok: boolean) => (ok ? '✓' : '✗');

function line(result: Result, label: string): string {
  const { targets } = result;
  const wall = `${(result.wallMs / 1000).toFixed(result.wallMs < 10_000 ? 2 : 1)} s${targets.wallSeconds === undefined ? '' : ` (≤ ${targets.wallSeconds} ${mark(result.wallMs / 1000 <= targets.wallSeconds)})`}`;
  const fraction = `${result.fractionOfThrottle.toFixed(2)} of throttle${targets.fractionOfThrottle === undefined ? '' : ` (≥ ${targets.fractionOfThrottle} ${mark(result.fractionOfThrottle >= targets.fractionOfThrottle)})`}`;
  return [
    `${label} ${result.approach} [${result.store}] ${count(result.subscribers)} subscribers:`,
    `${count(result.delivered)} delivered (${count(result.gone)} gone)`,
    `${count(result.duplicates)} dup ${mark(result.duplicates === 0)}`,
    `${count(result.missing)} missing ${mark(result.missing === 0)}${result.unexpected > 0 ? ` ${count(result.unexpected)} UNEXPECTED` : ''}`,
    `wall ${wall}`,
    fraction,
    `${result.cpuMicrosPerDelivery.toFixed(0)} µs CPU/delivery`,
    `${result.lambdaGbSeconds.toFixed(1)} GB-s`,
    `$${result.cost.perMillionDeliveries.toFixed(3)}/M (≤ ${targets.costPerMillion} ${mark(result.cost.perMillionDeliveries <= targets.costPerMillion)})`,
    ...(result.lambdaCpuBoundSeconds === undefined
      ? []
      : [`on a 1 GB Lambda its CPU alone takes ${result.lambdaCpuBoundSeconds} s${Math.max(result.lambdaCpuBoundSeconds, result.wallMs / 1000) > LAMBDA_TIMEOUT_S ? ` > FanOut's ${LAMBDA_TIMEOUT_S} s timeout ✗` : ''}`]),
    `load ${result.loadAverage.toFixed(2)}→${result.loadAverageEnd.toFixed(2)}`,
  ].join(' · ');
}

const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

function printMedian(results: readonly Result[]): void {
  if (results.length < 2) return;
  const first = results[0];
  if (!first) return;
  const pick = (f: (r: Result) => number) => median(results.map(f));
  const summary = {
    approach: first.approach,
    store: first.store,
    subscribers: first.subscribers,
    runs: results.length,
    medianWallMs: Math.round(pick((r) => r.wallMs)),
    medianFractionOfThrottle: round2(pick((r) => r.fractionOfThrottle)),
    medianCpuMicrosPerDelivery: Math.round(pick((r) => r.cpuMicrosPerDelivery)),
    medianGbSeconds: round1(pick((r) => r.lambdaGbSeconds)),
    medianCostPerMillion: round6(pick((r) => r.cost.perMillionDeliveries)),
    maxDuplicates: Math.max(...results.map((r) => r.duplicates)),
    maxMissing: Math.max(...results.map((r) => r.missing)),
    targetWallSeconds: first.targets.wallSeconds,
    allTargetsMet: results.every((r) => r.targets.met),
  };
  if (options.json) console.log(JSON.stringify({ summary }));
  else
    console.log(
      `median of ${summary.runs} ${summary.approach} [${summary.store}] ${count(summary.subscribers)}: wall ${(summary.medianWallMs / 1000).toFixed(2)} s${summary.targetWallSeconds === undefined ? '' : ` (≤ ${summary.targetWallSeconds})`} · ${summary.medianFractionOfThrottle} of throttle · ${summary.medianCpuMicrosPerDelivery} µs CPU/delivery · ${summary.medianGbSeconds} GB-s · $${summary.medianCostPerMillion.toFixed(3)}/M · max dup ${summary.maxDuplicates}, max missing ${summary.maxMissing}`,
    );
}

function print(result: Result, label: string): void {
  if (options.json) {
    console.log(JSON.stringify(result));
    return;
  }
  console.log(line(result, label));
  if (options.detail) console.log(`  ${JSON.stringify(result.breakdown)}`);
}

// --- main -------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.splice(0).reverse()) await stop().catch((error: unknown) => console.error(error));
  };
  /** The processes this one started: on an abort, only they need stopping (threads end with the process). */
  let model: ModelApi | undefined;
  // Ctrl-C or a kill: stop DynamoDB Local and the model, then exit (their exit hooks kill whatever is
  // left). A second signal (Ctrl-C reaches npm and this process both) leaves the first to finish; 10 s bound it.
  let aborting = false;
  const onSignal = () => {
    if (aborting) return;
    aborting = true;
    setTimeout(() => process.exit(130), 10_000).unref();
    void Promise.allSettled([database?.stop(), model?.stop()]).finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const api = await startModelApi(options.model);
    model = api;
    stops.push(() => api.stop());
    stops.push(async () => {
      await database?.stop();
      database = undefined;
    });
    const threads = new WorkerThreads(
      { endpoint: api.endpoint, workers: options.workers, deliveryRps: options.deliveryRps, concurrency: FanOutDefaults.deliveryConcurrency, queryMs: options.queryMs, ...(options.pacerBurst === undefined ? {} : { pacerBurst: options.pacerBurst }) },
      options.threads,
    );
    stops.push(() => threads.destroy());
    const consumer = new Consumer(api.endpoint);
    stops.push(() => consumer.destroy());
    const fifo = new FifoModel({ batchSize: options.batchSize, maxConcurrency: options.workers, apiMs: options.sqsMs, receive }, (worker, records) => threads.invoke(worker, records));
    fifo.start();
    stops.push(() => fifo.stop());
    const tree: Tree = { consumer, fifo, threads };

    const cpu = cpus();
    const machine = { cpu: cpu[0]?.model ?? 'unknown', cores: cpu.length, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version };
    const setup = {
      ...options.model,
      workers: options.workers,
      deliveryRps: options.deliveryRps,
      workerShare: options.deliveryRps / options.workers,
      workerConcurrency: FanOutDefaults.deliveryConcurrency,
      threads: options.threads,
      plan: { directMax: FanOutDefaults.directMax, groups: FanOutDefaults.groups, segmentSize: options.segmentSize, maxSegments: options.maxSegments },
      batchSize: options.batchSize,
      receive,
      sqsMs: options.sqsMs,
      queryMs: options.queryMs,
    };
    if (options.json) console.log(JSON.stringify({ machine, setup }));
    else {
      console.log(`bench:scale on ${machine.cores} × ${machine.cpu}, ${machine.memoryGiB} GiB, Node ${machine.node}`);
      console.log(
        `model API: ${setup.latencyMs} ms median (σ ${setup.latencySigma}), throttle ${count(setup.throttle)}/s burst ${count(setup.burst)}, gone ${setup.gone}, 5xx ${setup.errors}; ` +
          `${setup.workers} workers × ${count(setup.workerShare)}/s (delivery budget ${count(setup.deliveryRps)}/s${args['delivery-rps'] === undefined ? ' = the throttle' : ''}), ${setup.workerConcurrency} in flight each; ` +
          `segments of ${count(setup.plan.segmentSize)} (${count(setup.plan.maxSegments)} at most), FIFO batches of ≤ ${setup.batchSize} (${receive}), SQS calls ${setup.sqsMs} ms, in-memory Queries ${setup.queryMs} ms; workers in ${setup.threads} threads`,
      );
    }

    // Warm-up, not counted: code compiled, sockets open, as in a warm fleet.
    const warm: StoreSpec = { kind: 'memory', subscribers: WARM_UP_SUBSCRIBERS, prefix: 'warm-', queryMs: options.queryMs };
    await threads.useStore(warm);
    await runTree(tree, api, { kind: 'memory', subscribers: WARM_UP_SUBSCRIBERS, spec: warm, opened: openStore(warm), expected: new Set(), loadMs: 0, scan: () => Promise.reject(new Error('no scan')) });

    for (const n of options.subscribers) {
      const source = await prepare(n, threads);
      if (!options.json) console.log(`${count(n)} subscribers in ${source.kind === 'dynamodb' ? 'DynamoDB Local' : 'memory'}, loaded in ${(source.loadMs / 1000).toFixed(1)} s (not counted)`);
      const results: Result[] = [];
      for (let run = 1; run <= options.runs; run++) {
        // The bucket refills and timers settle between runs.
        await new Promise((resolve) => setTimeout(resolve, 1000));
        const result = await runTree(tree, api, source);
        results.push(result);
        print(result, `run ${run}/${options.runs}`);
      }
      printMedian(results);
      if (options.baseline) {
        if (n > options.baselineMax) {
          const skipped = { approach: 'baseline', subscribers: n, skipped: `above --baseline-max ${options.baselineMax}: ${count(n)} promises of the SDK at once would take minutes and GBs of heap` };
          console.log(options.json ? JSON.stringify(skipped) : `baseline ${count(n)}: skipped, ${skipped.skipped}`);
        } else {
          await new Promise((resolve) => setTimeout(resolve, 1000));
          print(await runBaseline(api, source), 'once');
        }
      }
    }
  } finally {
    await stopAll();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
