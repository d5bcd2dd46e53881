/**
 * One shard of a bench run: opens its subscribers (raw `ws` sockets, the
 * leanest for thousands) and posters at most CONNECTS_PER_SECOND / shards a
 * second with jitter, subscribes each to its channel, posts its part at its
 * part of the rate, and counts what arrives until every expected delivery has
 * or DRAIN_MS after the last post.
 */
import WebSocket from 'ws';
import { userChannel } from '../../../shared/protocol/channels';
import { record, type Histogram } from './histogram';
import { latencyOf, perSecond, type BenchReport } from './report';
import {
  CONNECTS_PER_SECOND, DRAIN_MS, channelOfPost, channelOfSubscriber, parsePostText, postText, posterUser, postsTo, shardPosts, shardSubscribers,
  subscriberUser, type Plan,
} from './plan';
import type { TokenSource } from './tokens';

/** A handshake or a subscribe not answered in this long counts as failed. */
const HANDSHAKE_TIMEOUT_MS = 30_000;

export type Progress = (line: string) => void;

interface Tally {
  handshakeFailures: number;
  failureReasons: Record<string, number>;
  errors: Record<string, number>;
  subscribed: number;
  received: number;
  duplicates: number;
  distinct: number;
  sent: number;
  posted: number;
  firstPostAt: number | null;
  lastDeliveryAt: number | null;
  latency: Histogram;
}

const bump = (map: Record<string, number>, key: string) => { map[key] = (map[key] ?? 0) + 1; };
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));

