import { BatchWriteCommand, GetCommand } from '@aws-sdk/lib-dynamodb';
import { connectionHash, indexOf, part, subscriptionSortKey, WHOLE } from '../../../shared/fanout/hash-space';
import { subscriptionPartition } from '../../../shared/store/connection-rows';
import { ConnectionStore } from '../../../shared/store/connections';
import { PresenceStore } from '../../../shared/store/presence';
import { SubscriptionLimitReached, SubscriptionStore } from '../../../shared/store/subscriptions';
import { startStoreDatabase, tableNames, type StoreDatabase } from '../../support/dynamodb-local';

let database: StoreDatabase;
let connections: ConnectionStore;
let subscriptions: SubscriptionStore;
let presence: PresenceStore;

beforeAll(async () => {
  database = await startStoreDatabase();
  connections = new ConnectionStore(database.db, tableNames.Connections);
  subscriptions = new SubscriptionStore(database.db, tableNames.Connections, connections);
  presence = new PresenceStore(database.db, tableNames.Connections);
});
afterAll(() => database.stop());

/** Every subscriber of a channel, through all the pages of `ranges` equal parts of the hash space. */
async function subscribersOf(channel: string, pageSize = 1000, ranges = 8): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < ranges; i++) {
    const range = part(WHOLE, ranges, i);
    let page = await subscriptions.rangePage(channel, range, pageSize);
    ids.push(...page.connectionIds);
    while (page.next) {
      page = await subscriptions.rangePage(channel, range, pageSize, page.next);
      ids.push(...page.connectionIds);
    }
  }
  return ids.sort();
}

let serial = 0;
/** A connection of its own for each test, opened a minute ago. */
async function opened(userId: string, followed: readonly string[] = []) {
  const connection = { connectionId: `c${++serial}-${userId}`, userId, connectedAt: Date.now() - 60_000 };
  await connections.open(connection, followed);
  return connection;
}

describe('ConnectionStore', () => {
  it('opens a connection subscribed to the people its user follows, and finds it by user', async () => {
    const connection = await opened('open-ann', ['user:f1', 'user:f2']);

    expect(await connections.row(connection.connectionId)).toEqual({ ...connection, followed: ['user:f1', 'user:f2'], followedLater: new Set(), channels: new Set() });
    expect(await subscribersOf('user:f1')).toContain(connection.connectionId);
    expect(await connections.connectionsOf('open-ann')).toEqual([{ connectionId: connection.connectionId, connectedAt: connection.connectedAt }]);
    expect(await connections.online(['open-ann', 'open-nobody'])).toEqual([true, false]);
  });

  it('expires its rows by TTL after API Gateway has cut the connection', async () => {
    const connection = await opened('ttl-ann', ['user:ttl']);

    const { Item } = await database.db.send(new GetCommand({ TableName: tableNames.Connections, Key: { pk: `conn#${connection.connectionId}`, sk: 'conn' } }));

    expect(Item?.['expiresAt']).toBeGreaterThan(connection.connectedAt / 1000 + 2 * 3600);
    expect(Item?.['expiresAt']).toBeLessThan(connection.connectedAt / 1000 + 3 * 3600);
  });

  it('removes a connection with every subscription it holds: from $connect, from follows since, and from subscribe', async () => {
    const connection = await opened('rm-bob', ['user:rm-alice']);
    await subscriptions.subscribeConnections([connection], 'user:rm-dave');
    await subscriptions.subscribe(connection, ['inbox:rm-bob', 'thread:01JD0000000000000000000RM1'], 500);

    await connections.remove(connection.connectionId);

    for (const channel of ['user:rm-alice', 'user:rm-dave', 'inbox:rm-bob', 'thread:01JD0000000000000000000RM1']) expect(await subscribersOf(channel)).toEqual([]);
    expect(await connections.row(connection.connectionId)).toBeUndefined();
    expect(await connections.online(['rm-bob'])).toEqual([false]);
  });

  it('leaves a connection API Gateway calls Gone while it is still connecting, and removes it once settled', async () => {
    const connection = await opened('gone-bob', ['user:gone-alice']);

    expect(await connections.removeGone(connection.connectionId, connection.connectedAt + 500)).toBe(false);
    expect(await subscribersOf('user:gone-alice')).toEqual([connection.connectionId]);

    expect(await connections.removeGone(connection.connectionId, connection.connectedAt + 60_000)).toBe(true);
    expect(await subscribersOf('user:gone-alice')).toEqual([]);
  });
});

