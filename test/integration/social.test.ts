// jest's global expect types its asymmetric matchers (expect.any, …) as any; @jest/globals types them.
import { expect } from '@jest/globals';
import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { LocalStack } from '../support/local-stack';
import { until } from '../support/until';
import type { Frame, TestClient } from '../support/ws-client';

/** Follows, notifications, presence and current status, between people on plain WebSocket clients. */
let stack: LocalStack;

beforeAll(async () => {
  stack = await LocalStack.start();
});

afterAll(async () => {
  expect(await stack.stop()).toBe(0);
});

const connect = (user: string) => stack.connect(user);

const status = (f: Frame) => f['status'] as { id: string; text: string };
const gotStatus = (client: TestClient, id: string) => client.next((f) => f.type === 'status' && status(f).id === id);

describe('following', () => {
  it("subscribes every open connection of the follower at once, and notifies the followed user's inbox", async () => {
    const alice = await connect('f-alice');
    const [phone, laptop] = [await connect('f-bob'), await connect('f-bob')];
    await alice.request({ action: 'subscribe', channels: ['inbox:f-alice'] });

    expect(await phone.request({ action: 'follow', user: 'f-alice' })).toMatchObject({ type: 'followed', user: 'f-alice' });
    const posted = status(await alice.request({ action: 'post', text: 'hi followers' }));

    await Promise.all([gotStatus(phone, posted.id), gotStatus(laptop, posted.id)]);
    const notification = await alice.next((f) => f.type === 'notification');
    expect(notification['notification']).toEqual({ id: expect.any(String), kind: 'follow', from: 'f-bob', at: expect.any(String) });
  });

  it('subscribes a new connection to everyone its user follows, during $connect', async () => {
    const carol = await connect('f-carol');
    const dave = await connect('f-dave');
    await dave.request({ action: 'follow', user: 'f-carol' });
    await dave.close();

    const later = await connect('f-dave');
    const posted = status(await carol.request({ action: 'post', text: 'for my follower' }));

    expect(status(await gotStatus(later, posted.id)).text).toBe('for my follower');
  });

  it('unsubscribes every open connection at once on unfollow', async () => {
    const erin = await connect('f-erin');
    const [one, two] = [await connect('f-frank'), await connect('f-frank')];
    await one.request({ action: 'follow', user: 'f-erin' });
    const before = status(await erin.request({ action: 'post', text: 'before' }));
    await Promise.all([gotStatus(one, before.id), gotStatus(two, before.id)]);

    expect(await two.request({ action: 'unfollow', user: 'f-erin' })).toMatchObject({ type: 'unfollowed', user: 'f-erin' });
    // Erin watches her own channel: the control that receives whatever the channel delivers.
    await erin.request({ action: 'subscribe', channels: ['user:f-erin'] });
    await erin.request({ action: 'post', text: 'after' });
    const marker = status(await erin.request({ action: 'post', text: 'marker' }));

    // Fan-out takes a channel's statuses in order and finishes every post of one before the next,
    // so once the control has the marker, "after" has been handed to each connection it went to.
    // A ping answered on the same socket comes behind anything handed to that socket before it.
    await gotStatus(erin, marker.id);
    await Promise.all([one.request({ action: 'ping' }), two.request({ action: 'ping' })]);
    expect(one.statuses('user:f-erin').map((f) => status(f).text)).toEqual(['before']);
    expect(two.statuses('user:f-erin').map((f) => status(f).text)).toEqual(['before']);

    const reconnected = await connect('f-frank');
    const last = status(await erin.request({ action: 'post', text: 'not for frank' }));
    // The same marker, for a connection opened after the unfollow: "not for frank" is the marker itself.
    await gotStatus(erin, last.id);
    await reconnected.request({ action: 'ping' });
    expect(reconnected.statuses('user:f-erin')).toEqual([]);
  });

  it('delivers from the last of 1,000 people followed, subscribed during $connect', async () => {
    const followed = Array.from({ length: 1000 }, (_, i) => `many${String(i).padStart(4, '0')}`);
    const db = stack.documentClient();
    const table = stack.tableName('Follows');
    for (let i = 0; i < followed.length; i += 25) {
      await db.send(
        new BatchWriteCommand({
          RequestItems: { [table]: followed.slice(i, i + 25).map((user) => ({ PutRequest: { Item: { follower: 'f-fan', followed: user } } })) },
        }),
      );
    }
    const fan = await connect('f-fan');
    const author = await connect(followed.at(-1) ?? 'nobody');

    const posted = status(await author.request({ action: 'post', text: 'the thousandth' }));

    expect(status(await gotStatus(fan, posted.id)).text).toBe('the thousandth');
  });
});

describe('replies and history', () => {
  it('replays a reply after the status it answers', async () => {
    const gina = await connect('f-gina');
    const root = status(await gina.request({ action: 'post', text: 'question' }));
    const reply = status(await gina.request({ action: 'post', text: 'answer', replyTo: root.id }));
    const reader = await connect('f-hal');

    const subscribed = await reader.request({
      action: 'subscribe',
      channels: ['user:f-gina', `thread:${root.id}`],
      since: { 'user:f-gina': '00000000000000000000000000', [`thread:${root.id}`]: root.id },
    });

    const missed = subscribed['missed'] as Record<string, { id: string }[]>;
    expect(missed['user:f-gina']?.map((s) => s.id)).toEqual([root.id, reply.id]);
    expect(missed[`thread:${root.id}`]?.map((s) => s.id)).toEqual([reply.id]);
  });

  it("pages a user's inbox, and reads anyone's current status with history limit 1", async () => {
    const ivan = await connect('f-ivan');
    const judy = await connect('f-judy');
    await judy.request({ action: 'follow', user: 'f-ivan' });
    const first = status(await ivan.request({ action: 'post', text: 'old news' }));
    await judy.request({ action: 'post', text: 'reply', replyTo: first.id });
    const current = status(await ivan.request({ action: 'post', text: 'current status' }));

    const inbox = await ivan.request({ action: 'history', channel: 'inbox:f-ivan' });
    const latest = await judy.request({ action: 'history', channel: 'user:f-ivan', limit: 1 });

    expect((inbox['items'] as { kind: string; from: string }[]).map((n) => [n.kind, n.from])).toEqual([
      ['reply', 'f-judy'],
      ['follow', 'f-judy'],
    ]);
    expect(latest['items']).toEqual([expect.objectContaining({ id: current.id, text: 'current status' })]);
    expect(latest['next']).toBe(current.id);
  });
});

describe('presence', () => {
  it('says who of the people followed is online now, and when the others were last seen', async () => {
    const kim = await connect('p-kim');
    const leo = await connect('p-leo');
    await kim.request({ action: 'follow', user: 'p-leo' });
    await kim.request({ action: 'follow', user: 'p-nobody' });
    await leo.close();
    // $disconnect runs after the socket has closed, with nothing sent to anyone: ask until it has run.
    const leoOnline = async () => ((await kim.request({ action: 'presence', users: ['p-leo'] }))['users'] as { online: boolean }[])[0]?.online;
    await until(async () => (await leoOnline()) === false, "p-leo's $disconnect");

    const reply = await kim.request({ action: 'presence', users: ['p-kim', 'p-leo', 'p-nobody'] });

    expect(reply['users']).toEqual([
      { user: 'p-kim', online: true, lastSeen: expect.any(String) },
      { user: 'p-leo', online: false, lastSeen: expect.any(String) },
      { user: 'p-nobody', online: false },
    ]);
  });
});
