/**
 * Benchmark: post-to-delivery latency on the local stack with 200 live
 * subscribers. Prints figures; asserts nothing. Run with `npm run bench:local`.
 *
 * Latency is measured per delivery: from the moment the author's client sends
 * `post` to the moment a subscriber's client receives the `status` frame.
 *
 * Posts take turns among several authors, each within the default post rate
 * limit (bursts of 10, then 1 per second): one author posting 100 times in a
 * row would be refused with `rate_limited`, which is the limit working, not
 * latency.
 */
import { cpus, totalmem } from 'node:os';
import * as path from 'node:path';
import pLimit from 'p-limit';
import { synthIfStale } from '../../local/synth';
import { LocalStack, TEST_ASSEMBLY } from '../support/local-stack';
import type { TestClient } from '../support/ws-client';

const SUBSCRIBERS = Number(process.env['BENCH_SUBSCRIBERS'] ?? 200);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 5);
const POSTS_PER_ROUND = Number(process.env['BENCH_POSTS'] ?? 20);
const WARMUP_POSTS = 5;
const AUTHORS = 10;

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
const median = (values: number[]) => percentile([...values].sort((a, b) => a - b), 50);
const fmt = (ms: number) => `${ms.toFixed(1)} ms`;

async function postAndMeasure(author: TestClient, subscribers: TestClient[], text: string): Promise<{ deliveries: number[]; posted: number }> {
  const sent = performance.now();
  const reply = author.request({ action: 'post', text });
  const arrivals = subscribers.map((client) =>
    client.next((f) => f.type === 'status' && (f['status'] as { text: string }).text === text, 15_000).then(() => performance.now() - sent),
  );
  const posted = await reply.then((frame) => {
    // A refused post (rate_limited above all) would never arrive: say so rather than time out.
    if (frame.type !== 'posted') throw new Error(`post refused: ${JSON.stringify(frame)}`);
    return performance.now() - sent;
  });
  const deliveries = await Promise.all(arrivals);
  for (const client of subscribers) client.frames.length = 0;
  return { deliveries, posted };
}

async function main(): Promise<void> {
  const root = path.resolve(__dirname, '..', '..');
  synthIfStale(root, TEST_ASSEMBLY, console.log);
  const stack = await LocalStack.start();
  const clients: TestClient[] = [];
  try {
    const open = pLimit(20);
    const subscribers = await Promise.all(
      Array.from({ length: SUBSCRIBERS }, (_, i) =>
        open(async () => {
          const client = await stack.connect(`sub${i}`);
          await client.request({ action: 'subscribe', channels: Array.from({ length: AUTHORS }, (_, a) => `user:author${a}`) });
          return client;
        }),
      ),
    );
    clients.push(...subscribers);
    const authors = await Promise.all(Array.from({ length: AUTHORS }, (_, a) => stack.connect(`author${a}`)));
    clients.push(...authors);
    let turn = 0;
    const author = () => {
      const next = authors[turn++ % AUTHORS];
      if (!next) throw new Error('no authors connected');
      return next;
    };

    for (let i = 0; i < WARMUP_POSTS; i++) await postAndMeasure(author(), subscribers, `warm-up ${i}`);

    const rounds: { p50: number; p90: number; p99: number; max: number; posted: number }[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const all: number[] = [];
      const posted: number[] = [];
      for (let i = 0; i < POSTS_PER_ROUND; i++) {
        const result = await postAndMeasure(author(), subscribers, `round ${round} post ${i}`);
        all.push(...result.deliveries);
        posted.push(result.posted);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      all.sort((a, b) => a - b);
      rounds.push({ p50: percentile(all, 50), p90: percentile(all, 90), p99: percentile(all, 99), max: all.at(-1) ?? NaN, posted: median(posted) });
    }

    const cpu = cpus();
    console.log(`\nUpdraft local stack, post-to-delivery latency`);
    console.log(`machine: ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`);
    console.log(`${SUBSCRIBERS} subscribers, ${ROUNDS} rounds of ${POSTS_PER_ROUND} posts by ${AUTHORS} authors in turn (${WARMUP_POSTS} warm-up posts not counted)\n`);
    console.log('round   p50        p90        p99        max        posted (median)');
    rounds.forEach((r, i) => console.log(`${String(i + 1).padEnd(7)} ${fmt(r.p50).padEnd(10)} ${fmt(r.p90).padEnd(10)} ${fmt(r.p99).padEnd(10)} ${fmt(r.max).padEnd(10)} ${fmt(r.posted)}`));
    console.log(
      `\nmedian of rounds: p50 ${fmt(median(rounds.map((r) => r.p50)))}, p90 ${fmt(median(rounds.map((r) => r.p90)))}, p99 ${fmt(median(rounds.map((r) => r.p99)))}, posted ${fmt(median(rounds.map((r) => r.posted)))}`,
    );
    console.log('targets: p50 ≤ 150 ms, p99 ≤ 500 ms');
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await stack.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
