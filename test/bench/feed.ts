/**
 * Benchmark: the first screen of a home feed on the local stack, for a user who follows N people
 * (default 1,000, the limit) who have all posted, two ways in the same run:
 * - `feed`: one request for the first page (and, for comparison, a later page);
 * - the old way, as the browser app filled its feed before `feed`: `following`, then `history`
 *   of each person followed and of the user (20 items each, 4 requests in flight).
 * Prints figures (JSON with --json); asserts nothing. Run with `npm run bench:feed`.
 *
 *   npm run bench:feed -- [--follows 1000] [--per-author 2] [--runs 9] [--old-runs 3] [--limit 20] [--json]
 */
import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import pLimit from 'p-limit';
import { cpus, loadavg } from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { synthIfStale } from '../../local/synth';
import { newId } from '../../shared/ids';
import { userChannel } from '../../shared/protocol';
import { ClaimStore } from '../../shared/store/claims';
import { PostLog } from '../../shared/store/posts';
import { LocalStack, TEST_ASSEMBLY } from '../support/local-stack';
import type { TestClient } from '../support/ws-client';

const { values: args } = parseArgs({
  options: {
    follows: { type: 'string', default: '1000' },
    'per-author': { type: 'string', default: '2' },
    runs: { type: 'string', default: '9' },
    'old-runs': { type: 'string', default: '3' },
    limit: { type: 'string', default: '20' },
    json: { type: 'boolean', default: false },
  },
});
const FOLLOWS = Number(args.follows);
const PER_AUTHOR = Number(args['per-author']);
const RUNS = Number(args.runs);
const OLD_RUNS = Number(args['old-runs']);
const LIMIT = Number(args.limit);
/** The old browser app's first fill: 20 statuses a person, 4 requests at a time. */
const OLD_FILL = { perUser: 20, inFlight: 4 };
const TARGET_P50_MS = 300;
const READER = 'bench-reader';

const log = (line: string) => {
  if (!args.json) console.log(line);
};

/** Follow rows written straight to the table, and statuses written as a post writes them (rows and heads in one transaction). */
async function seed(stack: LocalStack, authors: readonly string[]): Promise<void> {
  const db = stack.documentClient();
  const follows = stack.tableName('Follows');
  for (let i = 0; i < authors.length; i += 25) {
    const rows = authors.slice(i, i + 25).map((followed) => ({ PutRequest: { Item: { follower: READER, followed } } }));
    await db.send(new BatchWriteCommand({ RequestItems: { [follows]: rows } }));
  }
  const postLog = new PostLog(db, stack.tableName('Statuses'), new ClaimStore(db, stack.tableName('Connections')));
  const inFlight = pLimit(25);
  // Round by round, so every author's statuses spread over the whole time.
  const order = Array.from({ length: PER_AUTHOR }, () => [...authors, READER]).flat();
  await Promise.all(
    order.map((author) =>
      inFlight(() => postLog.append({ status: { id: newId(), author, text: `a status from ${author} about the weather`, createdAt: new Date().toISOString() }, channels: [userChannel(author)] })),
    ),
  );
}

async function timed(run: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await run();
  return performance.now() - started;
}

function expectType(frame: Record<string, unknown>, type: string): Record<string, unknown> {
  if (frame['type'] !== type) throw new Error(`expected ${type}, got ${JSON.stringify(frame).slice(0, 200)}`);
  return frame;
}

/** The old fill: whom the user follows, then each of their channels' newest page. Returns the statuses it brought. */
async function oldFill(client: TestClient): Promise<number> {
  const users = expectType(await client.request({ action: 'following' }), 'following')['users'] as string[];
  const inFlight = pLimit(OLD_FILL.inFlight);
  const pages = await Promise.all(
    [READER, ...users].map((user) => inFlight(async () => expectType(await client.request({ action: 'history', channel: userChannel(user), limit: OLD_FILL.perUser }), 'history'))),
  );
  return pages.reduce((sum, page) => sum + (page['items'] as unknown[]).length, 0);
}

