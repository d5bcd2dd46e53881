// jest's global expect types its asymmetric matchers (expect.any, …) as any; @jest/globals types them.
import { expect } from '@jest/globals';
import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { newId } from '../../shared/ids';
import { userChannel, type Status } from '../../shared/protocol';
import { ClaimStore } from '../../shared/store/claims';
import { PostLog } from '../../shared/store/posts';
import { LocalStack } from '../support/local-stack';
import type { Frame, TestClient } from '../support/ws-client';

/** The home feed (`feed`) and statuses by id (`get`), through plain WebSocket clients on the local stack. */
let stack: LocalStack;

beforeAll(async () => {
  stack = await LocalStack.start();
});

afterAll(async () => {
  expect(await stack.stop()).toBe(0);
});

type FeedItem = Status & { pos?: number };
const status = (f: Frame) => f['status'] as Status;
const post = async (client: TestClient, text: string, replyTo?: string) =>
  status(await client.request({ action: 'post', text, ...(replyTo === undefined ? {} : { replyTo }) }));

/** Every page of a user's feed, `limit` at a time, following `next` to the end. */
async function wholeFeed(client: TestClient, limit: number): Promise<{ items: FeedItem[]; pages: number }> {
  const items: FeedItem[] = [];
  let before: string | undefined;
  for (let pages = 1; ; pages++) {
    const page = await client.request({ action: 'feed', limit, ...(before === undefined ? {} : { before }) });
    expect(page.type).toBe('feed');
    items.push(...(page['items'] as FeedItem[]));
    before = page['next'] as string | undefined;
    if (before === undefined) return { items, pages };
  }
}

