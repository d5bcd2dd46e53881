import { jest } from '@jest/globals';
import fc from 'fast-check';
import { estimate } from '../../../../../clients/cli/bench/cost';
import { expectedDeliveries, planOf, postsTo, shardPosts, shardSubscribers } from '../../../../../clients/cli/bench/plan';
import { UsageError } from '../../../../../clients/cli/errors';
import { main } from '../../../../../clients/cli/main';

describe('bench plans', () => {
  it("n shards split the run's subscribers and posts into n disjoint parts that cover it", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 8 }), (subscribers, posts, shards) => {
        const parts = Array.from({ length: shards }, (_, i) =>
          planOf({ subscribers: String(subscribers), channels: '1', posts: String(posts), shard: `${i + 1}/${shards}`, run: 'r' }),
        );

        const subs = parts.flatMap(shardSubscribers).sort((a, b) => a - b);
        const sent = parts.flatMap(shardPosts).sort((a, b) => a - b);

        expect(subs).toEqual(Array.from({ length: subscribers }, (_, j) => j));
        expect(sent).toEqual(Array.from({ length: posts }, (_, k) => k));
      }),
    );
  });

  it('expects each subscriber to get every post of its channel', () => {
    const plan = planOf({ subscribers: '50', channels: '3', posts: '20' });

    expect([0, 1, 2].map((c) => postsTo(plan, c))).toEqual([7, 7, 6]);
    // 17 subscribers on channels 0 and 1, 16 on channel 2.
    expect(expectedDeliveries(plan)).toBe(17 * 7 + 17 * 7 + 16 * 6);
  });

  it('takes --duration as posts at the rate, and refuses both --posts and --duration', () => {
    expect(planOf({ rate: '20/s', duration: '2m' }).posts).toBe(2400);
    expect(() => planOf({ posts: '5', duration: '1m' })).toThrow(UsageError);
  });

  it('prices a run: connection minutes, messages, Lambda and DynamoDB', () => {
    const plan = planOf({ subscribers: '1000', channels: '10', posts: '100', rate: '10' });

    const cost = estimate(plan);

    // 1,000 subscribers and 10 posters; messages: 1,000 subscribes and their replies, 100 posts and theirs, 10,000 deliveries.
    expect(cost.connections).toBe(1010);
    expect(cost.lines.join('\n')).toContain('messages            12,200 × $1.00/million');
    expect(cost.dollars).toBeGreaterThan(0.0122);
    expect(cost.dollars).toBeLessThan(0.1);
  });

  it('prints the estimate and waits for --yes above 1,000 connections on a deployed stack', async () => {
    const written: string[] = [];
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    try {
      // A port where nothing listens: the refusal must come before any connection.
      const run = main(['bench', '--url', 'wss://127.0.0.1:9/prod', '--token-cmd', 'echo t-{user}', '--subscribers', '2000', '--channels', '10']);

      await expect(run).rejects.toThrow('this run opens 2010 connections (over 1000): add --yes to run it');
      expect(written.join('')).toMatch(/estimated cost of this run \(the whole run, all shards\): about \$/);
    } finally {
      spy.mockRestore();
    }
  });
});
