/**
 * `npm run bench:capacity`: what a workload costs a month on AWS, and the first quota it meets,
 * from what each action costs the tables as measured on the local stack
 * (test/bench/capacity/action-costs.json, kept true by test/integration/capacity.test.ts) and
 * from the synthesized template (memory, alarms, the stage throttle). Prints a table; `--json`
 * prints the plans instead. README.md, "What a million users cost", shows 10k, 100k and 1M users.
 *
 *   npm run bench:capacity -- --users 1000000 --follows 200 --hours 8 --posts 5 --feeds 3 --online 0.25
 */
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { heartbeatsPerSecond, DEFAULT_ACCOUNT_RPS } from '../../cdk/limits';
import { synthIfStale } from '../../local/synth';
import { loadApp } from '../../local/template';
import { MetricName } from '../../shared/metric-names';
import { TEST_ASSEMBLY } from '../support/local-stack';
import { constructName } from '../support/template-json';
import { loadActionCosts } from './capacity/costs';
import { DEFAULT_ASSUMPTIONS, plan, type FunctionRole, type Plan, type StackFacts } from './capacity/model';

const { values: args } = parseArgs({
  options: {
    users: { type: 'string', default: '1000000' },
    follows: { type: 'string', default: '200' },
    hours: { type: 'string', default: '8' },
    posts: { type: 'string', default: '5' },
    feeds: { type: 'string', default: '3' },
    online: { type: 'string', default: '0.25' },
    'account-rps': { type: 'string', default: String(DEFAULT_ACCOUNT_RPS) },
    'lambda-ms': { type: 'string', default: String(DEFAULT_ASSUMPTIONS.lambdaMs) },
    'delivery-us': { type: 'string', default: String(DEFAULT_ASSUMPTIONS.deliveryUs) },
    'log-bytes': { type: 'string', default: String(DEFAULT_ASSUMPTIONS.logBytesPerInvocation) },
    json: { type: 'boolean', default: false },
  },
});

function positive(name: string, value: string, max = Infinity): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > max) throw new Error(`--${name} must be a number above 0${max === Infinity ? '' : ` and at most ${max}`}, not ${JSON.stringify(value)}`);
  return n;
}

const ROLES: Readonly<Record<FunctionRole, string>> = {
  authorizer: 'Authorizer',
  connect: 'Connect',
  disconnect: 'Disconnect',
  ping: 'Ping',
  post: 'Post',
  feed: 'Feed',
  fanOut: 'FanOut',
};

/** What the template decides: each role's memory, the alarms and dashboards, the stage throttle. */
function stackFacts(accountRps: number): StackFacts {
  synthIfStale(path.resolve(__dirname, '..', '..'), TEST_ASSEMBLY, (line) => console.error(line));
  const app = loadApp(TEST_ASSEMBLY);
  const memoryOf = (prefix: string) => {
    const fn = [...app.functions.values()].find((f) => constructName(f.logicalId) === prefix);
    if (!fn) throw new Error(`no function ${prefix} in the template`);
    return fn.memoryMb;
  };
  const memoryMb = Object.fromEntries(Object.entries(ROLES).map(([role, prefix]) => [role, memoryOf(prefix)])) as Record<FunctionRole, number>;
  const count = (type: string) => Object.values(app.resources).filter((r) => r.Type === type).length;
  const stage = Object.values(app.resources).find((r) => r.Type === 'AWS::ApiGatewayV2::Stage' && r.Properties?.['DefaultRouteSettings']);
  const stageRps = Number((stage?.Properties?.['DefaultRouteSettings'] as { ThrottlingRateLimit?: number } | undefined)?.ThrottlingRateLimit);
  if (!Number.isFinite(stageRps)) throw new Error('the template has no WebSocket stage throttle');
  return {
    memoryMb,
    alarms: count('AWS::CloudWatch::Alarm'),
    dashboards: count('AWS::CloudWatch::Dashboard'),
    customMetrics: Object.keys(MetricName).length,
    accountRps,
    stageRps,
    heartbeatSeconds: 1 / heartbeatsPerSecond(1),
  };
}

const money = (dollars: number) => `$${dollars >= 100 ? Math.round(dollars).toLocaleString('en-US') : dollars.toFixed(2)}`;
const amount = (n: number) =>
  n >= 1e9 ? `${(n / 1e9).toFixed(2)} billion` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} million` : n >= 100 || Number.isInteger(n) ? Math.round(n).toLocaleString('en-US') : n.toFixed(1);

function print(p: Plan): void {
  const w = p.workload;
  console.log(
    `\n${w.users.toLocaleString('en-US')} users, each following ${w.follows}, online ${w.hoursOnline} h a day (all in the same hours), ` +
      `${w.postsPerDay} posts and ${w.feedOpensPerDay} feed pages a day, ${Math.round(w.followersOnline * 100)}% of followers online at a post`,
  );
  console.log('  per month (us-east-1, on demand)');
  for (const line of p.perMonth) console.log(`    ${line.item.padEnd(40)} ${money(line.dollars).padStart(10)}   ${amount(line.quantity)} ${line.unit}`);
  console.log(`    ${'total'.padEnd(40)} ${money(p.totalDollars).padStart(10)}`);
  console.log('  AWS quotas at the peak, the nearest first');
  for (const q of p.quotas) {
    const fits = q.headroom >= 1 ? `${q.headroom.toFixed(1)}× headroom` : `OVER by ${(1 / q.headroom).toFixed(1)}×`;
    console.log(`    ${q.quota.padEnd(88)} ${amount(q.used).padStart(12)} of ${q.limit.toLocaleString('en-US').padStart(6)}/s  ${fits}, reached at ${q.reachedAtUsers.toLocaleString('en-US')} users`);
  }
  const first = p.quotas[0];
  if (first) console.log(`  first limit reached: ${first.quota}, at ${first.reachedAtUsers.toLocaleString('en-US')} users`);
}

const stack = stackFacts(positive('account-rps', args['account-rps']));
const costs = loadActionCosts();
const plans = args.users.split(',').map((users) =>
  plan(
    {
      users: positive('users', users),
      follows: positive('follows', args.follows, 1000),
      hoursOnline: positive('hours', args.hours, 24),
      postsPerDay: positive('posts', args.posts),
      feedOpensPerDay: positive('feeds', args.feeds),
      followersOnline: positive('online', args.online, 1),
    },
    costs,
    stack,
    { lambdaMs: positive('lambda-ms', args['lambda-ms']), deliveryUs: positive('delivery-us', args['delivery-us']), logBytesPerInvocation: positive('log-bytes', args['log-bytes']) },
  ),
);
if (args.json) console.log(JSON.stringify({ stack, plans }, null, 2));
else {
  console.log(`the actions' costs: ${path.relative(process.cwd(), path.join(__dirname, 'capacity', 'action-costs.json'))}, measured on the local stack by test/integration/capacity.test.ts`);
  plans.forEach(print);
}
