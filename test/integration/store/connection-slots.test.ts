import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { ConnectionSlots } from '../../../shared/store/connection-slots';
import { startStoreDatabase, tableNames, type StoreDatabase } from '../../support/dynamodb-local';

let database: StoreDatabase;

beforeAll(async () => {
  database = await startStoreDatabase();
});
afterAll(() => database.stop());

const NOW = Date.parse('2026-11-27T12:00:00.000Z');
const slots = (max = 3, lifetimeMs = 60_000) => new ConnectionSlots(database.db, tableNames.Connections, max, lifetimeMs);
const held = async (userId: string) => {
  const { Item } = await database.db.send(new GetCommand({ TableName: tableNames.Connections, Key: { pk: `open#${userId}`, sk: 'open' } }));
  return Object.keys((Item?.['connections'] as Record<string, number> | undefined) ?? {}).sort();
};

describe('ConnectionSlots', () => {
  it('gives a user up to the cap, refuses the next, and takes no slot for it', async () => {
    const store = slots();

    const claims = [];
    for (const id of ['c1', 'c2', 'c3', 'c4']) claims.push(await store.claim('cap-ann', id, NOW));

    expect(claims).toEqual([true, true, true, false]);
    expect(await held('cap-ann')).toEqual(['c1', 'c2', 'c3']);
    expect(await store.claim('cap-bob', 'b1', NOW)).toBe(true);
  });

  it('frees a slot when a connection closes', async () => {
    const store = slots(1);
    await store.claim('free-cy', 'c1', NOW);

    await store.release('free-cy', 'c1');

    expect(await store.claim('free-cy', 'c2', NOW)).toBe(true);
    expect(await held('free-cy')).toEqual(['c2']);
  });

  it('frees the slots of connections that vanished without $disconnect once they cannot be open', async () => {
    const store = slots(2, 60_000);
    await store.claim('stale-dee', 'old1', NOW);
    await store.claim('stale-dee', 'old2', NOW);
    expect(await store.claim('stale-dee', 'early', NOW + 59_000)).toBe(false);

    expect(await store.claim('stale-dee', 'late', NOW + 60_000)).toBe(true);
    expect(await held('stale-dee')).toEqual(['late']);
  });

  it('lets no more than the cap through concurrent handshakes', async () => {
    const store = slots(10);

    const claims = await Promise.all(Array.from({ length: 25 }, (_, i) => store.claim('race-eve', `r${i}`, NOW)));

    expect(claims.filter(Boolean)).toHaveLength(10);
    expect(await held('race-eve')).toHaveLength(10);
  });

  it('does nothing to release a slot of a user with none', async () => {
    await slots().release('never-fay', 'x');

    expect(await held('never-fay')).toEqual([]);
  });
});
