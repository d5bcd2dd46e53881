/**
 * Benchmark: what channel positions cost a post (shared/store/posts.ts), and how
 * commits behave when many race for one channel's head. Prints figures (and JSON
 * with --json); asserts nothing.
 *
 *   npm run bench:commit -- [--posts 200] [--concurrency 50] [--runs 3]
 *                           [--backoffs full-200,full-100,full-400,decorrelated] [--json]
 *
 * 1. Per post, one at a time: `posts` plain posts and `posts` replies (author's
 *    channel, the thread, a notification in the answered user's inbox), each with
 *    a request id as the client library sends it (so the idempotency claim is in
 *    the transaction). Once with PostLog (positions), once with the design before
 *    positions (`appendWithoutPositions` below), in the same run.
 * 2. Contention: `concurrency` repliers post to one thread at once, each with a
 *    DynamoDB client of its own (as separate Lambda instances would), once per
 *    backoff rule; then the thread is read back to check its positions.
 *
 * Each runs `runs` times, interleaved; the summary is the median of the runs.
 * Its own DynamoDB Local (test/support/dynamodb-local.ts), stopped at the end.
 */
import { cpus, loadavg, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, QueryCommand, TransactWriteCommand, type QueryCommandOutput } from '@aws-sdk/lib-dynamodb';
import type { MiddlewareStack } from '@smithy/types';
import { LOCAL_CREDENTIALS } from '../../local/dynamodb';
import { newId } from '../../shared/ids';
import { inboxChannel, threadChannel, userChannel, type Status } from '../../shared/protocol';
import { ClaimStore, type RetryKey } from '../../shared/store/claims';
import { byIdChannel, notificationItem, statusItem } from '../../shared/store/items';
import { PostLog, commitBackoff, type Backoff, type Entry } from '../../shared/store/posts';
import { startStoreDatabase, tableNames } from '../support/dynamodb-local';

const { values: args } = parseArgs({
  options: {
    posts: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '50' },
    runs: { type: 'string', default: '3' },
    backoffs: { type: 'string', default: 'full-200,full-100,full-400,decorrelated' },
    json: { type: 'boolean', default: false },
  },
});
const POSTS = Number(args.posts);
const CONCURRENCY = Number(args.concurrency);
const RUNS = Number(args.runs);

/** The rules to compare: full jitter under a cap (AWS's "full jitter"), and AWS's "decorrelated jitter". */
const BACKOFFS: Readonly<Record<string, Backoff>> = {
  'full-200': commitBackoff,
  'full-50': (attempt) => Math.random() * Math.min(50, 5 * 2 ** attempt),
  'full-100': (attempt) => Math.random() * Math.min(100, 5 * 2 ** attempt),
  'full-400': (attempt) => Math.random() * Math.min(400, 5 * 2 ** attempt),
  'full-800': (attempt) => Math.random() * Math.min(800, 5 * 2 ** attempt),
  // min(cap, random between base and 3 × the last pause), base 5 ms, cap 200 ms.
  decorrelated: (_attempt, last) => Math.min(200, 5 + Math.random() * (3 * Math.max(last, 5) - 5)),
};
const backoffNames = args.backoffs.split(',');
for (const name of backoffNames) if (!BACKOFFS[name]) throw new Error(`no backoff ${name}; known: ${Object.keys(BACKOFFS).join(', ')}`);

const TEXT = 'Just shipped the lean delivery client: one signer, keep-alive sockets, and nothing else on the hot path.';

/** A DynamoDB client that counts its requests and the capacity they consume, and estimates it from the items written. */
interface Metered {
  readonly db: DynamoDBDocumentClient;
  readonly meter: Meter;
  destroy(): void;
}

class Meter {
  calls = new Map<string, number>();
  /** As DynamoDB reports it (ReturnConsumedCapacity TOTAL), when it does. */
  reportedWrite = 0;
  reportedRead = 0;
  /** From the items: 2 units per transactional write per KB, 1 unit per strongly consistent read per 4 KB. */
  estimatedWrite = 0;
  estimatedRead = 0;

