// jest's global expect types its asymmetric matchers (expect.any, …) as any; @jest/globals types them.
import { expect } from '@jest/globals';
import { QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { LocalStack } from '../support/local-stack';
import { TestClient, type Frame } from '../support/ws-client';

/**
 * Every action of the protocol (docs/protocol.md), through real WebSocket clients, against the
 * local stack running the synthesized template.
 */
let stack: LocalStack;

beforeAll(async () => {
  stack = await LocalStack.start();
});

afterAll(async () => {
  expect(await stack.stop()).toBe(0);
});

const connect = (user: string) => stack.connect(user);

const statusOf = (frame: Frame) => frame['status'] as { id: string; author: string; text: string; createdAt: string; replyTo?: string; thread?: string };

async function connectionRows(): Promise<number> {
  const { Count } = await stack.documentClient().send(new ScanCommand({ TableName: stack.tableName('Connections'), Select: 'COUNT' }));
  return Count ?? 0;
}

describe('connecting', () => {
  it('refuses a missing, malformed or wrongly signed token with 401, and stores nothing', async () => {
    const before = await connectionRows();
    for (const url of [stack.wsUrl, `${stack.wsUrl}?token=`, `${stack.wsUrl}?token=abc.def.ghi`, `${stack.wsUrl}?token=${(await stack.token('alice')).slice(0, -4)}AAAA`]) {
      await expect(TestClient.open(url)).rejects.toMatchObject({ status: 401 });
    }
    expect(await connectionRows()).toBe(before);
  });

  it('answers the dev token endpoint with a token and the WebSocket URL, and refuses a bad user id', async () => {
    const ok = await fetch(`${stack.httpUrl}/dev/token?user=alice`);
    expect(await ok.json()).toEqual({ token: expect.stringMatching(/^ey/), wsUrl: stack.wsUrl });
    const bad = await fetch(`${stack.httpUrl}/dev/token?user=not%20valid`);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'bad_request' });
  });
});

