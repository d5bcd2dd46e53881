/**
 * Benchmark: one channel with N live subscribers on the local stack, K posts to
 * it, and the time from sending each `post` to the last subscriber receiving it.
 * Prints figures (and JSON with --json); asserts nothing.
 *
 *   npm run bench:fanout -- --subscribers 5000 --posts 3 [--json] [--profile]
 *
 * --profile runs the stack under `node --cpu-prof` and prints, for the posts
 * (after the warm-up), the CPU each thread of the stack spent and where, and
 * this process's own CPU (its WebSocket clients).
 *
 * The stack is `npm start` on ports of its own (as the tests run it). The
 * subscribers are plain WebSocket clients in this process, each a user of its
 * own, subscribed to `user:<author>`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import pLimit from 'p-limit';
import WebSocket from 'ws';
import { synthIfStale } from '../../local/synth';
import { loadApp } from '../../local/template';
import { LocalStack, TEST_ASSEMBLY } from '../support/local-stack';
import { monotonicMicros, profileWindow } from './profile';

const { values: args } = parseArgs({
  options: {
    subscribers: { type: 'string', default: '1000' },
    posts: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
  },
});
const SUBSCRIBERS = Number(args.subscribers);
const POSTS = Number(args.posts);
const AUTHOR = 'fanout-author';
const CHANNEL = `user:${AUTHOR}`;

/** A subscriber: notes when each status (by text) reached it, and nothing more, to keep the client's own cost low. */
interface Subscriber {
  readonly socket: WebSocket;
  readonly arrivals: Map<string, number>;
}

async function subscribe(stack: LocalStack, user: string, onArrival: () => void): Promise<Subscriber> {
  const socket = new WebSocket(`${stack.wsUrl}?token=${await stack.token(user)}`);
  const arrivals = new Map<string, number>();
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  const subscribed = new Promise<void>((resolve, reject) => {
    socket.on('message', (data: Buffer) => {
      const at = performance.now();
      const frame = JSON.parse(data.toString()) as { type?: string; status?: { text?: string }; code?: string };
      if (frame.type === 'subscribed') resolve();
      else if (frame.type === 'error') reject(new Error(`subscribe refused: ${frame.code ?? ''}`));
      else if (frame.type === 'status' && frame.status?.text !== undefined && !arrivals.has(frame.status.text)) {
        arrivals.set(frame.status.text, at);
        onArrival();
      }
    });
  });
  socket.send(JSON.stringify({ action: 'subscribe', channels: [CHANNEL], id: 'sub' }));
  await subscribed;
  return { socket, arrivals };
}