  count(command: string): number {
    return this.calls.get(command) ?? 0;
  }

  total(): number {
    return [...this.calls.values()].reduce((a, b) => a + b, 0);
  }

  snapshot() {
    return { calls: new Map(this.calls), reportedWrite: this.reportedWrite, reportedRead: this.reportedRead, estimatedWrite: this.estimatedWrite, estimatedRead: this.estimatedRead };
  }
}

function metered(endpoint: string): Metered {
  const client = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
  const meter = new Meter();
  (client.middlewareStack as MiddlewareStack<object, object>).add(
    (next, context) => async (call) => {
      const command = String((context as { commandName?: string }).commandName).replace(/Command$/, '');
      meter.calls.set(command, meter.count(command) + 1);
      const input = call.input as Record<string, unknown>;
      if (command === 'TransactWriteItems') meter.estimatedWrite += transactionWriteUnits(input);
      const result = await next({ ...call, input: { ...input, ReturnConsumedCapacity: 'TOTAL' } });
      const output = result.output as { ConsumedCapacity?: { CapacityUnits?: number; ReadCapacityUnits?: number; WriteCapacityUnits?: number }[] | { CapacityUnits?: number } };
      const consumed = [output.ConsumedCapacity ?? []].flat();
      const units = consumed.reduce((sum, c) => sum + (c.CapacityUnits ?? 0), 0);
      if (command === 'BatchGetItem') {
        meter.reportedRead += units;
        // Heads are a few dozen bytes: one unit each, strongly consistent.
        const keys = Object.values((input['RequestItems'] ?? {}) as Record<string, { Keys: unknown[] }>).reduce((n, r) => n + r.Keys.length, 0);
        meter.estimatedRead += keys;
      } else if (command === 'TransactWriteItems') meter.reportedWrite += units;
      return result;
    },
    { step: 'initialize', name: 'benchMeter' },
  );
  return { db: DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } }), meter, destroy: () => client.destroy() };
}

/** DynamoDB's item size, roughly: attribute names plus values (strings in UTF-8, numbers about half their digits, 3 bytes a map). */
function itemBytes(value: unknown): number {
  if (typeof value === 'string') return Buffer.byteLength(value);
  if (typeof value === 'number') return Math.ceil(String(value).replace(/[-.]/g, '').length / 2) + 1;
  if (typeof value === 'boolean' || value === null) return 1;
  if (Array.isArray(value)) return 3 + value.reduce((n: number, v) => n + 1 + itemBytes(v), 0);
  if (typeof value === 'object') return 3 + Object.entries(value as Record<string, unknown>).reduce((n, [k, v]) => n + 1 + Buffer.byteLength(k) + itemBytes(v), 0);
  return 0;
}

/** A transaction's write units: 2 per item per KB, the item as written (an Update's: its key and the values it sets). */
function transactionWriteUnits(input: Record<string, unknown>): number {
  const writes = (input['TransactItems'] ?? []) as { Put?: { Item: object }; Update?: { Key: object; ExpressionAttributeValues?: Record<string, unknown> } }[];
  return writes.reduce((units, write) => {
    const item = write.Put?.Item ?? { ...write.Update?.Key, ...write.Update?.ExpressionAttributeValues };
    return units + 2 * Math.max(1, Math.ceil((itemBytes(item) - 3) / 1024));
  }, 0);
}

/**
 * THE OLD DESIGN, for comparison only (PostLog at bfbbdea^): a post was one
 * transaction of its rows and its claim, with no head read and no head writes.
 */