describe('statuses', () => {
  it('delivers a post to every subscriber of the author channel, and posted to the author', async () => {
    const [alice, bob, carol] = await Promise.all([connect('alice1'), connect('bob1'), connect('carol1')]);
    expect(await bob.request({ action: 'subscribe', channels: ['user:alice1'] })).toMatchObject({ type: 'subscribed', channels: ['user:alice1'] });
    await carol.request({ action: 'subscribe', channels: ['user:alice1'] });

    const posted = await alice.request({ action: 'post', text: '  hello, friends  ' });

    expect(posted).toMatchObject({ type: 'posted', status: { author: 'alice1', text: 'hello, friends' } });
    const id = statusOf(posted).id;
    for (const watcher of [bob, carol]) {
      const delivered = await watcher.next((f) => f.type === 'status' && statusOf(f).id === id);
      // At the channel's first position: alice1 never posted before.
      expect(delivered).toEqual({ type: 'status', channel: 'user:alice1', status: posted['status'], pos: 1 });
    }
  });

  it('stops delivering after unsubscribe', async () => {
    const [alice, bob] = await Promise.all([connect('alice2'), connect('bob2')]);
    await bob.request({ action: 'subscribe', channels: ['user:alice2'] });
    const first = await alice.request({ action: 'post', text: 'one' });
    await bob.next((f) => f.type === 'status' && statusOf(f).id === statusOf(first).id);

    expect(await bob.request({ action: 'unsubscribe', channels: ['user:alice2'] })).toMatchObject({ type: 'unsubscribed', channels: ['user:alice2'] });
    await alice.request({ action: 'post', text: 'two' });
    const marker = await alice.request({ action: 'post', text: 'three' });
    await alice.request({ action: 'subscribe', channels: ['user:alice2'] });
    await alice.request({ action: 'post', text: 'four' });
    await alice.next((f) => f.type === 'status' && statusOf(f).text === 'four');

    expect(bob.statuses('user:alice2').map((f) => statusOf(f).text)).toEqual(['one']);
    expect(statusOf(marker).text).toBe('three');
  });

  it('returns the first status for a repeated request id and delivers it once', async () => {
    const [alice, bob] = await Promise.all([connect('alice3'), connect('bob3')]);
    await bob.request({ action: 'subscribe', channels: ['user:alice3'] });

    const first = await alice.request({ action: 'post', text: 'only once', id: 'retry-42' });
    const again = await alice.request({ action: 'post', text: 'only once', id: 'retry-42' });
    const later = await alice.request({ action: 'post', text: 'after' });
    for (const status of [first, later]) await bob.next((f) => f.type === 'status' && statusOf(f).id === statusOf(status).id);
    // Anything re-sent would have arrived with or before `after`, on the same channel.

    expect(again).toEqual(first);
    expect(bob.statuses('user:alice3').map((f) => statusOf(f).text)).toEqual(['only once', 'after']);
  });

  it('refuses a repeated request id with another text or replyTo as conflict, storing and delivering nothing', async () => {
    const [alice, bob] = await Promise.all([connect('alice3c'), connect('bob3c')]);
    await bob.request({ action: 'subscribe', channels: ['user:alice3c'] });
    const first = await alice.request({ action: 'post', text: 'the plan', id: 'retry-7' });

    const changed = await alice.request({ action: 'post', text: 'another plan', id: 'retry-7' });
    const asReply = await alice.request({ action: 'post', text: 'the plan', replyTo: statusOf(first).id, id: 'retry-7' });
    const retried = await alice.request({ action: 'post', text: 'the plan', id: 'retry-7' });
    const later = await alice.request({ action: 'post', text: 'after' });
    await bob.next((f) => f.type === 'status' && statusOf(f).id === statusOf(later).id);

    expect(changed).toEqual({ type: 'error', id: 'retry-7', code: 'conflict', message: expect.stringContaining(statusOf(first).id) });
    expect(asReply).toMatchObject({ type: 'error', id: 'retry-7', code: 'conflict' });
    expect(retried).toEqual(first);
    expect(bob.statuses('user:alice3c').map((f) => statusOf(f).text)).toEqual(['the plan', 'after']);
    const history = await alice.request({ action: 'history', channel: 'user:alice3c' });
    expect((history['items'] as { text: string }[]).map((item) => item.text)).toEqual(['after', 'the plan']);
  });

  it('threads replies, delivers them on the thread, and notifies the author answered', async () => {
    const [alice, bob, watcher] = await Promise.all([connect('alice4'), connect('bob4'), connect('dave4')]);
    await alice.request({ action: 'subscribe', channels: ['inbox:alice4'] });
    const root = statusOf(await alice.request({ action: 'post', text: 'what do you think?' }));
    await watcher.request({ action: 'subscribe', channels: [`thread:${root.id}`] });

    const reply = await bob.request({ action: 'post', text: 'yes', replyTo: root.id });
    const nested = await alice.request({ action: 'post', text: 'thanks', replyTo: statusOf(reply).id });

    expect(statusOf(reply)).toMatchObject({ replyTo: root.id, thread: root.id });
    expect(statusOf(nested)).toMatchObject({ replyTo: statusOf(reply).id, thread: root.id });
    const notification = await alice.next((f) => f.type === 'notification');
    expect(notification).toEqual({
      type: 'notification',
      notification: { id: statusOf(reply).id, kind: 'reply', from: 'bob4', status: reply['status'], at: statusOf(reply).createdAt },
      pos: 1,
    });
    await watcher.next((f) => f.type === 'status' && statusOf(f).id === statusOf(nested).id);
    expect(watcher.statuses(`thread:${root.id}`).map((f) => statusOf(f).text)).toEqual(['yes', 'thanks']);
    // Answering yourself notifies nobody: alice answers her own root, then bob answers again
    // (a marker); alice's inbox holds only bob's two replies.
    await alice.request({ action: 'post', text: 'note to self', replyTo: root.id });
    const marker = await bob.request({ action: 'post', text: 'marker', replyTo: root.id });
    await alice.next((f) => f.type === 'notification' && (f['notification'] as { id: string }).id === statusOf(marker).id);
    expect(alice.frames.filter((f) => f.type === 'notification').map((f) => (f['notification'] as { from: string }).from)).toEqual(['bob4', 'bob4']);
  });

  it('answers not_found for a reply to a status that does not exist', async () => {
    const alice = await connect('alice5');
    expect(await alice.request({ action: 'post', text: 'hm', replyTo: '01JD0000000000000000000000' })).toMatchObject({ type: 'error', code: 'not_found' });
  });
});

