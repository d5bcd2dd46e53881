import { EMPTY_HEAD, RecentHeads, type Head } from '../../../../shared/store/heads';

/** A table of heads that counts what it is asked for, and how. */
function table(heads: Record<string, Head>) {
  const asked: { channels: string[]; consistent: boolean | undefined }[] = [];
  return {
    asked,
    read: (channels: readonly string[], options?: { consistent?: boolean }) => {
      asked.push({ channels: [...channels], consistent: options?.consistent });
      return Promise.resolve(new Map(channels.map((channel) => [channel, heads[channel] ?? EMPTY_HEAD])));
    },
  };
}

describe('RecentHeads', () => {
  it('reads eventually consistent, and serves a head from memory until it is maxAgeMs old', async () => {
    let now = 1_000;
    const db = table({ 'user:a': { pos: 3, last: 'A3' } });
    const heads = new RecentHeads(db, { maxAgeMs: 1_000, now: () => now });

    expect(await heads.read(['user:a'])).toEqual(new Map([['user:a', { pos: 3, last: 'A3' }]]));
    now += 999;
    await heads.read(['user:a']);
    expect(db.asked).toEqual([{ channels: ['user:a'], consistent: false }]);

    now += 1;
    await heads.read(['user:a']);
    expect(db.asked).toHaveLength(2);
  });

  it('asks the table only for the heads it does not hold, and answers in the order asked', async () => {
    const db = table({ 'user:a': { pos: 1, last: 'A1' }, 'user:b': { pos: 2, last: 'B2' } });
    const heads = new RecentHeads(db, { now: () => 0 });

    await heads.read(['user:a']);
    const answer = await heads.read(['user:b', 'user:a', 'user:nobody']);

    expect([...answer]).toEqual([
      ['user:b', { pos: 2, last: 'B2' }],
      ['user:a', { pos: 1, last: 'A1' }],
      ['user:nobody', EMPTY_HEAD],
    ]);
    expect(db.asked.map((a) => a.channels)).toEqual([['user:a'], ['user:b', 'user:nobody']]);
  });

  it('keeps at most maxEntries, the longest kept going first, and still answers a read of more than that in full', async () => {
    const many = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`user:u${i}`, { pos: i + 1, last: `U${i}` }]));
    const db = table(many);
    const heads = new RecentHeads(db, { maxEntries: 3, now: () => 0 });

    const answer = await heads.read(Object.keys(many));
    expect([...answer.values()].map((head) => head.pos)).toEqual([1, 2, 3, 4, 5]);

    await heads.read(['user:u4', 'user:u0']);
    // u2, u3 and u4 were kept; u0 was not.
    expect(db.asked.at(-1)?.channels).toEqual(['user:u0']);
  });
});
