import { costAt, type ActionCosts } from '../../bench/capacity/costs';
import { DEFAULT_ASSUMPTIONS, plan, PRICES, QUOTAS, type StackFacts, type Workload } from '../../bench/capacity/model';

/** bench:capacity's arithmetic, on costs small enough to check by hand. */
const cost = (readUnits: number, writeUnits: number, fn = 'X') => ({
  requests: 1,
  readUnits,
  writeUnits,
  itemsWritten: 0,
  byFunction: { [fn]: { requests: 1, readUnits, writeUnits, itemsWritten: 0 } },
});
const costs: ActionCosts = {
  actions: {
    'connect/20': cost(1, 20),
    'connect/200': cost(1, 200),
    'disconnect/20': cost(0, 20),
    'disconnect/200': cost(0, 200),
    'feed/20': cost(10, 0),
    'feed/200': cost(100, 0),
    'post/1': { ...cost(1, 8), byFunction: { Post: { requests: 1, readUnits: 1, writeUnits: 8, itemsWritten: 4 }, FanOut: { requests: 4, readUnits: 1, writeUnits: 0, itemsWritten: 0 } } },
    'post/101': { ...cost(4, 8), byFunction: { Post: { requests: 1, readUnits: 1, writeUnits: 8, itemsWritten: 4 }, FanOut: { requests: 4, readUnits: 3, writeUnits: 0, itemsWritten: 0 } } },
  },
};
const stack: StackFacts = {
  memoryMb: { authorizer: 512, connect: 512, disconnect: 512, ping: 512, post: 512, feed: 512, fanOut: 1024 },
  alarms: 10,
  dashboards: 1,
  customMetrics: 5,
  accountRps: 10_000,
  stageRps: 2_500,
  heartbeatSeconds: 500,
};
const workload: Workload = { users: 36_000, follows: 110, hoursOnline: 2, postsPerDay: 1, feedOpensPerDay: 1, followersOnline: 0.1 };

describe('bench:capacity', () => {
  it('reads an action between the two sizes it was measured at on the line through them, and by function', () => {
    expect(costAt(costs, 'connect', 110)).toEqual({ readUnits: 1, writeUnits: 110, requests: 1 });
    expect(costAt(costs, 'post', 51, 'FanOut')).toEqual({ readUnits: 2, writeUnits: 0, requests: 4 });
    expect(() => costAt(costs, 'ping', 1)).toThrow(/ping measured at two sizes/);
  });

  it("prices a month of the workload's actions from their measured units", () => {
    const p = plan(workload, costs, stack);
    const line = (item: string) => p.perMonth.find((l) => l.item === item);
    // A day: 36,000 sessions (2 hours online is one), each a connect and a disconnect at 110 follows;
    // 36,000 posts (8 units each, and 11 subscribers' fan-out); 36,000 feed pages.
    expect(line('DynamoDB writes')?.quantity).toBeCloseTo(30 * 36_000 * (110 + 110 + 8));
    expect(line('DynamoDB reads')?.quantity).toBeCloseTo(30 * 36_000 * (1 + 0 + 1 + (1 + 0.2) + 55));
    // Heartbeats: 2 hours / 500 s = 14.4 a user; each frame and its answer are two messages, each delivery one.
    expect(line('API Gateway messages')?.quantity).toBeCloseTo(30 * (2 * 36_000 * (14.4 + 1 + 1) + 36_000 * 11));
    expect(line('API Gateway connection minutes')?.dollars).toBeCloseTo((30 * 36_000 * 120 * PRICES.connectionMinutes) / 1e6);
    expect(p.totalDollars).toBeCloseTo(p.perMonth.reduce((sum, l) => sum + l.dollars, 0));
  });

  it('finds the quota the peak meets first, and the users at which each is reached', () => {
    const p = plan(workload, costs, stack);
    // The peak: a day's connects in the 2 hours everyone is online, 5 a second.
    const connects = p.quotas.find((q) => q.quota.startsWith('API Gateway new connections'));
    expect(connects?.used).toBeCloseTo(5);
    expect(connects?.reachedAtUsers).toBe(Math.floor((36_000 * QUOTAS.newConnectionsPerSecond) / 5));
    const headrooms = p.quotas.map((q) => q.headroom);
    expect(headrooms).toEqual([...headrooms].sort((a, b) => a - b));
    // Writes: 36,000 × 228 units in 7,200 s = 1,140 a second, the nearest of all here to its quota (4,000 for a new table).
    expect(p.quotas[0]).toMatchObject({ quota: expect.stringMatching(/new on-demand table, write units/) as unknown, used: 1_140 });
    expect(plan({ ...workload, users: 360_000 }, costs, stack, DEFAULT_ASSUMPTIONS).quotas[0]?.headroom).toBeLessThan(1);
  });
});