describe('history and replay', () => {
  it('pages a channel newest first, then oldest first after a cursor', async () => {
    const alice = await connect('alice6');
    const ids: string[] = [];
    for (let i = 1; i <= 5; i++) ids.push(statusOf(await alice.request({ action: 'post', text: `status ${i}` })).id);
    const itemIds = (f: Frame) => (f['items'] as { id: string }[]).map((s) => s.id);

    const newest = await alice.request({ action: 'history', channel: 'user:alice6', limit: 2 });
    expect(itemIds(newest)).toEqual([ids[4], ids[3]]);
    expect(newest['next']).toBe(ids[3]);
    const older = await alice.request({ action: 'history', channel: 'user:alice6', before: newest['next'], limit: 10 });
    expect(itemIds(older)).toEqual([ids[2], ids[1], ids[0]]);
    expect(older).not.toHaveProperty('next');
    const after = await alice.request({ action: 'history', channel: 'user:alice6', after: ids[1], limit: 2 });
    expect(itemIds(after)).toEqual([ids[2], ids[3]]);
    expect(after['next']).toBe(ids[3]);
  });

  it('replays what a client missed while disconnected when it resubscribes with since', async () => {
    const [alice, bob] = await Promise.all([connect('alice7'), connect('bob7')]);
    await bob.request({ action: 'subscribe', channels: ['user:alice7'] });
    const seen = statusOf(await alice.request({ action: 'post', text: 'before' }));
    await bob.next((f) => f.type === 'status' && statusOf(f).id === seen.id);
    await bob.close();

    const missed = [statusOf(await alice.request({ action: 'post', text: 'while away 1' })), statusOf(await alice.request({ action: 'post', text: 'while away 2' }))];
    const back = await connect('bob7');
    const reply = await back.request({ action: 'subscribe', channels: ['user:alice7'], since: { 'user:alice7': seen.id } });

    // The channel stood at 3 when the subscription began: what was missed holds positions 2 and 3.
    expect(reply).toMatchObject({ type: 'subscribed', channels: ['user:alice7'], positions: { 'user:alice7': 3 } });
    expect(reply).not.toHaveProperty('truncated');
    expect((reply['missed'] as Record<string, unknown[]>)['user:alice7']).toEqual(missed.map((status, i) => ({ ...status, pos: i + 2 })));
    const live = statusOf(await alice.request({ action: 'post', text: 'back live' }));
    await back.next((f) => f.type === 'status' && statusOf(f).id === live.id);
  });

  it("refuses another user's inbox", async () => {
    const alice = await connect('alice8');
    expect(await alice.request({ action: 'subscribe', channels: ['inbox:bob8'] })).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(await alice.request({ action: 'history', channel: 'inbox:bob8' })).toMatchObject({ type: 'error', code: 'forbidden' });
  });
});

describe('errors', () => {
  it('answers each bad frame with its code and keeps the connection usable', async () => {
    const alice = await connect('alice9');

    alice.sendRaw('this is not json');
    expect(await alice.next((f) => f.type === 'error' && f['code'] === 'bad_request')).toMatchObject({ message: 'frame is not valid JSON' });
    expect(await alice.request({ action: 'levitate' })).toMatchObject({ type: 'error', code: 'unknown_action' });
    expect(await alice.request({ action: 'post', text: '' })).toMatchObject({ type: 'error', code: 'bad_request' });
    expect(await alice.request({ action: 'post', text: 'x'.repeat(501) })).toMatchObject({ type: 'error', code: 'bad_request' });
    expect(await alice.request({ action: 'subscribe', channels: ['nowhere'] })).toMatchObject({ type: 'error', code: 'bad_request' });
    expect(await alice.request({ action: 'history', channel: 'user:alice9', limit: 1000 })).toMatchObject({ type: 'error', code: 'bad_request' });

    expect(await alice.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
    const { Count } = await stack.documentClient().send(
      new QueryCommand({ TableName: stack.tableName('Statuses'), KeyConditionExpression: 'channel = :c', ExpressionAttributeValues: { ':c': 'user:alice9' }, Select: 'COUNT' }),
    );
    expect(Count).toBe(0);
  });
});
