/**
 * Soak benchmark (issue 13): steady posting and churn under injected faults, for minutes, then
 * each watcher's view of each channel held against the store's. Prints what was posted and handed
 * over, the gaps the clients found and filled, anything lost (the target is 0), what the stack
 * injected, and the memory and handles of the stack's Node process and its DynamoDB Local after
 * the first minute and at the end (and every minute on the way). Asserts nothing.
 *
 *   npm run bench:soak -- --minutes 10 [--clients 30] [--rate 5] [--churn 20] [--faults <spec>|off] [--seed N] [--json]
 *
 * Posters post on their own `user:` channels and repliers answer two threads, at `--rate` posts a
 * second in all. Each of `--clients` watchers (one user each) follows some of those channels with
 * the client library; two of them started the threads and also watch their inboxes, which the
 * replies notify. `--churn` times a minute a watcher is dropped, one of two ways in turn, at
 * random: its socket is cut from under its client (which reconnects and resumes by itself), or
 * its client is closed and a new one subscribes with `since` set to the old one's cursors (an app
 * restarting). A watcher's view (per channel: the ids handed over, in order) spans its clients.
 * At the end posting stops, every client `sync()`s, and each view is compared with the channel as
 * the store holds it (channels are fresh per run, so the whole channel).
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { synthIfStale } from '../../local/synth';
import { mulberry32 } from '../../local/faults';
import { UpdraftClient, type SocketFactory } from '../../shared/client';
import type { ChannelName } from '../../shared/protocol';
import { ChannelViews, difference, readChannel, type Difference } from '../support/channel-views';
import { LocalStack, TEST_ASSEMBLY } from '../support/local-stack';

/** Every fault at once, at rates a stack meets on a bad day rather than the chaos test's storm. */
const DEFAULT_FAULTS = [
  'postToConnection:500=0.05',
  'postToConnection:429=0.02',
  'postToConnection:latency=5-50ms',
  'postToConnection:lost=0.01',
  'fanout:crash=0.01',
  'stream:duplicate=0.02',
  'stream:reorder=0.02',
].join(',');

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    clients: { type: 'string', default: '30' },
    rate: { type: 'string', default: '5' },
    churn: { type: 'string', default: '20' },
    faults: { type: 'string', default: DEFAULT_FAULTS },
    seed: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const MINUTES = Number(args.minutes);
const CLIENTS = Number(args.clients);
const RATE = Number(args.rate);
const CHURN = Number(args.churn);
const FAULTS = args.faults === 'off' ? undefined : args.faults;
const SEED = args.seed === undefined ? Math.floor(Math.random() * 2 ** 32) : Number(args.seed);
for (const [name, value, min] of [['minutes', MINUTES, 0.1], ['clients', CLIENTS, 2], ['rate', RATE, 0.1], ['churn', CHURN, 0]] as const) {
  if (!Number.isFinite(value) || value < min) throw new Error(`--${name} must be a number of at least ${min}`);
}
if (!Number.isInteger(SEED) || SEED < 0 || SEED >= 2 ** 32) throw new Error('--seed must be an integer from 0 to 4294967295');

const POSTERS = 3;
const REPLIERS = 3;
const THREADS = 2;
/** Posts waiting for `posted` at once, at most: past it the stack is not keeping up, and a tick is skipped (and counted). */
const MAX_IN_FLIGHT = 100;
/** How long the final sync() of every client may take before the run says so. */
const SYNC_TIMEOUT_MS = 120_000;

/** The memory and handles of one process, from /proc. */
interface ProcessStats {
  readonly rssMb: number;
  readonly fds: number;
  readonly threads: number;
}

interface Sample {
  readonly minute: number;
  readonly posted: number;
  readonly delivered: number;
  readonly gaps: number;
  readonly filled: number;
  readonly lost: number;
  readonly stack: ProcessStats | undefined;
  readonly dynamodb: ProcessStats | undefined;
}

function processStats(pid: number | undefined): ProcessStats | undefined {
  if (pid === undefined) return undefined;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1]);
    return { rssMb: Math.round(field('VmRSS') / 1024), fds: readdirSync(`/proc/${pid}/fd`).length, threads: field('Threads') };
  } catch {
    return undefined; // gone, or no /proc (not Linux)
  }
}

