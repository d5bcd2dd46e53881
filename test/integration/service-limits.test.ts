// jest's global expect types its asymmetric matchers (expect.any, …) as any; @jest/globals types them.
import { expect } from '@jest/globals';
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { LocalStack } from '../support/local-stack';
import type { Frame, TestClient } from '../support/ws-client';
import { Connections } from '../../shared/schema';
import { subscriptionPartition } from '../../shared/store/connection-rows';

/**
 * Updraft's own limits, at their defaults (500 channels per connection, posts
 * in bursts of 10 then 1 per second), on a stack with API Gateway's time
 * limits as they are: these tests take longer than a shortened connection
 * lifetime on a busy machine.
 */
let stack: LocalStack;

/**
 * Posts refill at one token every 5 s here rather than every second: "rapid" posts are the ones
 * charged before a token comes back, and 11 posts of one user contend for their channel's head
 * (each commit advances it, one at a time), which on a loaded machine can spread them past 1 s.
 * The rule under test is the same at any refill rate.
 */
const REFILL_MS = 5_000;

beforeAll(async () => {
  stack = await LocalStack.start({ env: { UPDRAFT_FUNCTION_ENV: `POST_RATE_PER_SECOND=${1000 / REFILL_MS}` } });
});

afterAll(async () => {
  expect(await stack.stop()).toBe(0);
});

/**
 * How long the tests below wait for a reply or a delivery: they do more than the
 * others (500 subscriptions, bursts of posts), and a machine shared with other
 * test runs can take longer than the client's default 10 s. What they assert does
 * not depend on it.
 */
const WAIT_MS = 30_000;

const channelsOf = (prefix: string, from: number, count: number) => Array.from({ length: count }, (_, i) => `user:${prefix}${from + i}`);

async function subscribeAll(client: TestClient, channels: string[]): Promise<void> {
  for (let i = 0; i < channels.length; i += 50) {
    expect(await client.request({ action: 'subscribe', channels: channels.slice(i, i + 50) }, WAIT_MS)).toMatchObject({ type: 'subscribed' });
  }
}

