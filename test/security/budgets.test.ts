import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { SignJWT } from 'jose';
import { signToken } from '../../shared/auth';
import { FollowStore } from '../../shared/store/follows';
import { LocalStack } from '../support/local-stack';
import { until } from '../support/until';
import { TestClient, type Frame } from '../support/ws-client';

/**
 * Issue 12, items 4 and 7: a budget on every action, a cap on connections per user, and
 * tokens that do not live forever. Each test is an attack a user could make on the
 * running stack, and asserts the refusal, that nothing of it was stored, and that
 * others carry on.
 *
 * Test-only settings (UPDRAFT_FUNCTION_ENV): a burst of 400 rather than the default 1,250, so that
 * a few frames spend it, and ACTION_RATE_PER_SECOND=0.01, which refills it by one unit in 100 s, so whether the nth frame of a burst is
 * refused does not depend on how fast this machine runs the frames before it. The connect budget
 * likewise: 120 units (40 handshakes of a user who follows nobody, 3 units each) refilled at 0.01 a second.
 */
const dataDir = mkdtempSync(path.join(tmpdir(), 'updraft-budgets-'));
let stack: LocalStack;
let secret: string;

beforeAll(async () => {
  // A stack with a data folder keeps its JWT secret in a file, which lets this test sign its own tokens.
  stack = await LocalStack.start({ dataDir, env: { UPDRAFT_FUNCTION_ENV: 'ACTION_RATE_BURST=400,ACTION_RATE_PER_SECOND=0.01,CONNECT_RATE_BURST=120,CONNECT_RATE_PER_SECOND=0.01' } });
  ({ secret } = stack.jwtSecret());
});