const describeStats = (stats: ProcessStats | undefined) => (stats ? `RSS ${stats.rssMb} MB, ${stats.fds} fds, ${stats.threads} threads` : 'n/a');


/** A WebSocket class that remembers its last socket, so the bench can cut it from under the client as a network would. */
function cuttableSocket(): { Socket: SocketFactory; cut: () => boolean } {
  let last: WebSocket | undefined;
  const remember = (socket: WebSocket) => (last = socket);
  class Socket extends WebSocket {
    constructor(url: string) {
      super(url);
      remember(this);
    }
  }
  return {
    Socket: Socket as unknown as SocketFactory,
    // terminate(): no close frame, the client sees 1006, the server a dropped TCP connection.
    cut: () => {
      if (last?.readyState !== WebSocket.OPEN) return false;
      last.terminate();
      return true;
    },
  };
}

/** One watcher: a user whose clients, one after another, keep one view of its channels. */
interface Slot {
  readonly user: string;
  readonly channels: ChannelName[];
  readonly inbox?: ChannelName;
  client: UpdraftClient;
  cut: () => boolean;
  /** Being replaced by a new client: not dropped again meanwhile. */
  busy: boolean;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  synthIfStale(path.resolve(__dirname, '..', '..'), TEST_ASSEMBLY, (line) => console.error(line));
  const progress = args.json ? console.error : console.log;
  // On disk, as a deployment's table is: DynamoDB Local's memory then says something about the stack, not about the data.
  const dataDir = mkdtempSync(path.join(tmpdir(), 'updraft-soak-'));
  const env: Record<string, string> = {
    // The posters post faster than a person may; the post budget has tests of its own.
    UPDRAFT_FUNCTION_ENV: 'POST_RATE_BURST=1000,POST_RATE_PER_SECOND=1000',
    ...(FAULTS === undefined ? {} : { UPDRAFT_FAULTS: FAULTS, UPDRAFT_FAULTS_SEED: String(SEED) }),
  };
  const launched = performance.now();
  const stack = await LocalStack.start({ dataDir, env });
  const clients = new Set<UpdraftClient>();
  let stopping: Promise<void> | undefined;
  /** Once, whoever asks first (the end of the run, an error, Ctrl-C); the others wait for the same. */
  const stop = () =>
    (stopping ??= (async () => {
      for (const client of clients) client.close();
      await stack.stop();
      rmSync(dataDir, { recursive: true, force: true });
    })());
  const interrupted = (signal: NodeJS.Signals) => {
    progress(`${signal}: stopping the stack and every client`);
    void stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);

