import { Token } from 'aws-cdk-lib';
import type { Node } from 'constructs';
import { DefaultLimits, FanOutDefaults } from '../shared/config';
import { MAX_ACTION_COST, MAX_CONNECT_COST } from '../shared/protocol/costs';
import { Limits } from '../shared/protocol/limits';

/**
 * API Gateway's default account throttle, requests per second, shared by every REST, HTTP and
 * WebSocket API of the account and region and by every @connections call ("Amazon API Gateway
 * quotas"): 10,000, but 2,500 in these 13 regions (Cape Town, Milan, Jakarta, UAE, Hyderabad,
 * Melbourne, Spain, Zurich, Tel Aviv, Calgary, Malaysia, Thailand, Mexico Central).
 */
export const DEFAULT_ACCOUNT_RPS = 10_000;
export const LOW_ACCOUNT_RPS = 2_500;
export const LOW_THROTTLE_REGIONS: ReadonlySet<string> = new Set([
  'af-south-1', 'eu-south-1', 'ap-southeast-3', 'me-central-1', 'ap-south-2', 'ap-southeast-4', 'eu-south-2',
  'eu-central-2', 'il-central-1', 'ca-west-1', 'ap-southeast-5', 'ap-southeast-7', 'mx-central-1',
]);

/**
 * How the stack shares the account throttle: a quarter for the messages clients send (the stage's
 * throttle), 60% for the delivery workers, and 15% left for direct deliveries of small channels,
 * the publish API and the account's other APIs. At 10,000 that is 2,500 messages/s, room for a
 * million idle connections' heartbeats (1,000,000 / 513 s = 1,949/s) and 551 other frames a
 * second; and 6,000 deliveries/s (README, "Limits").
 */
export const THROTTLE_SHARES = { stage: 0.25, delivery: 0.6 } as const;

/** Heartbeats a second that `connections` quiet connections make: one per Limits.heartbeatMs less half the jitter, on average. */
export const heartbeatsPerSecond = (connections: number): number => connections / ((Limits.heartbeatMs * (1 - Limits.heartbeatJitter / 2)) / 1000);

/** The stage throttle and delivery budget that `accountRps` leaves room for; the burst is capped at the account's (half its rate). */
export function throttleBudget(accountRps: number): { throttleRate: number; throttleBurst: number; deliveryRps: number } {
  const throttleRate = Math.floor(accountRps * THROTTLE_SHARES.stage);
  return { throttleRate, throttleBurst: Math.min(2 * throttleRate, Math.floor(accountRps / 2)), deliveryRps: Math.floor(accountRps * THROTTLE_SHARES.delivery) };
}

/**
 * The account's API Gateway throttle the stack is sized for: props, else CDK context
 * (`cdk deploy -c accountRps=20000` after a quota increase), else AWS's default for the stack's
 * region (10,000 when the region is not known at synth time).
 */
export function resolveAccountRps(node: Node, region: string, given?: number): number {
  const lowRegion = !Token.isUnresolved(region) && LOW_THROTTLE_REGIONS.has(region);
  return readLimit(node, 'accountRps', given, { min: 100 }) ?? (lowRegion ? LOW_ACCOUNT_RPS : DEFAULT_ACCOUNT_RPS);
}

/** Connections the browser app's reconnections are spread for when nothing says otherwise. */
export const DEFAULT_EXPECTED_CONNECTIONS = 10_000;

/**
 * How many connections the deployment expects at its peak (CDK context `expectedConnections`): the
 * browser app's reconnect backoff is sized from it (shared/client/backoff.ts `fleetBackoff`), so that
 * clients cut off together come back under API Gateway's connect quota.
 */
export function resolveExpectedConnections(node: Node, given?: number): number {
  return readLimit(node, 'expectedConnections', given, {}) ?? DEFAULT_EXPECTED_CONNECTIONS;
}

