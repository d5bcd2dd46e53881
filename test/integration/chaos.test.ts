import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import WebSocket from 'ws';
import { UpdraftClient, type SocketFactory } from '../../shared/client';
import type { ChannelName } from '../../shared/protocol';
import { ChannelViews, readChannel } from '../support/channel-views';
import { LocalStack } from '../support/local-stack';
import { TestClient } from '../support/ws-client';

/**
 * Issue 13's guarantee under every fault at once (README.md, "Injecting faults"): clients of
 * the library watch a busy `user:` channel, a thread many people reply to at once, and their
 * inboxes, while a few hundred posts are made; the whole stack is killed with SIGKILL halfway
 * and started again on the same data. At the end each client's view of each channel is the
 * store's channel exactly: nothing missing, nothing twice, in commit order. A raw WebSocket
 * subscriber beside them, with no recovery, shows what the faults cost a client that trusts
 * live delivery alone. The same run with the faults off is the control.
 */
const FAULTS = [
  'postToConnection:500=0.1',
  'postToConnection:429=0.05',
  'postToConnection:latency=5-100ms',
  // A delivery that fails after every retry (loss 1 of issue 13).
  'postToConnection:lost=0.03',
  'fanout:crash=0.02',
  'stream:duplicate=0.05',
  'stream:reorder=0.05',
].join(',');

const BUSY_POSTS = 120;
const REPLIERS = 10;
const REPLIES_EACH = 8;

interface Outcome {
  readonly report: string;
  readonly mismatches: string[];
  readonly acknowledged: number;
  readonly stored: number;
  readonly lost: number;
}

/** What UPDRAFT_FAULTS injected in this run of the stack (GET /dev/faults). */
async function injectedBy(stack: LocalStack): Promise<Record<string, number>> {
  const response = await fetch(`${stack.httpUrl}/dev/faults`);
  return ((await response.json()) as { injected: Record<string, number> }).injected;
}