const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? NaN;
};
const percentile = (values: readonly number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
};
const ms = (value: number) => `${value.toFixed(0)} ms`;

async function main(): Promise<void> {
  synthIfStale(path.resolve(__dirname, '..', '..'), TEST_ASSEMBLY, (line) => log(line));
  // The old fill makes 1,000 requests a run: more than the action budget's burst (1,250 units) allows twice in a minute.
  const stack = await LocalStack.start({ env: { UPDRAFT_FUNCTION_ENV: 'ACTION_RATE_BURST=1000000,ACTION_RATE_PER_SECOND=1000000' } });
  try {
    const authors = Array.from({ length: FOLLOWS }, (_, i) => `bench-author${String(i).padStart(4, '0')}`);
    const seeding = await timed(() => seed(stack, authors));
    log(`seeded ${FOLLOWS} follows and ${(FOLLOWS + 1) * PER_AUTHOR} statuses in ${(seeding / 1000).toFixed(1)} s`);
    const client = await stack.connect(READER);

    // Warm-up: each function's container loads once before anything is timed.
    const warm = expectType(await client.request({ action: 'feed', limit: LIMIT }), 'feed');
    expectType(await client.request({ action: 'feed', limit: LIMIT, before: warm['next'] }), 'feed');
    await oldFill(client);

    const first: number[] = [];
    const later: number[] = [];
    const old: number[] = [];
    let oldItems = 0;
    let pageItems = 0;
    // Interleaved, so that a slow spell of the machine falls on both ways alike.
    for (let run = 0; run < Math.max(RUNS, OLD_RUNS); run++) {
      if (run < RUNS) {
        let page: Record<string, unknown> = {};
        first.push(await timed(async () => (page = expectType(await client.request({ action: 'feed', limit: LIMIT }), 'feed'))));
        pageItems = (page['items'] as unknown[]).length;
        // The fifth page: later pages also read every author who posted since the cursor.
        let before = page['next'];
        for (let p = 2; p < 5 && before !== undefined; p++) before = expectType(await client.request({ action: 'feed', limit: LIMIT, before }), 'feed')['next'];
        later.push(await timed(async () => expectType(await client.request({ action: 'feed', limit: LIMIT, before }), 'feed')));
      }
      if (run < OLD_RUNS) old.push(await timed(async () => (oldItems = await oldFill(client))));
    }

    const result = {
      machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version, loadAverage: loadavg()[0] },
      follows: FOLLOWS,
      statusesPerAuthor: PER_AUTHOR,
      limit: LIMIT,
      feed: { runs: RUNS, items: pageItems, p50Ms: median(first), p90Ms: percentile(first, 90), fifthPageP50Ms: median(later), requests: 1 },
      oldFill: { runs: OLD_RUNS, items: oldItems, p50Ms: median(old), requests: FOLLOWS + 2 },
      target: { firstPageP50Ms: TARGET_P50_MS, met: median(first) <= TARGET_P50_MS },
    };
    if (args.json) {
      console.log(JSON.stringify(result));
      return;
    }
    log(`\nthe first screen of a home feed, for a user following ${FOLLOWS} people who all posted (${cpus().length} × ${result.machine.cpu}, Node ${process.version})`);
    log(`feed, first page of ${LIMIT} (1 request):   p50 ${ms(result.feed.p50Ms)}, p90 ${ms(result.feed.p90Ms)} over ${RUNS} runs (target ≤ ${TARGET_P50_MS} ms: ${result.target.met ? 'met' : 'missed'})`);
    log(`feed, fifth page:                        p50 ${ms(result.feed.fifthPageP50Ms)}`);
    log(`old fill (following + ${FOLLOWS + 1} history, ${OLD_FILL.inFlight} at a time): p50 ${ms(result.oldFill.p50Ms)} over ${OLD_RUNS} runs, ${oldItems} statuses brought for ${LIMIT} shown`);
    log(`load average at the end: ${loadavg()[0]?.toFixed(2)}`);
  } finally {
    await stack.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