/** Subscription rows of a channel, in all its write shards. */
async function subscriberRows(channel: string): Promise<number> {
  const counts = await Promise.all(
    Array.from({ length: Connections.rows.subscription.shards }, async (_, shard) => {
      const { Count = 0 } = await stack.documentClient().send(
        new QueryCommand({ TableName: stack.tableName('Connections'), KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': subscriptionPartition(channel, shard) }, Select: 'COUNT' }),
      );
      return Count;
    }),
  );
  return counts.reduce((sum, count) => sum + count, 0);
}

/** The `channels` set of a user's only connection, read from its connection row. */
async function channelSetOf(user: string): Promise<Set<string>> {
  const db = stack.documentClient();
  const table = stack.tableName('Connections');
  const { Items = [] } = await db.send(new QueryCommand({ TableName: table, IndexName: 'byUser', KeyConditionExpression: 'userId = :u', ExpressionAttributeValues: { ':u': user } }));
  expect(Items).toHaveLength(1);
  const { Item } = await db.send(new GetCommand({ TableName: table, Key: { pk: `conn#${String(Items[0]?.['connectionId'])}`, sk: 'conn' }, ConsistentRead: true }));
  return (Item?.['channels'] as Set<string> | undefined) ?? new Set();
}

describe('subscriptions per connection', () => {
  it('refuses the 501st channel with bad_request, subscribes nothing from that frame, and the connection carries on', async () => {
    const [client, author] = await Promise.all([stack.connect('many-subs'), stack.connect('subs-author')]);
    await subscribeAll(client, [...channelsOf('sub', 0, 499), 'user:subs-author']);

    const refused = await client.request({ action: 'subscribe', channels: ['user:sub0', 'user:sub-extra'] }, WAIT_MS);

    expect(refused).toMatchObject({ type: 'error', code: 'bad_request', message: expect.stringContaining('at most 500') });
    expect(await subscriberRows('user:sub-extra')).toBe(0);
    // The count does see rows: the connection's earlier subscription is there.
    expect(await subscriberRows('user:sub0')).toBe(1);
    expect(await client.request({ action: 'ping' }, WAIT_MS)).toMatchObject({ type: 'pong' });
    // Channels it already has do not count again.
    expect(await client.request({ action: 'subscribe', channels: channelsOf('sub', 0, 50) }, WAIT_MS)).toMatchObject({ type: 'subscribed' });
    const posted = (await author.request({ action: 'post', text: 'still delivered' }, WAIT_MS))['status'] as { id: string };
    await client.next((f) => f.type === 'status' && (f['status'] as { id: string }).id === posted.id, WAIT_MS);
    // Making room lets the next one in.
    await client.request({ action: 'unsubscribe', channels: ['user:sub0'] }, WAIT_MS);
    expect(await client.request({ action: 'subscribe', channels: ['user:sub-extra'] }, WAIT_MS)).toMatchObject({ type: 'subscribed' });
    expect((await channelSetOf('many-subs')).size).toBe(500);
  }, 120_000);

  it('does not count the channels of people followed, which clients resubscribe to with since after reconnecting', async () => {
    const follower = await stack.connect('follow-subs');
    for (const user of ['fs-a', 'fs-b', 'fs-c']) await follower.request({ action: 'follow', user });
    await follower.close();
    const client = await stack.connect('follow-subs');
    await subscribeAll(client, channelsOf('fsub', 0, 499));

    const resubscribed = await client.request({ action: 'subscribe', channels: ['user:fs-a', 'user:fs-b', 'user:fs-c', 'user:fsub-last'], since: { 'user:fs-a': '00000000000000000000000000' } });
    const refused = await client.request({ action: 'subscribe', channels: ['user:fsub-over'] });

    expect(resubscribed).toMatchObject({ type: 'subscribed', channels: ['user:fs-a', 'user:fs-b', 'user:fs-c', 'user:fsub-last'] });
    expect(refused).toMatchObject({ type: 'error', code: 'bad_request' });
    expect((await channelSetOf('follow-subs')).size).toBe(500);
  }, 120_000);

  it('keeps the limit when frames on one connection race each other', async () => {
    const client = await stack.connect('racing-subs');
    await subscribeAll(client, channelsOf('race', 0, 480));

    const replies = await Promise.all([
      client.request({ action: 'subscribe', channels: channelsOf('race-a', 0, 20) }, WAIT_MS),
      client.request({ action: 'subscribe', channels: channelsOf('race-b', 0, 20) }, WAIT_MS),
    ]);

    expect(replies.map((r) => r.type ?? '').sort()).toEqual(['error', 'subscribed']);
    expect(replies.find((r) => r.type === 'error')).toMatchObject({ code: 'bad_request' });
    expect((await channelSetOf('racing-subs')).size).toBe(500);
  }, 120_000);
});

describe('post rate', () => {
  const textOf = (frame: Frame) => (frame['status'] as { text: string }).text;

  it('refuses the 11th of 11 rapid posts from two connections of one user with rate_limited, storing and delivering nothing of it; once a token is back posting works again', async () => {
    // Warm the post function's containers, so that the 11 posts below are charged within the second.
    // Only the warmth matters here, not the replies: on a starved machine a cold start can pass the
    // function's 10 s timeout, which is the machine's problem and not what this test is about.
    const warm = await stack.connect('rate-warm-up');
    await Promise.allSettled(Array.from({ length: 6 }, (_, i) => warm.request({ action: 'post', text: `warm ${i}` }, WAIT_MS)));
    const [first, second, watcher] = await Promise.all([stack.connect('rapid'), stack.connect('rapid'), stack.connect('rapid-watcher')]);
    await watcher.request({ action: 'subscribe', channels: ['user:rapid'] }, WAIT_MS);

    const replies = await Promise.all(Array.from({ length: 11 }, (_, i) => (i % 2 === 0 ? first : second).request({ action: 'post', text: `rapid ${i}` }, WAIT_MS)));

    const posted = replies.filter((r) => r.type === 'posted');
    const refused = replies.filter((r) => r.type !== 'posted');
    // A post is charged when its function runs, at its createdAt. "Rapid" means within the time
    // the bucket takes to give a token back; a machine too busy for that fails here, saying so.
    const charged = posted.map((r) => Date.parse((r['status'] as { createdAt: string }).createdAt));
    expect(Math.max(...charged) - Math.min(...charged)).toBeLessThan(REFILL_MS);
    expect(posted).toHaveLength(10);
    expect(refused).toEqual([{ type: 'error', id: expect.any(String), code: 'rate_limited', message: expect.stringMatching(/^posting too fast; try again in /), retryAfterMs: expect.any(Number) }]);
    const refusedText = `rapid ${refused[0] ? replies.indexOf(refused[0]) : -1}`;

    // The bucket's own refill is what is waited for: a token back after REFILL_MS.
    await new Promise((resolve) => setTimeout(resolve, REFILL_MS + 100));
    const later = await first.request({ action: 'post', text: 'a second later' }, WAIT_MS);
    expect(later).toMatchObject({ type: 'posted' });

    // The channel's log is ordered, so once the later post has arrived everything before it has too.
    await watcher.next((f) => f.type === 'status' && textOf(f) === 'a second later', WAIT_MS);
    expect(watcher.statuses('user:rapid').map(textOf).sort()).toEqual([...posted.map(textOf), 'a second later'].sort());
    expect(watcher.statuses('user:rapid').map(textOf)).not.toContain(refusedText);
    const { Items = [] } = await stack.documentClient().send(
      new QueryCommand({ TableName: stack.tableName('Statuses'), KeyConditionExpression: 'channel = :c', ExpressionAttributeValues: { ':c': 'user:rapid' } }),
    );
    expect(Items.map((item) => item['text'] as string).sort()).toEqual([...posted.map(textOf), 'a second later'].sort());
  }, 120_000);
});
