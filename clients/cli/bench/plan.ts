/**
 * What a bench run does, from its options: who subscribes where, which posts
 * go to which channel, and the part of it one shard runs. Pure, so shards on
 * different machines split the same run the same way.
 */
import { randomBytes } from 'node:crypto';
import { UsageError } from '../errors';

/** API Gateway's default account quota for new WebSocket connections per second; the shards share it. */
export const CONNECTS_PER_SECOND = 500;
/** How long subscribers wait for the last deliveries once posting ends. */
export const DRAIN_MS = 10_000;

export interface Plan {
  readonly run: string;
  readonly subscribers: number;
  readonly channels: number;
  readonly posts: number;
  /** Posts per second, the whole run's. */
  readonly rate: number;
  /** 0-based. */
  readonly shard: number;
  readonly shards: number;
  /** Epoch ms when posting starts, in every shard; otherwise as soon as this shard is connected. */
  readonly startAt?: number;
}

export interface BenchOptions {
  readonly subscribers?: string | undefined;
  readonly channels?: string | undefined;
  readonly posts?: string | undefined;
  readonly rate?: string | undefined;
  readonly duration?: string | undefined;
  readonly shard?: string | undefined;
  readonly run?: string | undefined;
  readonly start?: string | undefined;
}

function count(name: string, value: string | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min) throw new UsageError(`--${name} must be a whole number of at least ${min}`);
  return Number(value);
}

function seconds(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value);
  if (match === null) throw new UsageError('--duration is a time: 90, 90s, 2m or 1h');
  const unit = { ms: 0.001, s: 1, m: 60, h: 3600 }[match[2] ?? 's'] ?? 1;
  return Number(match[1]) * unit;
}

export function planOf(options: BenchOptions): Plan {
  const subscribers = count('subscribers', options.subscribers, 100);
  const channels = count('channels', options.channels, 10);
  if (channels > subscribers) throw new UsageError('--channels cannot exceed --subscribers: every channel needs a subscriber');
  const rateText = options.rate?.replace(/\/s$/, '');
  const rate = rateText === undefined ? 10 : Number(rateText);
  if (!Number.isFinite(rate) || rate <= 0) throw new UsageError('--rate is posts per second: 10 or 10/s');
  if (options.posts !== undefined && options.duration !== undefined) throw new UsageError('give --posts or --duration, not both');
  const posts = options.duration === undefined ? count('posts', options.posts, 100) : Math.max(1, Math.round(rate * seconds(options.duration)));

  let shard = 0;
  let shards = 1;
  if (options.shard !== undefined) {
    const match = /^(\d+)\/(\d+)$/.exec(options.shard);
    shard = Number(match?.[1]) - 1;
    shards = Number(match?.[2]);
    if (match === null || shards < 1 || shard < 0 || shard >= shards) throw new UsageError('--shard is i/n, with i from 1 to n');
    if (options.run === undefined) throw new UsageError('--shard needs --run <name>, the same in every shard, so their subscribers see one run');
  }
  const run = options.run ?? randomBytes(3).toString('hex');
  if (!/^[A-Za-z0-9]{1,24}$/.test(run)) throw new UsageError('--run is 1 to 24 letters and digits');

  let startAt: number | undefined;
  if (options.start !== undefined) {
    startAt = Date.parse(options.start);
    if (Number.isNaN(startAt)) throw new UsageError('--start is a time, e.g. 2026-11-28T02:00:00Z');
  }
  return { run, subscribers, channels, posts, rate, shard, shards, ...(startAt === undefined ? {} : { startAt }) };
}

// Users and channels of a run: `bench-<run>-s<j>` subscribes to `user:bench-<run>-p<c>`.
export const subscriberUser = (plan: Plan, j: number) => `bench-${plan.run}-s${j}`;
export const posterUser = (plan: Plan, c: number) => `bench-${plan.run}-p${c}`;
export const channelOfSubscriber = (plan: Plan, j: number) => j % plan.channels;
export const channelOfPost = (plan: Plan, k: number) => k % plan.channels;
/** How many of the run's posts go to channel c. */
export const postsTo = (plan: Plan, c: number) => (c < plan.posts ? Math.ceil((plan.posts - c) / plan.channels) : 0);

/** Every n-th subscriber and post, from the shard's own: the shards together are the run, each a part. */
export const shardSubscribers = (plan: Plan) => range(plan.subscribers).filter((j) => j % plan.shards === plan.shard);
export const shardPosts = (plan: Plan) => range(plan.posts).filter((k) => k % plan.shards === plan.shard);

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** The text of post k: the run, the post and its send time, which any shard can read back. */
export const postText = (plan: Plan, k: number, sentAt: number) => `bench ${plan.run} ${k} ${sentAt}`;

export function parsePostText(plan: Plan, text: string): { post: number; sentAt: number } | undefined {
  const [word, run, post, sentAt] = text.split(' ');
  if (word !== 'bench' || run !== plan.run) return undefined;
  const k = Number(post);
  const t = Number(sentAt);
  return Number.isInteger(k) && k >= 0 && k < plan.posts && Number.isFinite(t) ? { post: k, sentAt: t } : undefined;
}

/** Distinct deliveries the run's posts make to all its subscribers. */
export function expectedDeliveries(plan: Plan): number {
  let total = 0;
  for (let j = 0; j < plan.subscribers; j++) total += postsTo(plan, channelOfSubscriber(plan, j));
  return total;
}