async function run(label: string, faults: string | undefined): Promise<Outcome> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'updraft-chaos-'));
  const env: Record<string, string> = {
    // Posting fast is the point here; the budgets have tests of their own.
    UPDRAFT_FUNCTION_ENV: 'POST_RATE_BURST=1000,POST_RATE_PER_SECOND=1000',
    ...(faults === undefined ? {} : { UPDRAFT_FAULTS: faults, UPDRAFT_FAULTS_SEED: '13' }),
  };
  let stack = await LocalStack.start({ dataDir, env });
  const killed: LocalStack[] = [];
  const ports = stack.ports;
  const httpUrl = stack.httpUrl;
  const wsUrl = stack.wsUrl;
  const clients: UpdraftClient[] = [];
  const raws: TestClient[] = [];
  const tag = `${label}${Date.now().toString(36)}`;
  try {
    const token = async (user: string) => {
      const response = await fetch(`${httpUrl}/dev/token?user=${user}`);
      return ((await response.json()) as { token: string }).token;
    };
    const open = async (user: string) => {
      const client = new UpdraftClient({
        url: wsUrl,
        token: () => token(user),
        WebSocket: WebSocket as unknown as SocketFactory,
        backoff: { initialMs: 100, maxMs: 1_000 },
        requestTimeoutMs: 60_000,
      });
      clients.push(client);
      await client.connect();
      return client;
    };
    const busy = `${tag}-busy`;
    const op = `${tag}-op`;
    const author = await open(busy);
    const opClient = await open(op);
    const root = await opClient.post('a thread everyone answers');
    const thread: ChannelName = `thread:${root.id}`;

    // What each client was handed, per channel, in order; and what it recovered.
    const watched = new ChannelViews();
    const { views, recovery } = watched;
    const watch = (name: string, client: UpdraftClient, inbox?: ChannelName) => watched.watch(name, client, inbox);
    watch(op, opClient, `inbox:${op}`);
    await opClient.subscribe([`inbox:${op}`, thread]);
    const watchers = await Promise.all(Array.from({ length: 4 }, (_, i) => open(`${tag}-w${i}`)));
    await Promise.all(
      watchers.map(async (client, i) => {
        watch(`w${i}`, client);
        await client.subscribe(i % 2 === 0 ? [`user:${busy}`] : [thread, `user:${busy}`]);
      }),
    );
    // No recovery at all: what live delivery alone hands a client.
    const openRaw = async () => {
      // As any client does: a handshake refused while the restarted stack warms up is tried again.
      for (let attempt = 1; ; attempt++) {
        try {
          const raw = await TestClient.open(`${wsUrl}?token=${await token(`${tag}-raw`)}`);
          raws.push(raw);
          await raw.request({ action: 'subscribe', channels: [`user:${busy}`, thread] });
          return;
        } catch (error) {
          if (attempt === 20) throw error;
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
      }
    };
    await openRaw();

    const repliers = await Promise.all(Array.from({ length: REPLIERS }, (_, i) => open(`${tag}-r${i}`)));
    let acknowledged = 1;
    // One person posting as fast as the stack answers, beside ten replying in one thread at once.
    const busyPosts = (async () => {
      for (let i = 0; i < BUSY_POSTS; i++) {
        await author.post(`busy ${i}`);
        acknowledged++;
      }
    })();
    const replies = Promise.all(
      repliers.map(async (client, r) => {
        for (let i = 0; i < REPLIES_EACH; i++) {
          await client.post(`reply ${r}.${i}`, root.id);
          acknowledged++;
        }
      }),
    );
    // Halfway: kill -9, and start again on the same data and ports. Clients reconnect on their own.
    const total = 1 + BUSY_POSTS + REPLIERS * REPLIES_EACH;
    while (acknowledged < total / 2) await new Promise((resolve) => setTimeout(resolve, 50));
    const beforeKill = faults === undefined ? {} : await injectedBy(stack);
    await stack.stop('SIGKILL', { sweep: false });
    killed.push(stack);
    stack = await LocalStack.start({ dataDir, env, ports });
    await openRaw();
    await Promise.all([busyPosts, replies]);
    await Promise.all(clients.map((client) => client.sync()));

    // The store's channels, oldest first: the truth every view must equal. The inbox is read as its owner: no one else may.
    const store = new Map<ChannelName, string[]>();
    const readerToken = await token(`${tag}-reader`);
    for (const channel of [`user:${busy}`, thread]) store.set(channel, await readChannel(wsUrl, readerToken, channel));
    store.set(`inbox:${op}`, await readChannel(wsUrl, await token(op), `inbox:${op}`));

    const mismatches: string[] = [];
    for (const [name, view] of views) {
      for (const [channel, seen] of view) {
        const expected = store.get(channel);
        if (expected === undefined) continue;
        if (JSON.stringify(seen) !== JSON.stringify(expected)) {
          mismatches.push(`${name} on ${channel}: ${seen.length} handed over, ${new Set(seen).size} distinct, store ${expected.length}`);
        }
      }
      // Every client sees every channel it watches.
      if (view.size === 0) mismatches.push(`${name} saw nothing`);
    }
    const rawFrames = raws.flatMap((raw) => raw.frames).filter((frame) => frame.type === 'status');
    const rawSeen = new Set(rawFrames.map((frame) => (frame['status'] as { id: string }).id));
    const rawExpected = [...(store.get(`user:${busy}`) ?? []), ...(store.get(thread) ?? [])];
    const rawMissing = rawExpected.filter((id) => !rawSeen.has(id)).length;
    const rawDuplicates = rawFrames.length - rawSeen.size;
    const afterKill = faults === undefined ? {} : await injectedBy(stack);
    const injected = Object.fromEntries(Object.keys({ ...beforeKill, ...afterKill }).map((key) => [key, (beforeKill[key] ?? 0) + (afterKill[key] ?? 0)]));
    const stored = [...store.values()].reduce((sum, ids) => sum + ids.length, 0);
    const report = [
      `chaos ${label}: ${acknowledged} posts acknowledged; store holds ${stored} items on 3 channels; ${views.size} library clients watching them`,
      `  injected (both runs of the stack): ${JSON.stringify(injected)}`,
      `  library clients: ${recovery.gaps} gaps detected, ${recovery.recovered} filled, ${recovery.lost} positions lost, ${recovery.reconnections} reconnections; ${mismatches.length} views differ from the store`,
      `  raw subscriber (no recovery, resubscribed without since after the restart): missed ${rawMissing} of ${rawExpected.length}, ${rawDuplicates} duplicates`,
    ].join('\n');
    return { report, mismatches, acknowledged, stored: (store.get(`user:${busy}`)?.length ?? 0) + (store.get(thread)?.length ?? 0), lost: recovery.lost };
  } catch (error) {
    // What the stack said is the way to the cause.
    console.log(`chaos ${label} failed; the stack's last output:\n${[...killed, stack].map((s) => s.output.slice(-4000)).join('\n--- restarted ---\n')}`);
    throw error;
  } finally {
    for (const client of clients) client.close();
    await Promise.all(raws.map((client) => client.close().catch(() => undefined)));
    await stack.stop();
    // After the last stack stopped: a sweep ends what a killed stack left (its DynamoDB Local, by port).
    for (const old of killed) old.sweep();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// The faults on, then off as the control: the same clients, posts and kill -9 either way.
it.each<{ label: string; faults: string | undefined; when: string }>([
  { label: 'faults', faults: FAULTS, when: 'under every fault and a kill -9' },
  { label: 'control', faults: undefined, when: 'with the faults off and a kill -9 (the control)' },
])('hands every client every item of its channels once, in commit order, $when', async ({ label, faults }) => {
  const outcome = await run(label, faults);
  console.log(outcome.report);

  expect(outcome.mismatches).toEqual([]);
  expect(outcome.lost).toBe(0);
  // Every acknowledged post is in the store: the busy channel's and the thread's (the root is in neither).
  expect(outcome.stored).toBe(BUSY_POSTS + REPLIERS * REPLIES_EACH);
}, 240_000);