describe('SubscriptionStore', () => {
  it('pages the subscribers of any hash range of a channel, each in exactly one range', async () => {
    const ids = await Promise.all(Array.from({ length: 40 }, () => opened('page-user')));
    await subscriptions.subscribeConnections(ids, 'user:paged');

    const first = await subscriptions.rangePage('user:paged', part(WHOLE, 4, 0), 3);

    expect(first.connectionIds).toHaveLength(3);
    expect(first.next).toBeDefined();
    const everyone = ids.map((c) => c.connectionId).sort();
    expect(await subscribersOf('user:paged', 3, 4)).toEqual(everyone);
    expect(await subscribersOf('user:paged', 1000, 64)).toEqual(everyone);
  });

  it('reads a hash range from its first hash to its last, both included, and nothing either side', async () => {
    // Rows written with chosen hashes, as the fan-out reads them back: the sort key holds the hash.
    const range = part(WHOLE, 8, 3);
    const hashes = [range.lo - 1, range.lo, range.lo + 1, range.hi - 2, range.hi - 1, range.hi];
    const channel = 'user:edges';
    await database.db.send(
      new BatchWriteCommand({
        RequestItems: {
          [tableNames.Connections]: hashes.map((hash) => ({
            PutRequest: { Item: { pk: subscriptionPartition(channel, indexOf(hash, 4)), sk: subscriptionSortKey(hash, `at-${hash}`), expiresAt: Math.floor(Date.now() / 1000) + 600 } },
          })),
        },
      }),
    );

    const page = await subscriptions.rangePage(channel, range, 100);

    expect(page.connectionIds).toEqual([range.lo, range.lo + 1, range.hi - 2, range.hi - 1].map((hash) => `at-${hash}`));
  });

  it('reads the first page of every write shard, and whether the channel is marked as queued', async () => {
    const ids = await Promise.all(Array.from({ length: 40 }, () => opened('shard-user')));
    await subscriptions.subscribeConnections(ids, 'user:sharded');
    const until = Date.now() + 60_000;
    await subscriptions.markQueued('user:sharded', until);

    const all = await subscriptions.firstPages('user:sharded', 100);
    const few = await subscriptions.firstPages('user:sharded', 2);

    expect(all.queuedUntil).toBe(until);
    expect(all.shards.map((shard) => shard.shard)).toEqual([0, 1, 2, 3]);
    expect(all.shards.every((shard) => shard.complete)).toBe(true);
    expect(all.shards.flatMap((shard) => shard.connectionIds).sort()).toEqual(ids.map((c) => c.connectionId).sort());
    for (const shard of all.shards) {
      expect(shard.hashes).toEqual(shard.connectionIds.map(connectionHash));
      expect(shard.hashes.every((hash) => indexOf(hash, 4) === shard.shard)).toBe(true);
      expect([...shard.hashes].sort((a, b) => a - b)).toEqual(shard.hashes);
    }
    // The mark is not a subscriber, and does not take a subscriber's place in the page.
    expect(few.queuedUntil).toBe(until);
    expect(few.shards.map((shard) => [shard.connectionIds.length, shard.complete])).toEqual([[2, false], [2, false], [2, false], [2, false]]);
  });

  it('subscribes and unsubscribes', async () => {
    const connection = await opened('sub-carol');

    await subscriptions.subscribe(connection, ['user:sub-a', 'user:sub-b'], 500);
    await subscriptions.unsubscribe(connection.connectionId, ['user:sub-a']);

    expect(await subscribersOf('user:sub-a')).toEqual([]);
    expect(await subscribersOf('user:sub-b')).toEqual([connection.connectionId]);
    expect((await connections.row(connection.connectionId))?.channels).toEqual(new Set(['user:sub-b']));
  });

  it('refuses a subscribe that would pass the limit, subscribing to none of it', async () => {
    const connection = await opened('limit-dan');
    await subscriptions.subscribe(connection, ['user:l1', 'user:l2', 'user:l3'], 4);

    await expect(subscriptions.subscribe(connection, ['user:l4', 'user:l5'], 4)).rejects.toThrow(SubscriptionLimitReached);

    expect(await subscribersOf('user:l4')).toEqual([]);
    expect((await connections.row(connection.connectionId))?.channels).toEqual(new Set(['user:l1', 'user:l2', 'user:l3']));
  });

  it('counts a channel the connection already has once', async () => {
    const connection = await opened('again-eve');
    await subscriptions.subscribe(connection, ['thread:01JD000000000000000000AGN1', 'thread:01JD000000000000000000AGN2'], 3);

    await subscriptions.subscribe(connection, ['thread:01JD000000000000000000AGN1', 'thread:01JD000000000000000000AGN2', 'thread:01JD000000000000000000AGN3'], 3);

    expect((await connections.row(connection.connectionId))?.channels.size).toBe(3);
  });

  it('does not count the channels of people followed towards the limit', async () => {
    const connection = await opened('follows-fay', ['user:ff1', 'user:ff2']);
    await subscriptions.subscribeConnections([connection], 'user:ff3');

    await subscriptions.subscribe(connection, ['user:ff1', 'user:ff2', 'user:ff3', 'user:ff-new'], 1);

    expect((await connections.row(connection.connectionId))?.channels).toEqual(new Set(['user:ff-new']));
    expect(await subscribersOf('user:ff-new')).toEqual([connection.connectionId]);
  });

  it('keeps concurrent subscribes on one connection within the limit together', async () => {
    const connection = await opened('race-gus');
    const frames = Array.from({ length: 6 }, (_, i) => [`thread:01JD00000000000000000RACE${i}`, `thread:01JD00000000000000000RACF${i}`]);

    const results = await Promise.allSettled(frames.map((channels) => subscriptions.subscribe(connection, channels, 5)));

    const held = (await connections.row(connection.connectionId))?.channels;
    expect(held?.size).toBeLessThanOrEqual(5);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(2);
    const refusals = results.flatMap((r): unknown[] => (r.status === 'rejected' ? [r.reason] : []));
    expect(refusals).toHaveLength(4);
    expect(refusals.every((reason) => reason instanceof SubscriptionLimitReached)).toBe(true);
  });

  it('subscribes a connection that has gone to nothing, and does not bring its row back', async () => {
    const connection = await opened('late-hal');
    await connections.remove(connection.connectionId);

    await subscriptions.subscribeConnections([connection], 'user:late');
    await subscriptions.subscribe(connection, ['inbox:late-hal'], 500);

    expect(await connections.row(connection.connectionId)).toBeUndefined();
  });

  it("unsubscribes every connection of a follower from the unfollowed user's channel", async () => {
    const both = [await opened('unf-ivy'), await opened('unf-ivy')];
    await subscriptions.subscribeConnections(both, 'user:unf-target');

    await subscriptions.unsubscribeConnections(both, 'user:unf-target');

    expect(await subscribersOf('user:unf-target')).toEqual([]);
    for (const c of both) expect((await connections.row(c.connectionId))?.followedLater).toEqual(new Set());
  });
});

describe('PresenceStore', () => {
  it('says when each user was last seen, and nothing for one never seen', async () => {
    await presence.touch('seen-jo', Date.parse('2026-11-21T20:00:00.000Z'));
    await presence.touch('seen-jo', Date.parse('2026-11-21T21:00:00.000Z'));

    const seen = await presence.lastSeen(['seen-jo', 'never-seen', 'seen-jo']);

    expect([...seen]).toEqual([['seen-jo', '2026-11-21T21:00:00.000Z']]);
  });

  it('never moves last seen back: a connect handled after a later disconnect of the same user', async () => {
    await presence.touch('late-kim', Date.parse('2026-11-21T21:00:00.000Z'));
    await presence.touch('late-kim', Date.parse('2026-11-21T20:59:59.000Z'));

    expect([...(await presence.lastSeen(['late-kim']))]).toEqual([['late-kim', '2026-11-21T21:00:00.000Z']]);
  });
});
