/**
 * A rough price of a bench run against a deployed stack, printed before it
 * starts. us-east-1 list prices, late 2026 (README.md, "What it costs");
 * every assumption is named in the text it prints.
 */
import { CONNECTS_PER_SECOND, DRAIN_MS, expectedDeliveries, type Plan } from './plan';

const PRICE = {
  connectionMinute: 0.25 / 1e6,
  /** Per message of up to 32 KB; bench frames are well under 1 KB. */
  message: 1.0 / 1e6,
  lambdaRequest: 0.2 / 1e6,
  /** arm64. */
  lambdaGbSecond: 0.0000133334,
  writeUnit: 0.625 / 1e6,
  readUnit: 0.125 / 1e6,
};

/** Assumed, not measured: the stack's functions are 512 MB (fan-out 1,024 MB). */
const ROUTE = { gb: 0.5, seconds: 0.05 };
const FANOUT = { gb: 1, secondsPerPost: 0.02, secondsPerDelivery: 0.002 };

export interface Estimate {
  readonly connections: number;
  readonly dollars: number;
  readonly lines: readonly string[];
}

export function estimate(plan: Plan): Estimate {
  const connections = plan.subscribers + Math.min(plan.channels, plan.posts);
  const deliveries = expectedDeliveries(plan);
  const runSeconds = connections / CONNECTS_PER_SECOND + plan.posts / plan.rate + DRAIN_MS / 1000;
  const connectionMinutes = connections * Math.ceil(runSeconds / 60);
  // In: a subscribe per subscriber, a post per status. Out: their replies, and the deliveries.
  const messages = 2 * plan.subscribers + 2 * plan.posts + deliveries;
  // Authorizer, $connect and $disconnect per connection, subscribe per subscriber, post and (at most) one fan-out per status.
  const routeInvocations = 3 * connections + plan.subscribers + plan.posts;
  const invocations = routeInvocations + plan.posts;
  const gbSeconds = routeInvocations * ROUTE.gb * ROUTE.seconds + FANOUT.gb * (plan.posts * FANOUT.secondsPerPost + deliveries * FANOUT.secondsPerDelivery);
  // Connection row, user count and presence on connect, their deletes on disconnect; a subscription row and
  // the connection row per subscribe; a post's transaction of up to 8 rows at 2 units. Reads: the post's
  // channel heads, and fan-out's query of subscribers (about 40 rows in a read unit).
  const writeUnits = 6 * connections + 2 * plan.subscribers + 16 * plan.posts;
  const readUnits = 3 * plan.posts + Math.ceil(deliveries / 40);
  const parts = {
    connections: connectionMinutes * PRICE.connectionMinute,
    messages: messages * PRICE.message,
    lambda: invocations * PRICE.lambdaRequest + gbSeconds * PRICE.lambdaGbSecond,
    dynamodb: writeUnits * PRICE.writeUnit + readUnits * PRICE.readUnit,
  };
  const dollars = parts.connections + parts.messages + parts.lambda + parts.dynamodb;
  const money = (d: number) => (d < 0.01 ? `$${d.toFixed(4)}` : `$${d.toFixed(2)}`);
  const n = (x: number) => Math.round(x).toLocaleString('en-US');
  return {
    connections,
    dollars,
    lines: [
      `estimated cost of this run (the whole run, all shards): about ${money(dollars)}`,
      `  connection minutes  ${n(connectionMinutes)} × $0.25/million = ${money(parts.connections)} (${n(connections)} connections, each held the whole run, ${Math.ceil(runSeconds)} s, billed by the started minute)`,
      `  messages            ${n(messages)} × $1.00/million = ${money(parts.messages)} (each frame under 32 KB: one billed message)`,
      `  Lambda              ${n(invocations)} invocations, ${gbSeconds.toFixed(1)} GB-s = ${money(parts.lambda)} (assumed: 512 MB × 50 ms per route call, no authorizer cache; fan-out 1 GB × (20 ms per post + 2 ms per delivery), channels under fanOutDirectMax)`,
      `  DynamoDB            ${n(writeUnits)} write and ${n(readUnits)} read units = ${money(parts.dynamodb)} (on demand; assumed: 6 writes per connection, 2 per subscribe, 16 per post)`,
      '  Not included: CloudWatch Logs ingestion of the functions\' logs, and data transfer.',
    ],
  };
}