async function appendWithoutPositions(db: DynamoDBDocumentClient, claims: ClaimStore, entry: Entry, retry: RetryKey, nowMs: number): Promise<void> {
  const { status } = entry;
  const items = [
    statusItem(byIdChannel(status.id), status),
    ...entry.channels.map((channel) => statusItem(channel, status)),
    ...(entry.notifications ?? []).map(({ channel, notification }) => notificationItem(channel, notification)),
  ];
  const puts = items.map((Item) => ({ Put: { TableName: tableNames.Statuses, Item } }));
  await db.send(new TransactWriteCommand({ TransactItems: [claims.claimWrite(retry, status, nowMs), ...puts] }));
}

/** A post as shared/domain/post.ts makes it: a plain one, or a reply to `root` with a notification to its author. */
function anEntry(author: string, root?: Status): Entry {
  const status: Status = { id: newId(), author, text: TEXT, createdAt: new Date().toISOString(), ...(root ? { replyTo: root.id, thread: root.id } : {}) };
  if (!root) return { status, channels: [userChannel(author)] };
  const notification = { id: status.id, kind: 'reply', from: author, status, at: status.createdAt } as const;
  return { status, channels: [userChannel(author), threadChannel(root.id)], notifications: [{ channel: inboxChannel(root.author), notification }] };
}

const percentile = (values: readonly number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
};
const median = (values: readonly number[]) => percentile(values, 50);
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

interface PerPost {
  readonly design: 'old' | 'positions';
  readonly kind: 'plain' | 'reply';
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly callsPerPost: number;
  readonly attemptsPerPost: number;
  readonly writeUnitsPerPost: number;
  readonly readUnitsPerPost: number;
  /**
   * What DynamoDB Local reports (ReturnConsumedCapacity TOTAL), in the JSON only: it does not follow
   * DynamoDB's rule (8 write units for a transaction of 3 items and for one of 5), so the units above
   * are counted from the items.
   */
  readonly reportedWriteUnitsPerPost: number;
  readonly reportedReadUnitsPerPost: number;
}

let serial = 0;

async function perPost(client: Metered, log: PostLog, claims: ClaimStore, design: PerPost['design'], kind: PerPost['kind']): Promise<PerPost> {
  const run = ++serial;
  const root: Status = { id: newId(), author: `root-${run}`, text: TEXT, createdAt: new Date().toISOString() };
  // 20 authors take turns, so their channels' heads exist after the first round, as on a live service.
  const entries = Array.from({ length: POSTS }, (_, i) => anEntry(`author-${run}-${i % 20}`, kind === 'reply' ? root : undefined));
  const before = client.meter.snapshot();
  const latencies: number[] = [];
  for (const [i, entry] of entries.entries()) {
    const retry = { userId: entry.status.author, requestId: `r${i}` };
    const started = performance.now();
    if (design === 'old') await appendWithoutPositions(client.db, claims, entry, retry, Date.now());
    else await log.append(entry, retry);
    latencies.push(performance.now() - started);
  }
  const after = client.meter;
  const callsOf = (command: string) => after.count(command) - (before.calls.get(command) ?? 0);
  return {
    design,
    kind,
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(percentile(latencies, 99)),
    callsPerPost: round((after.total() - [...before.calls.values()].reduce((a, b) => a + b, 0)) / POSTS, 2),
    attemptsPerPost: round(callsOf('TransactWriteItems') / POSTS, 2),
    writeUnitsPerPost: round((after.estimatedWrite - before.estimatedWrite) / POSTS, 2),
    readUnitsPerPost: round((after.estimatedRead - before.estimatedRead) / POSTS, 2),
    reportedWriteUnitsPerPost: round((after.reportedWrite - before.reportedWrite) / POSTS, 2),
    reportedReadUnitsPerPost: round((after.reportedRead - before.reportedRead) / POSTS, 2),
  };
}

