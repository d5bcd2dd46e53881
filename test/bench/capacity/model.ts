import { costAt, costOf, type ActionCosts, type Units } from './costs';

/**
 * What a workload costs a month on AWS and which quota it meets first, from the per-action costs
 * measured on the local stack (costs.ts) and the facts of the synthesized template. Prices are
 * us-east-1's, on demand, late 2026; quotas are AWS's defaults for a new account.
 */
export interface Workload {
  /** People who come online every day. */
  readonly users: number;
  /** People each one follows; on average, also their followers. */
  readonly follows: number;
  /** Hours a day each is connected, all in the same hours: the peak is everyone at once. */
  readonly hoursOnline: number;
  readonly postsPerDay: number;
  /** Home feed pages each reads a day (the web app reads one when it opens, then listens). */
  readonly feedOpensPerDay: number;
  /** Share of an author's followers online, and so delivered to, when a status is posted. */
  readonly followersOnline: number;
}

/** What the synthesized stack decides. */
export interface StackFacts {
  /** MB, by function role. */
  readonly memoryMb: Readonly<Record<FunctionRole, number>>;
  readonly alarms: number;
  readonly dashboards: number;
  readonly customMetrics: number;
  /** The account's API Gateway throttle the stack is sized for, and its stage's share. */
  readonly accountRps: number;
  readonly stageRps: number;
  /** Mean seconds between a quiet connection's heartbeats. */
  readonly heartbeatSeconds: number;
}

export type FunctionRole = 'authorizer' | 'connect' | 'disconnect' | 'ping' | 'post' | 'feed' | 'fanOut';

/** Assumptions the local stack cannot measure, each a flag of `bench:capacity`. */
export interface Assumptions {
  /** Milliseconds a frame's or connect's function runs (billed duration). */
  readonly lambdaMs: number;
  /** CPU microseconds a delivery adds to the fan-out function (bench:delivery, the lean client). */
  readonly deliveryUs: number;
  /** Bytes of CloudWatch Logs each invocation writes (START, END, REPORT and the handler's lines). */
  readonly logBytesPerInvocation: number;
}

export const DEFAULT_ASSUMPTIONS: Assumptions = { lambdaMs: 25, deliveryUs: 60, logBytesPerInvocation: 600 };

export const PRICES = {
  /** API Gateway WebSocket: per million messages (32 KB each), first billion a month, then after. */
  messages: { firstBillion: 1.0, after: 0.8 },
  connectionMinutes: 0.25,
  /** Lambda, arm64: per million requests and per GB-second. */
  lambdaRequests: 0.2,
  lambdaGbSecond: 0.0000133334,
  /** DynamoDB on demand: per million read and write request units. */
  readUnits: 0.125,
  writeUnits: 0.625,
  /** SQS standard, per million requests; the delivery queue's event source long-polls it while idle. */
  sqsRequests: 0.4,
  idleSqsRequestsPerMonth: 650_000,
  alarm: 0.1,
  dashboard: 3,
  customMetric: 0.3,
  logsIngestedGb: 0.5,
} as const;

/** AWS's default quotas, per account and region unless said otherwise. */
export const QUOTAS = {
  newConnectionsPerSecond: 500,
  lambdaConcurrency: 1_000,
  /** On-demand maximum throughput per table, read and write request units a second. */
  tableReadUnits: 40_000,
  tableWriteUnits: 40_000,
  /** A new on-demand table serves this much at once before it has scaled (warm throughput). */
  newTableWriteUnits: 4_000,
  newTableReadUnits: 12_000,
} as const;

const DAYS = 30;

export interface Line {
  readonly item: string;
  readonly quantity: number;
  readonly unit: string;
  readonly dollars: number;
}

export interface QuotaUse {
  readonly quota: string;
  readonly limit: number;
  /** At the peak, a second. */
  readonly used: number;
  /** limit ÷ used: below 1, the workload does not fit. */
  readonly headroom: number;
  /** The users at which this quota is reached, the rest of the workload the same. */
  readonly reachedAtUsers: number;
}

export interface Plan {
  readonly workload: Workload;
  readonly assumptions: Assumptions;
  readonly perMonth: readonly Line[];
  readonly totalDollars: number;
  /** Every quota, the nearest first. */
  readonly quotas: readonly QuotaUse[];
}

