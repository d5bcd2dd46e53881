import { FollowLimitReached, FollowStore } from '../../../shared/store/follows';
import { RateLimiter } from '../../../shared/store/rates';
import { startStoreDatabase, tableNames, type StoreDatabase } from '../../support/dynamodb-local';

let database: StoreDatabase;

beforeAll(async () => {
  database = await startStoreDatabase();
});
afterAll(() => database.stop());

const NOW = Date.parse('2026-11-27T12:00:00.000Z');

describe('RateLimiter', () => {
  const limiter = () => new RateLimiter(database.db, tableNames.Connections, { burst: 3, perSecond: 1 });

  it('allows a burst, then refuses, saying when the next token is there', async () => {
    const rate = limiter();
    const charges = [];
    for (let i = 0; i < 4; i++) charges.push(await rate.take('burst-ann', NOW));

    expect(charges).toEqual([{ allowed: true }, { allowed: true }, { allowed: true }, { allowed: false, retryAfterMs: 1000 }]);
    expect(await rate.take('burst-ann', NOW + 1000)).toEqual({ allowed: true });
    expect(await rate.take('burst-ann', NOW + 1000)).toEqual({ allowed: false, retryAfterMs: 1000 });
  });

  it('keeps each subject to a bucket of its own', async () => {
    const rate = limiter();
    for (let i = 0; i < 3; i++) await rate.take('own-bob', NOW);

    expect(await rate.take('own-cy', NOW)).toEqual({ allowed: true });
  });

  it('fills an idle bucket again', async () => {
    const rate = limiter();
    for (let i = 0; i < 3; i++) await rate.take('idle-dee', NOW);

    expect(await rate.take('idle-dee', NOW + 60_000)).toEqual({ allowed: true });
    expect(await rate.take('idle-dee', NOW + 60_000)).toEqual({ allowed: true });
  });

  it('gives a token back', async () => {
    const rate = limiter();
    for (let i = 0; i < 3; i++) await rate.take('refund-eve', NOW);

    await rate.refund('refund-eve');

    expect(await rate.take('refund-eve', NOW)).toEqual({ allowed: true });
    expect((await rate.take('refund-eve', NOW)).allowed).toBe(false);
  });

  it('allows no more than the burst to concurrent requests', async () => {
    const rate = new RateLimiter(database.db, tableNames.Connections, { burst: 5, perSecond: 1 });

    const charges = await Promise.all(Array.from({ length: 12 }, () => rate.take('race-fay', NOW)));

    expect(charges.filter((c) => c.allowed)).toHaveLength(5);
  });

  it('takes a weighted request as that many at once, and refuses one that does not fit whole', async () => {
    const rate = new RateLimiter(database.db, tableNames.Connections, { burst: 10, perSecond: 1 });

    expect(await rate.take('weight-hal', NOW, 6)).toEqual({ allowed: true });
    expect(await rate.take('weight-hal', NOW, 5)).toEqual({ allowed: false, retryAfterMs: 1000 });
    expect(await rate.take('weight-hal', NOW, 4)).toEqual({ allowed: true });
    expect(await rate.take('weight-hal', NOW, 1)).toEqual({ allowed: false, retryAfterMs: 1000 });
    expect(await rate.take('weight-hal', NOW + 3000, 3)).toEqual({ allowed: true });
  });

  it('refuses a weight over the burst, which could never pass', async () => {
    await expect(limiter().take('heavy-ida', NOW, 4)).rejects.toThrow(RangeError);
  });

  it('does nothing to refund a subject with no bucket', async () => {
    await limiter().refund('never-gus');

    expect(await limiter().take('never-gus', NOW)).toEqual({ allowed: true });
  });
});

describe('FollowStore', () => {
  const follows = (max = 1000) => new FollowStore(database.db, tableNames.Follows, max);

  it('records a follow once, and lists who a user follows', async () => {
    expect(await follows().follow('list-ann', 'bob', NOW)).toBe(true);
    expect(await follows().follow('list-ann', 'cy', NOW)).toBe(true);
    expect(await follows().follow('list-ann', 'bob', NOW)).toBe(false);

    expect((await follows().following('list-ann')).sort()).toEqual(['bob', 'cy']);
  });

  it('refuses a follow past the limit, and counts an unfollow', async () => {
    const store = follows(2);
    await store.follow('max-dee', 'a', NOW);
    await store.follow('max-dee', 'b', NOW);

    await expect(store.follow('max-dee', 'c', NOW)).rejects.toThrow(FollowLimitReached);
    expect(await store.unfollow('max-dee', 'a')).toBe(true);
    expect(await store.follow('max-dee', 'c', NOW)).toBe(true);
    expect((await store.following('max-dee')).sort()).toEqual(['b', 'c']);
  });

  it('unfollows someone not followed as nothing, leaving the count alone', async () => {
    const store = follows(1);

    expect(await store.unfollow('none-eve', 'zed')).toBe(false);
    expect(await store.follow('none-eve', 'a', NOW)).toBe(true);
    await expect(store.follow('none-eve', 'b', NOW)).rejects.toThrow(FollowLimitReached);
  });
});