describe('feed', () => {
  it("merges the user's own statuses and those of everyone followed, newest first, and pages to the end without a gap or a repeat", async () => {
    const [reader, ann, ben, cat, stranger] = await Promise.all([
      stack.connect('fd-reader'),
      stack.connect('fd-ann'),
      stack.connect('fd-ben'),
      stack.connect('fd-cat'),
      stack.connect('fd-stranger'),
    ]);
    for (const user of ['fd-ann', 'fd-ben', 'fd-cat']) await reader.request({ action: 'follow', user });
    const posted: Status[] = [];
    for (let round = 0; round < 6; round++) {
      for (const [client, name] of [[ann, 'ann'], [ben, 'ben'], [reader, 'me'], [cat, 'cat']] as const) posted.push(await post(client, `${name} ${round}`));
      await post(stranger, `not followed ${round}`);
    }
    // A reply by someone followed is in the feed too, as on their channel.
    const first = posted[0];
    if (!first) throw new Error('nothing posted');
    posted.push(await post(ben, 'ben answers ann', first.id));

    const { items, pages } = await wholeFeed(reader, 7);

    const expected = [...posted].reverse();
    expect(items.map((s) => s.id)).toEqual(expected.map((s) => s.id));
    expect(pages).toBe(Math.ceil(expected.length / 7));
    // Each item carries its position in its author's channel: ben's reply is his 7th status.
    expect(items[0]).toMatchObject({ author: 'fd-ben', text: 'ben answers ann', replyTo: first.id, thread: first.id, pos: 7 });
  });

  it('answers the first page with reply counts for its root statuses', async () => {
    const [reader, dee] = await Promise.all([stack.connect('fd-reader2'), stack.connect('fd-dee')]);
    await reader.request({ action: 'follow', user: 'fd-dee' });
    const root = await post(dee, 'ask me anything');
    await post(reader, 'why?', root.id);
    await post(dee, 'because', root.id);
    const quiet = await post(dee, 'no replies here');

    const page = await reader.request({ action: 'feed' });

    expect((page['items'] as Status[]).map((s) => s.text)).toEqual(['no replies here', 'because', 'why?', 'ask me anything']);
    expect(page['replyCounts']).toEqual({ [root.id]: 2 });
    expect(page['replyCounts']).not.toHaveProperty(quiet.id);
    expect(page['next']).toBeUndefined();
  });

  it('shows a user followed after they posted at once, with what they posted before; an unfollow removes them at once', async () => {
    const [reader, eve] = await Promise.all([stack.connect('fd-reader3'), stack.connect('fd-eve')]);
    const earlier = await post(eve, 'posted before anyone followed');
    const mine = await post(reader, 'my own');
    expect((await reader.request({ action: 'feed' }))['items']).toEqual([expect.objectContaining({ id: mine.id })]);

    await reader.request({ action: 'follow', user: 'fd-eve' });
    expect(((await reader.request({ action: 'feed' }))['items'] as Status[]).map((s) => s.id)).toEqual([mine.id, earlier.id]);

    await reader.request({ action: 'unfollow', user: 'fd-eve' });
    expect(((await reader.request({ action: 'feed' }))['items'] as Status[]).map((s) => s.id)).toEqual([mine.id]);
  });

  it('is empty, with no next, for a new user', async () => {
    const nobody = await stack.connect('fd-new');
    expect(await nobody.request({ action: 'feed', id: 'f1' })).toEqual({ type: 'feed', id: 'f1', items: [] });
  });

  it('reads one page for a user following 1,000 people who all posted', async () => {
    const authors = Array.from({ length: 1000 }, (_, i) => `fd-many${String(i).padStart(4, '0')}`);
    const db = stack.documentClient();
    const follows = stack.tableName('Follows');
    for (let i = 0; i < authors.length; i += 25) {
      const rows = authors.slice(i, i + 25).map((followed) => ({ PutRequest: { Item: { follower: 'fd-fan', followed } } }));
      await db.send(new BatchWriteCommand({ RequestItems: { [follows]: rows } }));
    }
    // Statuses written as a post writes them (rows and heads in one transaction), in a shuffled order: one per author, and a
    // second for every tenth author, so that an author may hold more than one item of a page.
    const log = new PostLog(db, stack.tableName('Statuses'), new ClaimStore(db, stack.tableName('Connections')));
    const order = [...authors, ...authors.filter((_, i) => i % 10 === 0)].sort(() => Math.random() - 0.5);
    const written: Status[] = [];
    for (let i = 0; i < order.length; i += 50) {
      const batch = order.slice(i, i + 50).map((author) => ({ id: newId(), author, text: `from ${author}`, createdAt: new Date().toISOString() }));
      const results = await Promise.all(batch.map((s) => log.append({ status: s, channels: [userChannel(s.author)] })));
      written.push(...results.map((r) => r.status));
    }
    const newest = [...written].sort((a, b) => (a.id < b.id ? 1 : -1));
    const fan = await stack.connect('fd-fan');

    const first = await fan.request({ action: 'feed', limit: 20 });
    const second = await fan.request({ action: 'feed', limit: 20, before: first['next'] });

    expect((first['items'] as Status[]).map((s) => s.id)).toEqual(newest.slice(0, 20).map((s) => s.id));
    expect((second['items'] as Status[]).map((s) => s.id)).toEqual(newest.slice(20, 40).map((s) => s.id));
    expect(second['next']).toBe(newest[39]?.id);
  }, 120_000);

  it('refuses a bad page with bad_request, and the connection carries on', async () => {
    const client = await stack.connect('fd-bad');
    for (const frame of [{ limit: 0 }, { limit: 101 }, { limit: 2.5 }, { before: 'yesterday' }]) {
      expect(await client.request({ action: 'feed', id: 'bad', ...frame })).toMatchObject({ type: 'error', id: 'bad', code: 'bad_request' });
    }
    expect(await client.request({ action: 'feed' })).toMatchObject({ type: 'feed', items: [] });
  });
});

describe('get', () => {
  it('answers known statuses in the order asked and names the unknown ones missing', async () => {
    const [fay, reader] = await Promise.all([stack.connect('fd-fay'), stack.connect('fd-getter')]);
    const root = await post(fay, 'a thread');
    const reply = await post(reader, 'in it', root.id);
    const other = await post(fay, 'another');
    const unknown = '01ARZ3NDEKTSV4RRFFQ69G5FAV';

    const found = await reader.request({ action: 'get', id: 'g', ids: [reply.id, unknown, root.id, other.id, root.id] });

    expect(found).toEqual({ type: 'statuses', id: 'g', statuses: [reply, root, other], missing: [unknown], replyCounts: { [root.id]: 1 } });
  });

  it('refuses a bad list with bad_request, and nothing else of the frame is done', async () => {
    const client = await stack.connect('fd-getbad');
    for (const ids of [[], ['nope'], 'x', Array.from({ length: 101 }, () => '01ARZ3NDEKTSV4RRFFQ69G5FAV')]) {
      expect(await client.request({ action: 'get', id: 'bad', ids })).toMatchObject({ type: 'error', id: 'bad', code: 'bad_request' });
    }
    expect(await client.request({ action: 'get', ids: ['01ARZ3NDEKTSV4RRFFQ69G5FAV'] })).toMatchObject({ type: 'statuses', statuses: [], missing: ['01ARZ3NDEKTSV4RRFFQ69G5FAV'] });
  });
});