afterAll(async () => {
  await stack.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const isRateLimited = (reply: Frame) => reply.type === 'error' && reply['code'] === 'rate_limited';

async function rows(tableName: string, prefix: string, attribute: string): Promise<string[]> {
  const { Items = [] } = await stack.documentClient().send(new ScanCommand({ TableName: stack.tableName(tableName) }));
  return Items.map((item) => String(item[attribute])).filter((value) => value.startsWith(prefix));
}

describe('connections per user (10)', () => {
  it('refuses the 11th connection of a user with 429 while the first 10 carry on, and another user connects', async () => {
    const first = await Promise.all(Array.from({ length: 10 }, () => stack.connect('many')));

    await expect(stack.connect('many')).rejects.toMatchObject({ status: 429 });

    for (const client of first) expect(await client.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
    const other = await stack.connect('someone-else');
    expect(await other.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
    // Nothing was stored for the refused handshake: ten connection rows, no more.
    const { Items = [] } = await stack.documentClient().send(
      new QueryCommand({ TableName: stack.tableName('Connections'), IndexName: 'byUser', KeyConditionExpression: 'userId = :u', ExpressionAttributeValues: { ':u': 'many' } }),
    );
    expect(Items).toHaveLength(10);

    // A closed connection frees its slot, once its $disconnect has run (the slot row says when).
    await first[0]?.close();
    let slots = 10;
    const countSlots = async () => {
      const { Items = [] } = await stack.documentClient().send(new ScanCommand({ TableName: stack.tableName('Connections') }));
      const row = Items.find((item) => item['pk'] === 'open#many');
      slots = Object.keys((row?.['connections'] as Record<string, number> | undefined) ?? {}).length;
    };
    const polling = setInterval(() => void countSlots(), 100);
    await until(() => slots === 9, 'the closed connection to give its slot back').finally(() => clearInterval(polling));
    const eleventh = await stack.connect('many');
    expect(await eleventh.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
    await Promise.all([...first.slice(1), other, eleventh].map((client) => client.close()));
  });

  it('lets no more than 10 through when they all connect at once', async () => {
    const attempts = await Promise.allSettled(Array.from({ length: 16 }, () => stack.connect('stampede')));

    const opened = attempts.filter((a) => a.status === 'fulfilled');
    expect(opened).toHaveLength(10);
    expect(attempts.filter((a) => a.status === 'rejected').map((a) => (a.reason as { status?: number }).status)).toEqual(Array(6).fill(429));
    await Promise.all(opened.map((a) => a.value.close()));
  });
});

describe('the action budget (bursts of 400 cost units per user)', () => {
  it('refuses a burst of subscribe with since on 50 channels (cost 101), storing nothing of the refused frames', async () => {
    const client = await stack.connect('subscriber');
    const since = (i: number) => Object.fromEntries(Array.from({ length: 50 }, (_, j) => [`user:burst${i}-${j}`, '01JD0000000000000000000000']));

    const replies: Frame[] = [];
    for (let i = 0; i < 5; i++) replies.push(await client.request({ action: 'subscribe', channels: Object.keys(since(i)), since: since(i) }));

    expect(replies.map((r) => r.type)).toEqual(['subscribed', 'subscribed', 'subscribed', 'error', 'error']);
    expect(isRateLimited(replies[3] ?? {})).toBe(true);
    expect(replies[3]?.['retryAfterMs']).toEqual(expect.any(Number));
    const subscribed = await rows('Connections', 'chan#user:burst', 'pk');
    expect(new Set(subscribed.map((pk) => /burst(\d+)-/.exec(pk)?.[1]))).toEqual(new Set(['0', '1', '2']));
    // The connection carries on: a free frame still works.
    expect(await client.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
  });

  it('refuses a burst of follows (cost 10) after 40, storing no follow and no notification for the refused ones', async () => {
    const client = await stack.connect('follower');

    const replies: Frame[] = [];
    for (let i = 0; i < 42; i++) replies.push(await client.request({ action: 'follow', user: `followed${i}` }));

    expect(replies.slice(0, 40).every((r) => r.type === 'followed')).toBe(true);
    expect(replies.slice(40).every(isRateLimited)).toBe(true);
    const follows = await rows('Follows', 'followed', 'followed');
    expect(follows.sort()).toEqual(Array.from({ length: 40 }, (_, i) => `followed${i}`).sort());
    expect(await rows('Statuses', 'inbox:followed40', 'channel')).toEqual([]);
  });

  it('charges presence (2 per user asked) and history from the same budget, and leaves other users alone', async () => {
    const client = await stack.connect('watcher');
    const bystander = await stack.connect('bystander');
    const users = Array.from({ length: 100 }, (_, i) => `u${i}`);

    const presence = [await client.request({ action: 'presence', users }), await client.request({ action: 'presence', users })];
    const history = await client.request({ action: 'history', channel: 'user:watcher' });
    const third = await client.request({ action: 'presence', users: ['u1'] });

    expect(presence.map((r) => r.type)).toEqual(['presence', 'presence']);
    expect(isRateLimited(history)).toBe(true);
    expect(isRateLimited(third)).toBe(true);
    expect(await bystander.request({ action: 'presence', users })).toMatchObject({ type: 'presence' });
    expect(await bystander.request({ action: 'history', channel: 'user:watcher' })).toMatchObject({ type: 'history' });
    expect(await client.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
  });
});

describe('reads charged by what they read (bursts of 400 cost units per user)', () => {
  it("charges a feed page the heads of everyone followed, before reading them: following 100, 4 pages, not 12", async () => {
    // The follows are made through the store, as 100 follow frames would (and would spend the budget first).
    const follows = new FollowStore(stack.documentClient(), stack.tableName('Follows'), 1000);
    for (let i = 0; i < 100; i++) await follows.follow('reader', `author${i}`, Date.now());
    const client = await stack.connect('reader');

    const replies: Frame[] = [];
    // 41 for a page of 20, and the heads past the 20 prepaid: 101 heads are 51 units, 10 prepaid. 82 a page.
    for (let i = 0; i < 5; i++) replies.push(await client.request({ action: 'feed' }));

    expect(replies.map((r) => r.type)).toEqual(['feed', 'feed', 'feed', 'feed', 'error']);
    expect(isRateLimited(replies[4] ?? {})).toBe(true);
    expect(await client.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
  });

  it('charges get a read unit per status asked and half one per thread head: 100 ids twice, not a third time', async () => {
    const client = await stack.connect('getter');
    const ids = Array.from({ length: 100 }, (_, i) => `01JD${String(i).padStart(22, '0')}`);

    const replies = [await client.request({ action: 'get', ids }), await client.request({ action: 'get', ids }), await client.request({ action: 'get', ids })];

    expect(replies.map((r) => r.type)).toEqual(['statuses', 'statuses', 'error']);
    expect(isRateLimited(replies[2] ?? {})).toBe(true);
  });
});

describe('connect budget (3 units a handshake and one per follow)', () => {
  it('refuses a reconnect loop with 429 once its handshakes have spent the budget, though each connection closed, and stores nothing for it', async () => {
    const loopersRows = async () => {
      const { Items = [] } = await stack.documentClient().send(new ScanCommand({ TableName: stack.tableName('Connections'), ConsistentRead: true }));
      return Items.filter((item) => item['userId'] === 'looper' || item['pk'] === 'open#looper');
    };
    for (let i = 0; i < 40; i++) await (await stack.connect('looper')).close();
    // Every $disconnect has run: no connection row, and an empty slot map.
    let left: Awaited<ReturnType<typeof loopersRows>> = [];
    await until(async () => {
      left = await loopersRows();
      return left.every((item) => item['pk'] === 'open#looper' && Object.keys((item['connections'] as object | undefined) ?? {}).length === 0);
    }, "the closed connections' $disconnects");

    // The 41st is refused, though the user has no connection open: the budget counts handshakes, not open connections.
    await expect(stack.connect('looper')).rejects.toMatchObject({ status: 429 });

    // $connect had finished when the handshake was refused; it took no slot and wrote no row.
    expect(await loopersRows()).toEqual(left);
    // Others carry on.
    const other = await stack.connect('looper-neighbour');
    expect(await other.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
    await other.close();
  });

  it('charges a handshake what it writes: a user following 37 people gets 3 (40 units each), not 40', async () => {
    const follows = new FollowStore(stack.documentClient(), stack.tableName('Follows'), 1000);
    for (let i = 0; i < 37; i++) await follows.follow('fan', `star${i}`, Date.now());

    const opened = [await stack.connect('fan'), await stack.connect('fan'), await stack.connect('fan')];
    await expect(stack.connect('fan')).rejects.toMatchObject({ status: 429 });

    for (const client of opened) expect(await client.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
    await Promise.all(opened.map((client) => client.close()));
  });
});

describe('token lifetime (24 hours at most)', () => {
  it('refuses at the handshake a token issued more than 24 hours ago, though its exp is years away', async () => {
    const now = Math.floor(Date.now() / 1000);
    const old = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('old-token')
      .setIssuedAt(now - 25 * 60 * 60)
      .setExpirationTime(Date.parse('2200-01-01T00:00:00Z') / 1000)
      .sign(new TextEncoder().encode(secret));

    await expect(TestClient.open(`${stack.wsUrl}?token=${old}`)).rejects.toMatchObject({ status: 401 });
    expect(await rows('Connections', 'presence#old-token', 'pk')).toEqual([]);
  });

  it('closes a connection whose token expires while it sends nothing, instead of delivering to it', async () => {
    const poster = await stack.connect('poster');
    const expiresAt = Math.floor(Date.now() / 1000) + 4;
    const idle = await TestClient.open(`${stack.wsUrl}?token=${await signToken('idle', secret, expiresAt)}`);
    expect(await idle.request({ action: 'subscribe', channels: ['user:poster'] })).toMatchObject({ type: 'subscribed' });
    expect(await poster.request({ action: 'post', text: 'before expiry' })).toMatchObject({ type: 'posted' });
    await idle.next((f) => f.type === 'status');

    // The token's expiry has to pass; from then on the idle client sends nothing at all.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt * 1000 - Date.now()) + 200));
    expect(await poster.request({ action: 'post', text: 'after expiry' })).toMatchObject({ type: 'posted' });
    // Whichever comes first: the close, or (the old behaviour) the status after expiry.
    const delivered = new Promise<string>((resolve) => idle.socket.on('message', (data: Buffer) => data.toString().includes('after expiry') && resolve('delivered after expiry')));
    const outcome = await Promise.race([idle.closed.then(() => 'closed'), delivered]);

    expect(outcome).toBe('closed');
    expect(idle.statuses('user:poster').map((f) => (f['status'] as { text: string }).text)).toEqual(['before expiry']);
    expect(await poster.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
  });
});