/**
 * The limits a deployment chooses. Each comes from the stack's props, else from
 * CDK context (`cdk deploy -c postRateBurst=20`, or `context` in cdk.json),
 * else the default; README.md ("Limits") says what each protects.
 */
export interface ServiceLimits {
  /** Channels one connection may hold through `subscribe`. @default 500 */
  readonly maxSubscriptions: number;
  /** Posts a user may make at once, across all their connections. @default 10 */
  readonly postRateBurst: number;
  /** Posts per second a user may keep up after the burst. @default 1 */
  readonly postRatePerSecond: number;
  /** Cost units (shared/protocol/costs.ts) a user's other frames may spend at once, across connections; at least the costliest frame. @default 1250 */
  readonly actionRateBurst: number;
  /** Cost units per second a user may keep up after the burst. @default 20 */
  readonly actionRatePerSecond: number;
  /** Statuses the publish API takes for one author at once, apart from that user's own post budget. @default 100 */
  readonly publishRateBurst: number;
  /** Statuses per second the publish API keeps up for one author after the burst. @default 2 */
  readonly publishRatePerSecond: number;
  /** Requests per second the publish API's stage accepts, every route and caller together (API Gateway throttling). @default 50 */
  readonly publishThrottleRate: number;
  /** Requests the publish API's stage accepts in a burst above the rate. @default 100 */
  readonly publishThrottleBurst: number;
  /** Connections one user may have open at once. @default 10 */
  readonly maxConnectionsPerUser: number;
  /** Cost units (shared/protocol/costs.ts `connectCost`) one user's handshakes may spend at once, open or closed since; at least the costliest handshake. @default 10030 */
  readonly connectRateBurst: number;
  /** Cost units per second one user's handshakes may keep up after the burst. @default 50 */
  readonly connectRatePerSecond: number;
  /** The oldest a token may be (from its `iat`), in seconds; connections end then at the latest. @default 86400 */
  readonly maxTokenAgeSeconds: number;
  /** Steady-state messages per second the stage accepts (API Gateway throttling). @default a quarter of accountRps: 2500 */
  readonly throttleRate: number;
  /** Messages the stage accepts in a burst above the rate. @default twice throttleRate, at most half accountRps: 5000 */
  readonly throttleBurst: number;
}

const DEFAULT_BUDGET = throttleBudget(DEFAULT_ACCOUNT_RPS);

export const DEFAULT_SERVICE_LIMITS: ServiceLimits = {
  ...DefaultLimits,
  throttleRate: DEFAULT_BUDGET.throttleRate,
  throttleBurst: DEFAULT_BUDGET.throttleBurst,
  // Every published status is a transaction of 4 to 6 writes and a fan-out to its author's followers:
  // the stage-wide cap bounds what all backends together add, whatever their per-author budgets allow.
  publishThrottleRate: 50,
  publishThrottleBurst: 100,
};

/**
 * The fan-out tree's size and pace (shared/fanout/planner.ts, pacer.ts), read as the
 * service limits are: props, else CDK context (`cdk deploy -c deliveryRps=8000`), else
 * FanOutDefaults.
 */
export interface DeliveryLimits {
  /** Posts per second the stage's delivery workers make at most, together; the account's other API Gateway calls need the rest of its throttle. @default 60% of accountRps: 6000 */
  readonly deliveryRps: number;
  /** Delivery workers that run at once: the queue's event source maximum concurrency, from 2 to 1000. @default 10 */
  readonly deliveryWorkers: number;
  /** Posts in flight at once in one delivery worker. @default 100 */
  readonly deliveryConcurrency: number;
  /** Channels with up to about this many subscribers are delivered by the stream consumer itself; larger ones go through the queue. @default 2000 */
  readonly fanOutDirectMax: number;
}

export const DEFAULT_DELIVERY_LIMITS: DeliveryLimits = {
  deliveryRps: FanOutDefaults.deliveryRps,
  deliveryWorkers: FanOutDefaults.deliveryWorkers,
  deliveryConcurrency: FanOutDefaults.deliveryConcurrency,
  fanOutDirectMax: FanOutDefaults.directMax,
};

