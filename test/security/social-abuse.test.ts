// jest's global expect types its asymmetric matchers (expect.any, …) as any; @jest/globals types them.
import { expect } from '@jest/globals';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { randomUUID } from 'node:crypto';
import { LocalStack } from '../support/local-stack';
import type { Frame, TestClient } from '../support/ws-client';

/**
 * Abuse of the social actions on the running local stack, with real WebSocket
 * clients: follow/unfollow to spam an inbox, follows that write the inboxes of
 * ids nobody uses, and presence asked about strangers to learn who exists.
 */
let stack: LocalStack;

beforeAll(async () => {
  stack = await LocalStack.start();
});

afterAll(async () => {
  expect(await stack.stop()).toBe(0);
});

/** User ids of this run only, so a test never meets rows an earlier run left. */
const fresh = (name: string) => `sa-${name}-${randomUUID().slice(0, 8)}`;
const notification = (f: Frame) => f['notification'] as { kind: string; from: string };
const isNotification = (f: Frame, kind: string) => f.type === 'notification' && notification(f).kind === kind;

async function inboxRows(user: string): Promise<unknown[]> {
  const { Items = [] } = await stack.documentClient().send(
    new QueryCommand({
      TableName: stack.tableName('Statuses'),
      KeyConditionExpression: 'channel = :c',
      ExpressionAttributeValues: { ':c': `inbox:${user}` },
      ConsistentRead: true,
    }),
  );
  return Items;
}

describe('follow notifications', () => {
  it('notifies a followed user once, however often the follower unfollows and follows again', async () => {
    const [aliceId, bobId] = [fresh('alice'), fresh('bob')];
    const alice = await stack.connect(aliceId);
    await alice.request({ action: 'subscribe', channels: [`inbox:${aliceId}`] });
    const root = (await alice.request({ action: 'post', text: 'follow me' }))['status'] as { id: string };
    const bob = await stack.connect(bobId);

    for (let cycle = 0; cycle < 5; cycle++) {
      expect(await bob.request({ action: 'follow', user: aliceId })).toMatchObject({ type: 'followed' });
      expect(await bob.request({ action: 'unfollow', user: aliceId })).toMatchObject({ type: 'unfollowed' });
    }
    await bob.request({ action: 'follow', user: aliceId });
    // The inbox delivers in commit order: once this reply's notification is here, every follow notification is too.
    await bob.request({ action: 'post', text: 'the marker', replyTo: root.id });
    await alice.next((f) => isNotification(f, 'reply'));

    expect(alice.frames.filter((f) => f.type === 'notification').map((f) => notification(f))).toEqual([
      { id: expect.any(String), kind: 'follow', from: bobId, at: expect.any(String) },
      { id: expect.any(String), kind: 'reply', from: bobId, at: expect.any(String), status: expect.anything() },
    ]);
    const inbox = await alice.request({ action: 'history', channel: `inbox:${aliceId}` });
    expect((inbox['items'] as { kind: string }[]).map((n) => n.kind)).toEqual(['reply', 'follow']);
  });

  it('writes no inbox item for a user id never seen, yet records the follow for when they join', async () => {
    const [bobId, ghostId] = [fresh('bob'), fresh('ghost')];
    const bob = await stack.connect(bobId);

    expect(await bob.request({ action: 'follow', user: ghostId })).toMatchObject({ type: 'followed', user: ghostId });

    // The notification would have been written before `followed` was sent.
    expect(await inboxRows(ghostId)).toEqual([]);
    expect((await bob.request({ action: 'following' }))['users']).toEqual([ghostId]);
    const ghost = await stack.connect(ghostId);
    expect((await ghost.request({ action: 'history', channel: `inbox:${ghostId}` }))['items']).toEqual([]);
    const posted = (await ghost.request({ action: 'post', text: 'first words' }))['status'] as { id: string };
    await bob.next((f) => f.type === 'status' && (f['status'] as { id: string }).id === posted.id);
  });
});

describe('presence', () => {
  async function presenceOf(asker: TestClient, users: string[]) {
    return (await asker.request({ action: 'presence', users }))['users'];
  }

  it('answers a stranger, online or not, exactly as it answers an id that does not exist', async () => {
    const [kimId, onlineId, offlineId, nobodyId] = [fresh('kim'), fresh('online'), fresh('offline'), fresh('nobody')];
    const kim = await stack.connect(kimId);
    await stack.connect(onlineId);
    await (await stack.connect(offlineId)).close();

    expect(await presenceOf(kim, [onlineId, offlineId, nobodyId])).toEqual([
      { user: onlineId, online: false },
      { user: offlineId, online: false },
      { user: nobodyId, online: false },
    ]);
  });

  it('answers truly for people the asker follows, and for the asker', async () => {
    const [kimId, onlineId, offlineId] = [fresh('kim'), fresh('online'), fresh('offline')];
    const kim = await stack.connect(kimId);
    await stack.connect(onlineId);
    const offline = await stack.connect(offlineId);
    await offline.close();
    await kim.request({ action: 'follow', user: onlineId });
    await kim.request({ action: 'follow', user: offlineId });

    // $disconnect runs after the close, with no event to wait on: ask until it has.
    let answer: { online: boolean }[] = [];
    for (const deadline = Date.now() + 15_000; Date.now() < deadline; ) {
      answer = (await presenceOf(kim, [kimId, onlineId, offlineId])) as { online: boolean }[];
      if (answer[2]?.online === false) break;
    }
    expect(answer).toEqual([
      { user: kimId, online: true, lastSeen: expect.any(String) },
      { user: onlineId, online: true, lastSeen: expect.any(String) },
      { user: offlineId, online: false, lastSeen: expect.any(String) },
    ]);
  });
});