export function plan(workload: Workload, costs: ActionCosts, stack: StackFacts, assumptions: Assumptions = DEFAULT_ASSUMPTIONS): Plan {
  const { users, follows, hoursOnline } = workload;
  // A day's counts, all users together.
  const sessions = users * Math.max(1, Math.ceil(hoursOnline / 2)); // API Gateway ends a connection after 2 hours
  const heartbeats = (users * hoursOnline * 3600) / stack.heartbeatSeconds;
  const posts = users * workload.postsPerDay;
  const reachedPerPost = follows * workload.followersOnline;
  const deliveries = posts * reachedPerPost;
  const feeds = users * workload.feedOpensPerDay;
  const frames = heartbeats + posts + feeds;

  const dynamo = [
    times(costAt(costs, 'connect', follows), sessions),
    times(costAt(costs, 'disconnect', follows), sessions),
    times(costOf(costs, 'post/1').byFunction['Post'] ?? ZERO, posts),
    times(costAt(costs, 'post', reachedPerPost, 'FanOut'), posts),
    times(costAt(costs, 'feed', follows), feeds),
  ].reduce(sum);

  const invocations: Readonly<Record<FunctionRole, number>> = { authorizer: sessions, connect: sessions, disconnect: sessions, ping: heartbeats, post: posts, feed: feeds, fanOut: posts };
  const fanOutMs = assumptions.lambdaMs + (reachedPerPost * assumptions.deliveryUs) / 1000;
  const msOf = (role: FunctionRole) => (role === 'fanOut' ? fanOutMs : assumptions.lambdaMs);
  const roles = Object.keys(invocations) as FunctionRole[];
  const allInvocations = roles.reduce((n, role) => n + invocations[role], 0);
  const gbSeconds = roles.reduce((gbs, role) => gbs + (invocations[role] * msOf(role) * stack.memoryMb[role]) / 1000 / 1024, 0);

  const messages = DAYS * (2 * frames + deliveries); // a frame and its answer; a delivery
  const perMonth: Line[] = [
    { item: 'API Gateway messages', quantity: messages, unit: 'messages', dollars: messageDollars(messages) },
    { item: 'API Gateway connection minutes', quantity: DAYS * users * hoursOnline * 60, unit: 'minutes', dollars: (DAYS * users * hoursOnline * 60 * PRICES.connectionMinutes) / 1e6 },
    { item: 'Lambda requests', quantity: DAYS * allInvocations, unit: 'invocations', dollars: (DAYS * allInvocations * PRICES.lambdaRequests) / 1e6 },
    { item: 'Lambda duration', quantity: DAYS * gbSeconds, unit: 'GB-s', dollars: DAYS * gbSeconds * PRICES.lambdaGbSecond },
    { item: 'DynamoDB reads', quantity: DAYS * dynamo.readUnits, unit: 'read units', dollars: (DAYS * dynamo.readUnits * PRICES.readUnits) / 1e6 },
    { item: 'DynamoDB writes', quantity: DAYS * dynamo.writeUnits, unit: 'write units', dollars: (DAYS * dynamo.writeUnits * PRICES.writeUnits) / 1e6 },
    { item: 'SQS (the idle delivery queue)', quantity: PRICES.idleSqsRequestsPerMonth, unit: 'requests', dollars: (PRICES.idleSqsRequestsPerMonth * PRICES.sqsRequests) / 1e6 },
    {
      item: 'CloudWatch alarms, dashboard, metrics',
      quantity: stack.alarms,
      unit: `alarms, ${stack.dashboards} dashboard${stack.dashboards === 1 ? '' : 's'}, ${stack.customMetrics} custom metrics`,
      dollars: stack.alarms * PRICES.alarm + stack.dashboards * PRICES.dashboard + stack.customMetrics * PRICES.customMetric,
    },
    { item: 'CloudWatch Logs', quantity: (DAYS * allInvocations * assumptions.logBytesPerInvocation) / 1e9, unit: 'GB', dollars: ((DAYS * allInvocations * assumptions.logBytesPerInvocation) / 1e9) * PRICES.logsIngestedGb },
  ];

  // The peak: everyone online in the same hours.
  const perSecond = (daily: number) => daily / (hoursOnline * 3600);
  const concurrency = roles.reduce((c, role) => c + (perSecond(invocations[role]) * msOf(role)) / 1000, 0);
  const quota = (name: string, limit: number, used: number): QuotaUse => ({ quota: name, limit, used, headroom: limit / used, reachedAtUsers: Math.floor((users * limit) / used) });
  const quotas = [
    quota('API Gateway new connections a second (account)', QUOTAS.newConnectionsPerSecond, perSecond(sessions)),
    quota(`API Gateway stage throttle (a quarter of accountRps ${stack.accountRps.toLocaleString('en-US')})`, stack.stageRps, perSecond(frames)),
    quota('API Gateway account throttle: frames and deliveries', stack.accountRps, perSecond(frames + deliveries)),
    quota('Lambda concurrent executions', QUOTAS.lambdaConcurrency, concurrency),
    quota('DynamoDB write units a second, one table (all three counted as one)', QUOTAS.tableWriteUnits, perSecond(dynamo.writeUnits)),
    quota('DynamoDB read units a second, one table (all three counted as one)', QUOTAS.tableReadUnits, perSecond(dynamo.readUnits)),
    quota('DynamoDB new on-demand table, write units a second before it scales (warm it first)', QUOTAS.newTableWriteUnits, perSecond(dynamo.writeUnits)),
    quota('DynamoDB new on-demand table, read units a second before it scales (warm it first)', QUOTAS.newTableReadUnits, perSecond(dynamo.readUnits)),
  ].sort((a, b) => a.headroom - b.headroom);

  return { workload, assumptions, perMonth, totalDollars: perMonth.reduce((total, line) => total + line.dollars, 0), quotas };
}

const ZERO: Units = { readUnits: 0, writeUnits: 0, requests: 0 };
const times = (units: Units, n: number): Units => ({ readUnits: units.readUnits * n, writeUnits: units.writeUnits * n, requests: units.requests * n });
const sum = (a: Units, b: Units): Units => ({ readUnits: a.readUnits + b.readUnits, writeUnits: a.writeUnits + b.writeUnits, requests: a.requests + b.requests });

function messageDollars(messages: number): number {
  const first = Math.min(messages, 1e9);
  return (first * PRICES.messages.firstBillion + (messages - first) * PRICES.messages.after) / 1e6;
}