/** What a limit may be: a whole number or any positive number, within bounds. */
interface Rule {
  /** Fractions allowed (0.2 posts a second: one every 5 s). */
  readonly fractional?: boolean;
  /** The least whole number allowed. @default 1 */
  readonly min?: number;
  readonly max?: number;
  /** Why the bounds are what they are, for the error message. */
  readonly why?: string;
}

const SERVICE_RULES: Readonly<Record<keyof ServiceLimits, Rule>> = {
  maxSubscriptions: {},
  postRateBurst: {},
  postRatePerSecond: { fractional: true },
  actionRateBurst: { min: MAX_ACTION_COST, why: 'the costliest frame must fit in the burst' },
  actionRatePerSecond: { fractional: true },
  publishRateBurst: {},
  publishRatePerSecond: { fractional: true },
  publishThrottleRate: {},
  publishThrottleBurst: {},
  maxConnectionsPerUser: {},
  connectRateBurst: { min: MAX_CONNECT_COST, why: 'a handshake at the follow limit must fit in the burst' },
  connectRatePerSecond: { fractional: true },
  maxTokenAgeSeconds: {},
  throttleRate: {},
  throttleBurst: {},
};

const DELIVERY_RULES: Readonly<Record<keyof DeliveryLimits, Rule>> = {
  deliveryRps: { fractional: true },
  deliveryWorkers: { min: 2, max: 1000, why: "the bounds of an SQS event source's maximum concurrency" },
  deliveryConcurrency: {},
  fanOutDirectMax: {},
};

export function resolveLimits(node: Node, props: Partial<ServiceLimits>, accountRps = DEFAULT_ACCOUNT_RPS): ServiceLimits {
  const { throttleRate, throttleBurst } = throttleBudget(accountRps);
  return resolve(node, props, { ...DEFAULT_SERVICE_LIMITS, throttleRate, throttleBurst }, SERVICE_RULES);
}

export function resolveDeliveryLimits(node: Node, props: Partial<DeliveryLimits>, accountRps = DEFAULT_ACCOUNT_RPS): DeliveryLimits {
  return resolve(node, props, { ...DEFAULT_DELIVERY_LIMITS, deliveryRps: throttleBudget(accountRps).deliveryRps }, DELIVERY_RULES);
}

function resolve<T extends Readonly<Record<keyof T, number>>>(
  node: Node,
  props: Partial<T>,
  defaults: T,
  rules: Readonly<Record<keyof T & string, Rule>>,
): Record<keyof T, number> {
  const resolved: Record<keyof T, number> = { ...defaults };
  // The rules name every limit: Object.keys of that record is exactly keyof T.
  for (const name of Object.keys(rules) as (keyof T & string)[]) {
    const value = readLimit(node, name, props[name], rules[name]);
    if (value !== undefined) resolved[name] = value;
  }
  return resolved;
}

/** One limit: the prop, else CDK context, checked against its rule; undefined when neither gives it. */
function readLimit(node: Node, name: string, given: unknown, rule: Rule): number | undefined {
  const raw: unknown = given ?? node.tryGetContext(name);
  if (raw === undefined) return undefined;
  // Context given on the command line arrives as a string.
  const value = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
  if (!fits(value, rule)) throw new Error(`limit ${name} must be ${describeRule(rule)}, not ${JSON.stringify(raw)}`);
  return value;
}

function fits(value: unknown, rule: Rule): value is number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) return false;
  if (rule.fractional) return true;
  return Number.isInteger(value) && value >= (rule.min ?? 1) && value <= (rule.max ?? Number.POSITIVE_INFINITY);
}

function describeRule(rule: Rule): string {
  if (rule.fractional) return 'a positive number';
  const range = rule.max === undefined ? `a whole number of at least ${rule.min ?? 1}` : `a whole number from ${rule.min ?? 1} to ${rule.max}`;
  return rule.why ? `${range} (${rule.why})` : range;
}
