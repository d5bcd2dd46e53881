import fc from 'fast-check';
import { feed, get } from '../../../../shared/domain/feed';
import type { Status } from '../../../../shared/protocol';
import type { PageQuery } from '../../../../shared/store/statuses';

/**
 * The feed's merge against a plain one: channels in memory, each a list of numbers. Ids are
 * fixed-width numbers, so string order is number order, as with ULIDs.
 */
function world(channels: Record<string, number[]>) {
  const id = (n: number) => String(n).padStart(8, '0');
  // Ids are unique across channels, as status ids are: n, then the channel's index, as digits.
  const statuses = Object.entries(channels).flatMap(([author, ns], index) =>
    [...new Set(ns)].sort((a, b) => a - b).map((n, i): Status & { pos: number } => ({ id: id(n * 10 + index), author, text: `${author} ${n}`, createdAt: '2026-11-27T00:00:00.000Z', pos: i + 1 })),
  );
  const of = (channel: string) => statuses.filter((s) => `user:${s.author}` === channel);
  const queried: PageQuery[] = [];
  const deps = {
    follows: { following: (user: string) => Promise.resolve(Object.keys(channels).filter((author) => author !== user)) },
    heads: {
      read: (names: readonly string[]) =>
        Promise.resolve(new Map(names.map((name) => [name, { pos: of(name).length, ...(of(name).length > 0 ? { last: of(name).at(-1)?.id } : {}) }]))),
    },
    statuses: {
      page: (query: PageQuery) => {
        queried.push(query);
        const below = of(query.channel)
          .filter((s) => query.before === undefined || s.id < query.before)
          .reverse();
        return Promise.resolve({ items: below.slice(0, query.limit), more: below.length > query.limit });
      },
    },
  };
  return { deps, queried, newestFirst: [...statuses].sort((a, b) => (a.id < b.id ? 1 : -1)) };
}

async function pages(deps: ReturnType<typeof world>['deps'], limit: number) {
  const seen: string[][] = [];
  let before: string | undefined;
  do {
    const page = await feed(deps, 'me', before === undefined ? { limit } : { before, limit });
    seen.push(page.items.map((s) => s.id));
    before = page.next;
  } while (before !== undefined && seen.length < 1000);
  return seen;
}

describe('feed', () => {
  it('charges a Query for each channel it reads beyond the page size before reading any, and reads none the budget refuses', async () => {
    // 30 authors who all posted after a crafted cursor older than everything: each channel may hold items below it.
    const shape = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`a${i}`, [100 + i, 200 + i]]));
    const { deps, queried } = world({ me: [], ...shape });
    const charged: number[] = [];

    await feed(deps, 'me', { before: '00000001', limit: 5 }, (units) => Promise.resolve(void charged.push(units)));
    // 31 heads (16 units, 10 prepaid), then 25 Queries past the page size.
    expect([charged, queried.length]).toEqual([[6, 25], 30]);

    queried.length = 0;
    let asked = 0;
    const refusal = new Error('rate_limited');
    const refuseQueries = () => (++asked === 2 ? Promise.reject(refusal) : Promise.resolve());
    await expect(feed(deps, 'me', { before: '00000001', limit: 5 }, refuseQueries)).rejects.toBe(refusal);
    expect(queried).toEqual([]);
  });

  it('charges the heads of everyone followed past the prepaid ones before reading any, and reads none the budget refuses', async () => {
    const { deps } = world(Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`a${i}`, [100 + i]])));
    const read: string[][] = [];
    const heads = deps.heads;
    const counting = { ...deps, heads: { read: (names: readonly string[]) => (read.push([...names]), heads.read(names)) } };
    const charged: number[] = [];

    await feed(counting, 'me', { limit: 5 }, (units) => Promise.resolve(void charged.push(units)));
    // 1,001 heads, eventually consistent: 501 units, of which 10 were paid up front.
    expect(charged.filter((units) => units > 0)).toEqual([491]);

    read.length = 0;
    const refusal = new Error('rate_limited');
    await expect(feed(counting, 'me', { limit: 5 }, () => Promise.reject(refusal))).rejects.toBe(refusal);
    expect(read).toEqual([]);
  });

  it('charges nothing more for a first page of someone following few, which reads at most `limit` channels', async () => {
    const { deps, queried } = world(Object.fromEntries(Array.from({ length: 19 }, (_, i) => [`a${i}`, [100 + i]])));
    const charged: number[] = [];

    await feed(deps, 'me', { limit: 5 }, (units) => Promise.resolve(void charged.push(units)));

    expect(queried).toHaveLength(5);
    expect(charged.filter((units) => units > 0)).toEqual([]);
  });

  it('reads the channels eventually consistent', async () => {
    const { deps, queried } = world({ me: [1], a: [2] });
    await feed(deps, 'me', { limit: 5 });
    expect(queried.map((query) => query.consistent)).toEqual([false, false]);
  });

  it('pages exactly the merged channels, newest first, each page full but the last, for any channels and page size', async () => {
    const channels = fc.dictionary(fc.constantFrom('me', 'a', 'b', 'c', 'd', 'e', 'f'), fc.array(fc.integer({ min: 1, max: 500 }), { maxLength: 30 }));
    await fc.assert(
      fc.asyncProperty(channels, fc.integer({ min: 1, max: 12 }), async (shape, limit) => {
        const { deps, newestFirst } = world(shape);
        const seen = await pages(deps, limit);
        expect(seen.flat()).toEqual(newestFirst.map((s) => s.id));
        for (const page of seen.slice(0, -1)) expect(page).toHaveLength(limit);
      }),
      { numRuns: 300 },
    );
  });

  it('reads at most `limit` channels for the first page, whatever the number followed, and fewer items from lower-ranked ones', async () => {
    const shape = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`u${i}`, [i * 3 + 1, i * 3 + 2]]));
    const { deps, queried, newestFirst } = world(shape);

    const page = await feed(deps, 'me', { limit: 20 });

    expect(page.items.map((s) => s.id)).toEqual(newestFirst.slice(0, 20).map((s) => s.id));
    expect(queried).toHaveLength(20);
    expect(queried.map((q) => q.limit)).toEqual(Array.from({ length: 20 }, (_, rank) => 20 - rank));
    expect(page.next).toBe(newestFirst[19]?.id);
  });

  it('carries each item with its position in its author\'s channel', async () => {
    const { deps } = world({ me: [5], a: [1, 2, 9] });
    expect((await feed(deps, 'me', { limit: 3 })).items.map((s) => [s.author, s.pos])).toEqual([
      ['a', 3],
      ['me', 1],
      ['a', 2],
    ]);
  });
});

describe('get', () => {
  const status = (id: string, replyTo?: string): Status => ({ id, author: 'a', text: id, createdAt: '2026-11-27T00:00:00.000Z', ...(replyTo ? { replyTo, thread: replyTo } : {}) });
  const stored = [status('R1'), status('R2'), status('X1', 'R1')];
  const deps = {
    statuses: { getMany: (ids: readonly string[]) => Promise.resolve(stored.filter((s) => ids.includes(s.id)).reverse()) },
    heads: { read: (names: readonly string[]) => Promise.resolve(new Map(names.map((n) => [n, { pos: n === 'thread:R1' ? 4 : 0 }]))) },
  };

  it('answers in the order asked, names the unknown ids missing, and counts the replies of roots that have any', async () => {
    expect(await get(deps, { ids: ['X1', 'NOPE', 'R2', 'R1'] })).toEqual({
      statuses: [status('X1', 'R1'), status('R2'), status('R1')],
      missing: ['NOPE'],
      replyCounts: { R1: 4 },
    });
  });
});