export async function runShard(plan: Plan, tokens: TokenSource, progress: Progress): Promise<BenchReport> {
  const tally: Tally = {
    handshakeFailures: 0, failureReasons: {}, errors: {}, subscribed: 0, received: 0, duplicates: 0, distinct: 0,
    sent: 0, posted: 0, firstPostAt: null, lastDeliveryAt: null, latency: {},
  };
  const subscribers = shardSubscribers(plan);
  const posts = shardPosts(plan);
  const posterChannels = [...new Set(posts.map((k) => channelOfPost(plan, k)))];
  const sockets: WebSocket[] = [];
  /** Set at the end: a close from then on is ours, not the server's. */
  let closing = false;
  let expected = 0;
  let wake: (() => void) | undefined;

  /** Opens a socket as `user`; resolves once `ready` says it is ready, or false when it fails on the way. */
  const open = async (user: string, onOpen: (socket: WebSocket, ready: () => void) => void, onFrame: (frame: Record<string, unknown>) => void): Promise<WebSocket | undefined> => {
    let token: string;
    try {
      token = await tokens.tokenFor(user);
    } catch (error) {
      tally.handshakeFailures++;
      bump(tally.failureReasons, `token: ${error instanceof Error ? error.message : String(error)}`);
      return undefined;
    }
    return new Promise((resolve) => {
      const socket = new WebSocket(`${tokens.wsUrl}?token=${encodeURIComponent(token)}`, { handshakeTimeout: HANDSHAKE_TIMEOUT_MS });
      let settled = false;
      let ready = false;
      const fail = (reason: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        tally.handshakeFailures++;
        bump(tally.failureReasons, reason);
        socket.terminate();
        resolve(undefined);
      };
      const timer = setTimeout(() => { fail('timeout'); }, HANDSHAKE_TIMEOUT_MS);
      socket.once('unexpected-response', (_request, response) => { fail(`HTTP ${response.statusCode ?? 0}`); });
      socket.once('error', (error: Error & { code?: string }) => { fail(error.code ?? error.message); });
      socket.once('open', () => {
        onOpen(socket, () => {
          if (settled) return;
          settled = true;
          ready = true;
          clearTimeout(timer);
          sockets.push(socket);
          resolve(socket);
        });
      });
      socket.on('message', (data: Buffer) => {
        let frame: unknown;
        try {
          frame = JSON.parse(data.toString('utf8'));
        } catch {
          bump(tally.errors, 'not_json');
          return;
        }
        if (typeof frame === 'object' && frame !== null) onFrame(frame as Record<string, unknown>);
      });
      socket.once('close', (code) => {
        // Before it was ready a close is a failed handshake; after, until the run closes it, an error.
        if (!settled) fail(`closed ${code}`);
        else if (ready && !closing) bump(tally.errors, `closed ${code}`);
      });
    });
  };

  const errorFrame = (frame: Record<string, unknown>) => {
    if (frame['type'] === 'error') bump(tally.errors, typeof frame['code'] === 'string' ? frame['code'] : 'error');
  };

  const subscriber = (j: number) => {
    const channel = channelOfSubscriber(plan, j);
    // A bit per post of the run: which have arrived, so a second arrival is a duplicate.
    const seen = new Uint8Array(Math.ceil(plan.posts / 8));
    let subscribed: (() => void) | undefined;
    return open(
      subscriberUser(plan, j),
      (socket, ready) => {
        subscribed = () => {
          tally.subscribed++;
          expected += postsTo(plan, channel);
          ready();
        };
        socket.send(JSON.stringify({ action: 'subscribe', id: 's', channels: [userChannel(posterUser(plan, channel))] }));
      },
      (frame) => {
        if (frame['type'] === 'subscribed') subscribed?.();
        else if (frame['type'] === 'status') {
          const status = frame['status'] as { text?: unknown } | undefined;
          const post = typeof status?.text === 'string' ? parsePostText(plan, status.text) : undefined;
          if (post === undefined) return;
          const now = Date.now();
          tally.received++;
          tally.lastDeliveryAt = now;
          const byte = post.post >> 3;
          const bit = 1 << (post.post & 7);
          if (((seen[byte] ?? 0) & bit) !== 0) {
            tally.duplicates++;
            return;
          }
          seen[byte] = (seen[byte] ?? 0) | bit;
          tally.distinct++;
          record(tally.latency, now - post.sentAt);
          if (tally.distinct >= expected) wake?.();
        } else errorFrame(frame);
      },
    );
  };

  const posters = new Map<number, WebSocket>();
  const poster = async (c: number) => {
    const socket = await open(posterUser(plan, c), (_socket, ready) => { ready(); }, (frame) => {
      if (frame['type'] === 'posted') tally.posted++;
      else errorFrame(frame);
    });
    if (socket !== undefined) posters.set(c, socket);
  };

  // Connect: at most this shard's share of the account's rate, each at a jittered moment of its slot.
  const opening: Promise<unknown>[] = [];
  const connections = [...posterChannels.map((c) => () => poster(c)), ...subscribers.map((j) => () => subscriber(j))];
  const slotMs = (1000 * plan.shards) / CONNECTS_PER_SECOND;
  const connectStart = Date.now();
  const showConnecting = () => { progress(`connecting ${sockets.length}/${connections.length} open, ${tally.handshakeFailures} failed`); };
  const ticker = setInterval(showConnecting, 1000);
  for (const [i, connect] of connections.entries()) {
    await sleep(connectStart + (i + Math.random()) * slotMs - Date.now());
    opening.push(connect());
  }
  await Promise.all(opening);
  clearInterval(ticker);
  showConnecting();

  if (plan.startAt !== undefined) {
    progress(`connected; posting starts at ${new Date(plan.startAt).toISOString()}`);
    await sleep(plan.startAt - Date.now());
  }

  // Post: this shard's posts at its share of the rate, each stamped with its send time.
  const intervalMs = (1000 * plan.shards) / plan.rate;
  const postStart = Date.now();
  const showRunning = () => { progress(`posting ${tally.sent}/${posts.length} sent, ${tally.posted} posted; ${tally.distinct}/${expected} delivered`); };
  const running = setInterval(showRunning, 1000);
  for (const [m, k] of posts.entries()) {
    await sleep(postStart + m * intervalMs - Date.now());
    const socket = posters.get(channelOfPost(plan, k));
    if (socket?.readyState !== WebSocket.OPEN) {
      bump(tally.errors, 'poster_not_connected');
      continue;
    }
    const sentAt = Date.now();
    tally.firstPostAt ??= sentAt;
    socket.send(JSON.stringify({ action: 'post', id: `k${k}`, text: postText(plan, k, sentAt) }));
    tally.sent++;
  }

  // Drain: until every expected delivery is in, or DRAIN_MS after the last post.
  if (tally.distinct < expected) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, DRAIN_MS);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
  clearInterval(running);
  showRunning();
  closing = true;
  for (const socket of sockets) socket.close();

  return {
    type: 'bench',
    run: plan.run,
    shards: [`${plan.shard + 1}/${plan.shards}`],
    channels: plan.channels,
    subscribers: { planned: subscribers.length, subscribed: tally.subscribed },
    posts: { planned: plan.posts, sent: tally.sent, posted: tally.posted },
    handshakeFailures: { total: tally.handshakeFailures, byReason: tally.failureReasons },
    errors: tally.errors,
    deliveries: {
      expected,
      received: tally.received,
      duplicates: tally.duplicates,
      missing: expected - tally.distinct,
      perSecond: perSecond(tally.distinct, tally.firstPostAt, tally.lastDeliveryAt),
    },
    latencyMs: latencyOf(tally.latency),
    firstPostAt: tally.firstPostAt,
    lastDeliveryAt: tally.lastDeliveryAt,
  };
}