interface Contention {
  readonly backoff: string;
  readonly repliers: number;
  readonly committed: number;
  /** Posts that gave up after MAX_ATTEMPTS. */
  readonly failed: number;
  readonly allCommittedMs: number;
  readonly latencyP50Ms: number;
  readonly latencyP90Ms: number;
  readonly latencyMaxMs: number;
  readonly attemptsP50: number;
  readonly attemptsMax: number;
  readonly transactions: number;
  readonly headReads: number;
  /** The thread's rows, in id order, hold positions 1..committed. */
  readonly denseInIdOrder: boolean;
}

async function contention(endpoint: string, reader: DynamoDBDocumentClient, backoff: string): Promise<Contention> {
  const run = ++serial;
  const root: Status = { id: newId(), author: `busy-root-${run}`, text: TEXT, createdAt: new Date().toISOString() };
  const repliers = Array.from({ length: CONCURRENCY }, (_, i) => {
    const client = metered(endpoint);
    const log = new PostLog(client.db, tableNames.Statuses, new ClaimStore(client.db, tableNames.Connections), BACKOFFS[backoff]);
    return { client, log, entry: anEntry(`busy-${run}-${i}`, root) };
  });
  try {
    // Each client's first request opens its connection: do that before the race, as warm Lambdas would have.
    await Promise.all(repliers.map(({ client }) => client.db.send(new QueryCommand({ TableName: tableNames.Statuses, KeyConditionExpression: 'channel = :c', ExpressionAttributeValues: { ':c': 'warm-up' }, Limit: 1 }))));
    const warm = repliers.map(({ client }) => client.meter.snapshot());
    const started = performance.now();
    const latencies: number[] = [];
    const results = await Promise.allSettled(
      repliers.map(async ({ log, entry }, i) => {
        await log.append(entry, { userId: entry.status.author, requestId: `r${i}` });
        latencies.push(performance.now() - started);
      }),
    );
    const allCommittedMs = performance.now() - started;
    const attempts = repliers.map(({ client }, i) => client.meter.count('TransactWriteItems') - (warm[i]?.calls.get('TransactWriteItems') ?? 0));
    const rows = await channelRows(reader, threadChannel(root.id));
    const committed = results.filter((result) => result.status === 'fulfilled').length;
    return {
      backoff,
      repliers: CONCURRENCY,
      committed,
      failed: CONCURRENCY - committed,
      allCommittedMs: Math.round(allCommittedMs),
      latencyP50Ms: Math.round(percentile(latencies, 50)),
      latencyP90Ms: Math.round(percentile(latencies, 90)),
      latencyMaxMs: Math.round(Math.max(...latencies)),
      attemptsP50: percentile(attempts, 50),
      attemptsMax: Math.max(...attempts),
      transactions: attempts.reduce((a, b) => a + b, 0),
      headReads: repliers.reduce((n, { client }, i) => n + client.meter.count('BatchGetItem') - (warm[i]?.calls.get('BatchGetItem') ?? 0), 0),
      denseInIdOrder: rows.length === committed && rows.every((row, i) => row['pos'] === i + 1),
    };
  } finally {
    for (const { client } of repliers) client.destroy();
  }
}

/** Every row of a channel, in id order. */
async function channelRows(db: DynamoDBDocumentClient, channel: string): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  let start: QueryCommandOutput['LastEvaluatedKey'];
  do {
    const page: QueryCommandOutput = await db.send(
      new QueryCommand({ TableName: tableNames.Statuses, KeyConditionExpression: 'channel = :c', ExpressionAttributeValues: { ':c': channel }, ConsistentRead: true, ExclusiveStartKey: start }),
    );
    rows.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  return rows;
}

/** The median of each numeric field over runs (booleans: whether all runs held). */
function medians<T extends object>(runs: readonly T[]): T {
  const first = runs[0] as Record<string, unknown>;
  return Object.fromEntries(
    Object.entries(first).map(([key, value]) => {
      const all = runs.map((run) => (run as Record<string, unknown>)[key]);
      if (typeof value === 'number') return [key, median(all as number[])];
      if (typeof value === 'boolean') return [key, all.every(Boolean)];
      return [key, value];
    }),
  ) as T;
}