const percentile = (sorted: readonly number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
const median = (values: readonly number[]) => percentile([...values].sort((a, b) => a - b), 50);

async function main(): Promise<void> {
  synthIfStale(path.resolve(__dirname, '..', '..'), TEST_ASSEMBLY, (line) => console.error(line));
  const profileDir = args.profile ? mkdtempSync(path.join(tmpdir(), 'updraft-bench-profile-')) : undefined;
  const stack = await LocalStack.start(profileDir ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] } : {});
  const subscribers: Subscriber[] = [];
  const window = { startUs: 0, endUs: 0, clientCpuMs: 0 };
  let clientCpu = process.cpuUsage();
  try {
    let arrived = 0;
    let waiting: { target: number; resolve: () => void } | undefined;
    const onArrival = () => {
      arrived++;
      if (waiting && arrived >= waiting.target) waiting.resolve();
    };
    const connectStarted = performance.now();
    const open = pLimit(32);
    subscribers.push(...(await Promise.all(Array.from({ length: SUBSCRIBERS }, (_, i) => open(() => subscribe(stack, `fanout-sub-${i}`, onArrival))))));
    const handshakesPerSecond = SUBSCRIBERS / ((performance.now() - connectStarted) / 1000);
    const author = await stack.connect(AUTHOR);

    const posts: { first: number; p50: number; last: number; posted: number }[] = [];
    // One warm-up post (not counted): containers and sockets are warm from then on.
    for (let k = -1; k < POSTS; k++) {
      const text = `fan-out ${k}`;
      const target = arrived + SUBSCRIBERS;
      const everyone = new Promise<void>((resolve) => (waiting = { target, resolve }));
      if (k === 0) {
        window.startUs = monotonicMicros();
        clientCpu = process.cpuUsage();
      }
      const sent = performance.now();
      const reply = await author.request({ action: 'post', text });
      if (reply.type !== 'posted') throw new Error(`post refused: ${JSON.stringify(reply)}`);
      const posted = performance.now() - sent;
      await Promise.race([everyone, new Promise((_, reject) => setTimeout(() => reject(new Error(`${target - arrived} deliveries missing after 120 s`)), 120_000).unref())]);
      const latencies = subscribers.map((s) => (s.arrivals.get(text) ?? NaN) - sent).sort((a, b) => a - b);
      if (k >= 0) posts.push({ first: latencies[0] ?? NaN, p50: percentile(latencies, 50), last: latencies.at(-1) ?? NaN, posted });
      await new Promise((resolve) => setTimeout(resolve, 200));
    }

    window.endUs = monotonicMicros();
    const { user, system } = process.cpuUsage(clientCpu);
    window.clientCpuMs = (user + system) / 1000;
    const cpu = cpus();
    const machine = `${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
    const summary = {
      subscribers: SUBSCRIBERS,
      posts: POSTS,
      medianLastDeliveryMs: Math.round(median(posts.map((p) => p.last))),
      medianP50Ms: Math.round(median(posts.map((p) => p.p50))),
      medianPostedMs: Math.round(median(posts.map((p) => p.posted))),
      handshakesPerSecond: Math.round(handshakesPerSecond),
    };
    if (args.json) {
      console.log(JSON.stringify({ machine, summary, posts }));
      return;
    }
    console.log(`Updraft local stack, fan-out to one channel: ${machine}`);
    console.log(`${SUBSCRIBERS} subscribers (connected at ${summary.handshakesPerSecond}/s), ${POSTS} posts after one warm-up`);
    posts.forEach((p, i) => console.log(`post ${i + 1}: first ${p.first.toFixed(0)} ms, p50 ${p.p50.toFixed(0)} ms, last ${p.last.toFixed(0)} ms (posted after ${p.posted.toFixed(0)} ms)`));
    console.log(`median: last delivery ${summary.medianLastDeliveryMs} ms, p50 ${summary.medianP50Ms} ms`);
  } catch (error) {
    console.error(`the stack's last lines:\n${stack.output.split('\n').slice(-15).join('\n')}`);
    throw error;
  } finally {
    for (const s of subscribers) s.socket.terminate();
    await stack.stop();
  }
  if (profileDir) {
    printProfile(profileDir, window);
    rmSync(profileDir, { recursive: true, force: true });
  }
}

/** The stack's threads, busiest first, named by the function whose bundle they run (the main thread: gateway, streams, queues). */
function printProfile(dir: string, window: { startUs: number; endUs: number; clientCpuMs: number }): void {
  const bundles = new Map([...loadApp(TEST_ASSEMBLY).functions.values()].map((fn) => [`bundle ${path.basename(fn.bundleDir).slice(0, 14)}`, fn.logicalId]));
  const name = (place: string) => bundles.get(place) ?? place;
  const deliveries = SUBSCRIBERS * POSTS;
  console.log(`CPU during the ${POSTS} posts (${((window.endUs - window.startUs) / 1000).toFixed(0)} ms, ${deliveries} deliveries):`);
  console.log(`  bench client (${SUBSCRIBERS} WebSocket clients): ${window.clientCpuMs.toFixed(0)} ms, ${((window.clientCpuMs * 1000) / deliveries).toFixed(0)} µs per delivery`);
  for (const thread of profileWindow(dir, window.startUs, window.endUs)) {
    const main = /\.\d+\.0\.\d+\.cpuprofile$/.test(thread.file);
    const fn = thread.top.map(([place]) => bundles.get(place)).find((id) => id !== undefined);
    const label = main ? 'stack main thread' : `function ${fn ?? '(unknown)'}`;
    const where = thread.top.map(([place, ms]) => `${name(place)} ${ms.toFixed(0)}`).join(', ');
    console.log(`  ${label}: ${thread.busyMs.toFixed(0)} ms, ${((thread.busyMs * 1000) / deliveries).toFixed(0)} µs per delivery (${where})`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