  try {
    // As the fault injector draws: a seed repeats which watchers drop and how.
    const random = mulberry32(SEED);
    const tag = Date.now().toString(36);
    const views = new ChannelViews();
    let clientErrors = 0;
    const errorSamples: string[] = [];
    /** A client of the library for `user`, counted in `clients` (closed at the end), its errors counted. */
    const newClient = (user: string, Socket: SocketFactory = WebSocket as unknown as SocketFactory) => {
      const client = new UpdraftClient({
        url: stack.wsUrl,
        token: () => stack.token(user),
        WebSocket: Socket,
        backoff: { initialMs: 100, maxMs: 1_000 },
        requestTimeoutMs: 60_000,
      });
      clients.add(client);
      client.events.on('error', (error) => {
        clientErrors++;
        if (errorSamples.length < 5) errorSamples.push(`${user}: ${error.message}`);
      });
      return client;
    };
    const open = async (user: string, Socket?: SocketFactory) => {
      const client = newClient(user, Socket);
      await client.connect();
      return client;
    };

    // Who posts, and where.
    const posters = await Promise.all(Array.from({ length: POSTERS }, (_, i) => open(`${tag}-poster${i}`)));
    const repliers = await Promise.all(Array.from({ length: REPLIERS }, (_, i) => open(`${tag}-replier${i}`)));
    const userChannel = (i: number): ChannelName => `user:${tag}-poster${i % POSTERS}`;

    // The watchers. The first THREADS start a thread each and watch it and their inbox; the rest watch posters and threads.
    const slots: Slot[] = [];
    const threads: ChannelName[] = [];
    const watch = async (user: string, channels: (inbox: ChannelName) => ChannelName[], isAuthor: boolean) => {
      const { Socket, cut } = cuttableSocket();
      const client = await open(user, Socket);
      const inbox: ChannelName = `inbox:${user}`;
      const slot: Slot = { user, channels: channels(inbox), ...(isAuthor ? { inbox } : {}), client, cut, busy: false };
      views.watch(user, client, slot.inbox);
      return slot;
    };
    for (let i = 0; i < THREADS; i++) {
      const slot = await watch(`${tag}-w${i}`, (inbox) => [inbox], true);
      const root = await slot.client.post(`thread ${i}`);
      threads.push(`thread:${root.id}`);
      slot.channels.push(`thread:${root.id}`);
      slots.push(slot);
    }
    for (let i = THREADS; i < CLIENTS; i++) {
      const thread = threads[i % THREADS] ?? '';
      const mix = i % 3;
      slots.push(await watch(`${tag}-w${i}`, () => (mix === 0 ? [userChannel(i)] : mix === 1 ? [userChannel(i), thread] : [thread, userChannel(i)]), false));
    }
    await Promise.all(slots.map((slot) => slot.client.subscribe(slot.channels)));

    // Steady posting: a tick every 1/RATE s, round the posters' channels and then one reply into each thread.
    const posting = { acknowledged: 0, failed: 0, skipped: 0 };
    const failures: string[] = [];
    const inFlight = new Set<Promise<void>>();
    let on = true;
    /** Read through a function: the loops must see the end, which comes while they wait. */
    const running = () => on;
    const postLoop = (async () => {
      const started = performance.now();
      for (let n = 0; running(); n++) {
        await sleep(started + (n * 1000) / RATE - performance.now());
        if (!running()) break;
        if (inFlight.size >= MAX_IN_FLIGHT) {
          posting.skipped++;
          continue;
        }
        const turn = n % (POSTERS + THREADS);
        const poster = posters[turn];
        const thread = threads[turn - POSTERS];
        const replier = repliers[n % REPLIERS];
        const request = poster ? poster.post(`soak ${n}`) : thread && replier ? replier.post(`soak reply ${n}`, thread.slice('thread:'.length)) : undefined;
        if (!request) continue;
        const done = request.then(
          () => {
            posting.acknowledged++;
          },
          (error: unknown) => {
            posting.failed++;
            if (failures.length < 5) failures.push(error instanceof Error ? error.message : String(error));
          },
        );
        inFlight.add(done);
        void done.finally(() => inFlight.delete(done));
      }
    })();

    // Churn: a watcher dropped CHURN times a minute, one way or the other.
    const drops = { cut: 0, restarted: 0 };
    const restart = async (slot: Slot) => {
      const old = slot.client;
      old.close();
      // After close(), nothing more is handed over: its cursors are exactly what its view holds.
      const since = Object.fromEntries(old.channels);
      old.events.all.clear();
      clients.delete(old);
      const { Socket, cut } = cuttableSocket();
      const client = newClient(slot.user, Socket);
      views.watch(slot.user, client, slot.inbox);
      slot.client = client;
      slot.cut = cut;
      await client.connect();
      await client.subscribe(slot.channels, since);
    };
    const restarts = new Set<Promise<void>>();
    const churnLoop = (async () => {
      if (CHURN === 0) return;
      const started = performance.now();
      for (let n = 1; running(); n++) {
        await sleep(started + (n * 60_000) / CHURN - performance.now());
        if (!running()) break;
        const idle = slots.filter((slot) => !slot.busy);
        const slot = idle[Math.floor(random() * idle.length)];
        if (!slot) continue;
        if (random() < 0.5) {
          if (slot.cut()) drops.cut++;
          continue;
        }
        slot.busy = true;
        drops.restarted++;
        const replaced = restart(slot).then(
          () => {
            slot.busy = false;
          },
          (error: unknown) => {
            clientErrors++;
            if (errorSamples.length < 5) errorSamples.push(`${slot.user} restart: ${error instanceof Error ? error.message : String(error)}`);
            slot.busy = false;
          },
        );
        restarts.add(replaced);
        void replaced.finally(() => restarts.delete(replaced));
      }
    })();

    // A line a minute; the first minute is the warm-up, so "start" is after it (or now, on a run of a minute or less).
    const sample = (minute: number): Sample => ({
      minute,
      posted: posting.acknowledged,
      delivered: views.recovery.delivered,
      gaps: views.recovery.gaps,
      filled: views.recovery.recovered,
      lost: views.recovery.lost,
      stack: processStats(stack.pids.stack),
      dynamodb: processStats(stack.pids.dynamodb),
    });
    const show = (s: Sample) =>
      progress(
        `${String(s.minute).padStart(3)} min: posted ${s.posted}, delivered ${s.delivered}, gaps ${s.gaps} (filled ${s.filled}, lost ${s.lost}), ` +
          `reconnections ${views.recovery.reconnections}, drops ${drops.cut + drops.restarted}; stack ${describeStats(s.stack)}; DynamoDB Local ${describeStats(s.dynamodb)}`,
      );
    const samples: Sample[] = [];
    const began = performance.now();
    const setupSeconds = Math.round((began - launched) / 1000);
    let start = MINUTES <= 1 ? sample(0) : undefined;
    if (start) show(start);
    for (let minute = 1; minute <= Math.ceil(MINUTES); minute++) {
      await sleep(began + Math.min(minute, MINUTES) * 60_000 - performance.now());
      const s = sample(minute);
      samples.push(s);
      start ??= s;
      show(s);
    }

    // The end: stop posting and churning, let every client catch up, then hold each view against the store.
    const ending = performance.now();
    on = false;
    await Promise.all([postLoop, churnLoop]);
    await Promise.all([...inFlight, ...restarts]);
    const synced = await Promise.race([
      Promise.all(slots.map((slot) => slot.client.sync())).then(() => true),
      sleep(SYNC_TIMEOUT_MS).then(() => false),
    ]);
    const end = sample(samples.length);

    const store = new Map<ChannelName, string[]>();
    const readerToken = await stack.token(`${tag}-reader`);
    for (const slot of slots) {
      for (const channel of slot.channels) {
        if (store.has(channel)) continue;
        const token = channel === slot.inbox ? await stack.token(slot.user) : readerToken;
        store.set(channel, await readChannel(stack.wsUrl, token, channel));
      }
    }
    const total: { -readonly [K in keyof Difference]: number } = { missing: 0, duplicated: 0, outOfOrder: 0, unknown: 0 };
    const differing: string[] = [];
    for (const slot of slots) {
      const view = views.views.get(slot.user);
      for (const channel of slot.channels) {
        const d = difference(view?.get(channel) ?? [], store.get(channel) ?? []);
        for (const key of Object.keys(total) as (keyof Difference)[]) total[key] += d[key];
        if (d.missing + d.duplicated + d.outOfOrder + d.unknown > 0) differing.push(`${slot.user} on ${channel}: ${JSON.stringify(d)}`);
      }
    }
    // Every acknowledged post is on a watched channel: the posters' own and the threads (a thread's root is in neither).
    const watched = [...Array.from({ length: POSTERS }, (_, i) => userChannel(i)), ...threads];
    const stored = watched.reduce((sum, channel) => sum + (store.get(channel)?.length ?? 0), 0);
    const report = (await (await fetch(`${stack.httpUrl}/dev/faults`)).json()) as { injected: Record<string, number> };
    // Live deliveries the fan-out gave up on (what the clients had to find and fill), and anything else that failed
    // in the stack that is not an injected crash: each of those is worth a look.
    const lines = stack.output.split('\n');
    const givenUp = lines.filter((line) => line.includes('delivery failed after retries')).length;
    const stackFailures = lines.filter((line) => line.includes(' failed') && !line.includes('injected') && !line.includes('delivery failed after retries'));

    const cpu = cpus();
    const machine = `${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
    const summary = {
      minutes: MINUTES,
      clients: CLIENTS,
      rate: RATE,
      churnPerMinute: CHURN,
      faults: FAULTS ?? 'off',
      seed: SEED,
      posted: posting.acknowledged,
      postsFailed: posting.failed,
      ticksSkipped: posting.skipped,
      stored,
      delivered: views.recovery.delivered,
      gapsDetected: views.recovery.gaps,
      gapsFilled: views.recovery.recovered,
      positionsLost: views.recovery.lost,
      ...total,
      lost: views.recovery.lost + total.missing,
      reconnections: views.recovery.reconnections,
      drops,
      clientErrors,
      deliveriesGivenUp: givenUp,
      stackFailures: stackFailures.length,
      setupSeconds,
      endSeconds: Math.round((performance.now() - ending) / 1000),
      synced,
      injected: report.injected,
      start,
      end,
      minutesSampled: samples,
    };
    if (args.json) {
      console.log(JSON.stringify({ machine, summary, differing, failures, errorSamples, stackFailures: stackFailures.slice(0, 20) }));
      return;
    }
    const growth = (key: keyof ProcessStats, of: 'stack' | 'dynamodb') => {
      const a = start?.[of]?.[key];
      const b = end[of]?.[key];
      return a === undefined || b === undefined ? 'n/a' : `${a} → ${b} (${b - a >= 0 ? '+' : ''}${b - a})`;
    };
    console.log(`Updraft soak: ${machine}`);
    console.log(`${MINUTES} min, ${CLIENTS} watchers, ${RATE} posts/s, ${CHURN} drops/min, faults ${FAULTS ?? 'off'}, seed ${SEED}`);
    console.log(`posted: ${posting.acknowledged} acknowledged (${posting.failed} failed, ${posting.skipped} ticks skipped); ${stored} in the store`);
    console.log(`delivered: ${views.recovery.delivered} items handed over (status + notification events)`);
    console.log(`gaps: ${views.recovery.gaps} detected, ${views.recovery.recovered} filled, ${views.recovery.lost} positions lost`);
    console.log(`at the end${synced ? '' : ` (sync() of every client not done within ${SYNC_TIMEOUT_MS / 1000} s)`}: ${total.missing} missing, ${total.duplicated} duplicated, ${total.outOfOrder} out of order, ${total.unknown} not in the store`);
    console.log(`LOST: ${summary.lost} (positions lost + missing at the end; the target is 0)`);
    console.log(`churn: ${drops.cut} sockets cut, ${drops.restarted} clients replaced; ${views.recovery.reconnections} reconnections; ${clientErrors} client errors`);
    console.log(`stack: ${givenUp} live deliveries given up after retries; ${stackFailures.length} other failures not injected (lines of its output with "failed")`);
    console.log(`time: ${setupSeconds} s to start the stack and subscribe every watcher; ${summary.endSeconds} s from the end of posting to the comparison`);
    console.log(`injected: ${JSON.stringify(report.injected)}`);
    console.log(`stack (node, pid ${stack.pids.stack ?? '?'}), after minute ${start?.minute ?? '?'} → end: RSS MB ${growth('rssMb', 'stack')}, fds ${growth('fds', 'stack')}, threads ${growth('threads', 'stack')}`);
    console.log(`DynamoDB Local (java, pid ${stack.pids.dynamodb ?? '?'}): RSS MB ${growth('rssMb', 'dynamodb')}, fds ${growth('fds', 'dynamodb')}, threads ${growth('threads', 'dynamodb')}`);
    for (const line of differing.slice(0, 10)) console.log(`  differs: ${line}`);
    for (const line of failures) console.log(`  post failed: ${line}`);
    for (const line of errorSamples) console.log(`  client error: ${line}`);
    for (const line of stackFailures.slice(0, 5)) console.log(`  stack: ${line}`);
  } catch (error) {
    console.error(`the stack's last lines:\n${stack.output.split('\n').slice(-15).join('\n')}`);
    throw error;
  } finally {
    await stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