async function main(): Promise<void> {
  const load = { start: loadavg().map((n) => round(n, 2)), end: [] as number[] };
  const database = await startStoreDatabase();
  const client = metered(database.endpoint);
  try {
    const claims = new ClaimStore(client.db, tableNames.Connections);
    const log = new PostLog(client.db, tableNames.Statuses, claims);
    const perPostRuns: PerPost[] = [];
    const contentionRuns: Contention[] = [];
    // One warm-up of each (not counted): the JVM compiles DynamoDB Local's hot paths.
    for (const design of ['old', 'positions'] as const) await perPost(client, log, claims, design, 'reply');
    await contention(database.endpoint, client.db, 'full-200');
    for (let run = 0; run < RUNS; run++) {
      // Alternate which design goes first, so neither always meets a warmer or a busier machine.
      const designs = run % 2 === 0 ? (['old', 'positions'] as const) : (['positions', 'old'] as const);
      for (const design of designs) for (const kind of ['plain', 'reply'] as const) perPostRuns.push(await perPost(client, log, claims, design, kind));
      for (const backoff of run % 2 === 0 ? backoffNames : [...backoffNames].reverse()) contentionRuns.push(await contention(database.endpoint, client.db, backoff));
      if (!args.json) console.error(`run ${run + 1} of ${RUNS} done`);
    }
    load.end = loadavg().map((n) => round(n, 2));
    const cpu = cpus();
    const machine = `${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, DynamoDB Local`;
    const perPostSummary = (['old', 'positions'] as const).flatMap((design) =>
      (['plain', 'reply'] as const).map((kind) => medians(perPostRuns.filter((r) => r.design === design && r.kind === kind))),
    );
    const contentionSummary = backoffNames.map((backoff) => medians(contentionRuns.filter((r) => r.backoff === backoff)));
    if (args.json) {
      console.log(JSON.stringify({ machine, load, posts: POSTS, runs: RUNS, perPost: perPostSummary, contention: contentionSummary, perPostRuns, contentionRuns }));
      return;
    }
    console.log(`Updraft commit cost: ${machine}`);
    console.log(`load average (1, 5, 15 min): ${load.start.join(', ')} at the start, ${load.end.join(', ')} at the end; medians of ${RUNS} runs`);
    console.log(`\nper post, one at a time (${POSTS} posts; a reply writes its author's channel, the thread and an inbox; each with a claim):`);
    console.log('design     kind   p50 ms  p99 ms  calls  attempts  write units  read units');
    for (const r of perPostSummary) {
      console.log(
        `${r.design.padEnd(10)} ${r.kind.padEnd(6)} ${String(r.p50Ms).padStart(6)} ${String(r.p99Ms).padStart(7)} ${String(r.callsPerPost).padStart(6)} ${String(r.attemptsPerPost).padStart(9)} ${String(r.writeUnitsPerPost).padStart(12)} ${String(r.readUnitsPerPost).padStart(11)}`,
      );
    }
    console.log(`\ncontention: ${CONCURRENCY} repliers in one thread at once, by backoff rule:`);
    console.log('backoff        all committed ms  latency p50/p90/max ms  attempts p50/max  transactions  head reads  failed  dense, in id order');
    for (const r of contentionSummary) {
      console.log(
        `${r.backoff.padEnd(14)} ${String(r.allCommittedMs).padStart(16)}  ${`${r.latencyP50Ms}/${r.latencyP90Ms}/${r.latencyMaxMs}`.padStart(22)}  ${`${r.attemptsP50}/${r.attemptsMax}`.padStart(16)}  ${String(r.transactions).padStart(12)}  ${String(r.headReads).padStart(10)}  ${String(r.failed).padStart(6)}  ${r.denseInIdOrder ? 'yes' : 'NO'}`,
      );
    }
  } finally {
    client.destroy();
    await database.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
