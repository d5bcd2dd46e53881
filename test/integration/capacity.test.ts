import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { BatchWriteCommand, GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { Connections } from '../../shared/schema';
import type { BucketRow } from '../../shared/store/rates';
import { ACTION_COSTS_FILE, type ActionCosts } from '../bench/capacity/costs';
import { Ledger, readLedger, totalCost, type ActionCost } from '../support/ledger';
import { LocalStack, TEST_ASSEMBLY } from '../support/local-stack';
import { deniedRequests } from '../support/iam-check';
import { until } from '../support/until';
import type { TestClient } from '../support/ws-client';

/**
 * What each action costs the tables, counted request by request on the local stack by its DynamoDB
 * ledger (`UPDRAFT_DYNAMODB_LEDGER`), against test/bench/capacity/action-costs.json, from which
 * `npm run bench:capacity` models a deployment's monthly bill. A change that makes an action cost
 * more or less fails here until the file says so (`UPDRAFT_WRITE_COSTS=1 npx jest
 * test/integration/capacity` writes it), so the model cannot drift from the code.
 *
 * Every action is measured alone, after the marker that its last request is made: the answer to
 * the frame; for a disconnect, the stack's log line for `$disconnect`; for a post's fan-out, the
 * last subscriber's delivery. And every request is checked against the template's IAM policies,
 * which DynamoDB Local does not enforce.
 */
let stack: LocalStack;
let ledger: Ledger;
const dir = mkdtempSync(path.join(tmpdir(), 'updraft-capacity-'));

beforeAll(async () => {
  const file = path.join(dir, 'ledger.jsonl');
  stack = await LocalStack.start({ env: { UPDRAFT_DYNAMODB_LEDGER: file } });
  ledger = new Ledger(file);
});

afterAll(async () => {
  expect(await stack.stop()).toBe(0);
  rmSync(dir, { recursive: true, force: true });
});

const measured: Record<string, ActionCost & { itemsCreated?: number }> = {};

/**
 * Runs `action` alone and records what it cost under `name`. First it waits until `user`'s rate
 * buckets (the post, action and connect budgets) are idle: a charge to a bucket still draining
 * costs a refused write and a read more (shared/store/rates.ts), so that the cost measured does not
 * depend on how fast the actions before it ran.
 */
async function measure<T>(name: string, user: string, action: () => Promise<T>, options: { countItems?: boolean } = {}): Promise<T> {
  await until(async () => (await Promise.all([Connections.rows.rate, Connections.rows.budget, Connections.rows.churn].map((row) => bucketIdle(row, user)))).every(Boolean), `${user}'s rate buckets to be idle`);
  ledger.take();
  const before = options.countItems ? await connectionItems() : 0;
  const result = await action();
  const cost = totalCost(ledger.take());
  measured[name] = options.countItems ? { ...cost, itemsCreated: (await connectionItems()) - before } : cost;
  return result;
}

async function bucketIdle(row: BucketRow, user: string): Promise<boolean> {
  const { Item } = await stack.documentClient().send(
    new GetCommand({ TableName: stack.tableName('Connections'), Key: { [Connections.partitionKey]: `${row.prefix}${user}`, [Connections.sortKey]: row.sortKey }, ConsistentRead: true }),
  );
  const tat: unknown = Item?.['tat'];
  return typeof tat !== 'number' || tat < Date.now();
}

async function connectionItems(): Promise<number> {
  let count = 0;
  let start: Record<string, unknown> | undefined;
  do {
    const page = await stack.documentClient().send(new ScanCommand({ TableName: stack.tableName('Connections'), Select: 'COUNT', ExclusiveStartKey: start }));
    count += page.Count ?? 0;
    start = page.LastEvaluatedKey;
  } while (start);
  return count;
}

async function seedFollows(follower: string, followed: readonly string[]): Promise<void> {
  const table = stack.tableName('Follows');
  for (let i = 0; i < followed.length; i += 25) {
    await stack.documentClient().send(new BatchWriteCommand({ RequestItems: { [table]: followed.slice(i, i + 25).map((f) => ({ PutRequest: { Item: { follower, followed: f } } })) } }));
  }
}

const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
const disconnects = (user: string) => stack.output.split('\n').filter((line) => line.includes(` ${user} `) && line.includes('$disconnect')).length;

/** Closes a client and waits for the stack to log that its `$disconnect` ran. */
async function closeAndWait(user: string, client: TestClient): Promise<void> {
  const seen = disconnects(user);
  await client.close();
  await until(() => disconnects(user) > seen, `$disconnect of ${user}`);
}

describe('what each action costs the tables', () => {
  it('measures connects, disconnects, heartbeats, posts and their fan-out, feed pages and follows, and matches the model', async () => {
    // Twenty authors who posted once each, followed by a reader; twenty more for a reader of 200.
    const authors = names('cap-a', 20);
    const others = names('cap-b', 20);
    for (const author of [...authors, ...others]) {
      const client = await stack.connect(author);
      expect((await client.request({ action: 'post', text: `hello from ${author}` })).type).toBe('posted');
      await client.close();
    }

    for (const follows of [20, 200]) {
      const user = `cap-fan${follows}`;
      await seedFollows(user, follows === 20 ? authors : [...others, ...names(`cap-quiet${follows}-`, follows - others.length)]);
      // A reconnect, as every online user makes at least every 2 hours: the user has connected before.
      await closeAndWait(user, await stack.connect(user));
      const client = await measure(`connect/${follows}`, user, () => stack.connect(user), { countItems: true });
      const page = await measure(`feed/${follows}`, user, () => client.request({ action: 'feed', limit: 20 }));
      expect(page['items']).toHaveLength(20);
      if (follows === 20) {
        const pong = await measure('ping', user, () => client.request({ action: 'ping' }));
        expect(pong.type).toBe('pong');
        // The frames a client sends after a reconnect and while reading, one of each.
        const since = { 'thread:01J0000000000000000000000A': '0'.repeat(26), 'user:cap-b1': '0'.repeat(26) };
        expect((await measure('subscribe', user, () => client.request({ action: 'subscribe', channels: Object.keys(since), since }))).type).toBe('subscribed');
        expect((await measure('unsubscribe', user, () => client.request({ action: 'unsubscribe', channels: Object.keys(since) }))).type).toBe('unsubscribed');
        const history = await measure('history', user, () => client.request({ action: 'history', channel: 'user:cap-a0' }));
        expect(history['items']).toHaveLength(1);
        const ids = (page['items'] as { id: string }[]).map((status) => status.id);
        expect((await measure('get', user, () => client.request({ action: 'get', ids }))).type).toBe('statuses');
        expect((await measure('following', user, () => client.request({ action: 'following' })))['users']).toHaveLength(20);
        expect((await measure('presence', user, () => client.request({ action: 'presence', users: authors })))['users']).toHaveLength(20);
        // The follow's notification is fanned out to its inbox: its arrival is the follow's last request.
        const followed = await stack.connect('cap-b0');
        await followed.request({ action: 'subscribe', channels: ['inbox:cap-b0'] });
        await measure('follow', user, async () => {
          await client.request({ action: 'follow', user: 'cap-b0' });
          await followed.next((f) => f.type === 'notification');
        });
        await closeAndWait('cap-b0', followed);
        await measure('unfollow', user, () => client.request({ action: 'unfollow', user: 'cap-b0' }));
      }
      await measure(`disconnect/${follows}`, user, () => closeAndWait(user, client), { countItems: true });
    }

    // A post and its fan-out to 1 and to 101 open connections of followers.
    const author = await stack.connect('cap-author');
    const watchers = names('cap-w', 10);
    for (const watcher of ['cap-w-first', ...watchers]) await seedFollows(watcher, ['cap-author']);
    const postReaching = (name: string, reached: readonly TestClient[]) =>
      measure(name, 'cap-author', async () => {
        const { status } = (await author.request({ action: 'post', text: name })) as { status: { id: string } };
        await Promise.all(reached.map((c) => c.next((f) => f.type === 'status' && (f['status'] as { id: string }).id === status.id)));
      });
    const connections: TestClient[] = [await stack.connect('cap-w-first')];
    await postReaching('post/1', connections);
    for (const watcher of watchers) for (let i = 0; i < 10; i++) connections.push(await stack.connect(watcher));
    await postReaching('post/101', connections);

    // Every request the functions made is one their roles allow on AWS, row kind by row kind: DynamoDB
    // Local checks no IAM, so a grant the code outgrew would first fail in a deployed stack. (LocalStack.stop
    // checks this for every test's stack; here it is checked where the actions are listed.)
    expect(deniedRequests(readLedger(ledger.file), TEST_ASSEMBLY)).toEqual([]);

    const expected = existsSync(ACTION_COSTS_FILE) ? (JSON.parse(readFileSync(ACTION_COSTS_FILE, 'utf8')) as ActionCosts) : undefined;
    if (process.env['UPDRAFT_WRITE_COSTS'] === '1') writeFileSync(ACTION_COSTS_FILE, `${JSON.stringify({ ...expected, actions: measured }, null, 2)}\n`);
    expect(measured).toEqual(expected?.actions);
  });
});
