import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { Limits } from '../../../shared/protocol';
import { FollowNoticeStore } from '../../../shared/store/follow-notices';
import { FollowStore } from '../../../shared/store/follows';
import { PresenceStore } from '../../../shared/store/presence';
import { startStoreDatabase, tableNames, type StoreDatabase } from '../../support/dynamodb-local';

/** What follow and presence read to keep inboxes quiet and presence private: on DynamoDB Local. */
let database: StoreDatabase;
let notices: FollowNoticeStore;
let follows: FollowStore;
let presence: PresenceStore;

const NOW = Date.parse('2026-11-27T12:00:00.000Z');

beforeAll(async () => {
  database = await startStoreDatabase();
  notices = new FollowNoticeStore(database.db, tableNames.Connections);
  follows = new FollowStore(database.db, tableNames.Follows, Limits.followsPerUser);
  presence = new PresenceStore(database.db, tableNames.Connections);
});
afterAll(() => database.stop());

describe('FollowNoticeStore', () => {
  it('grants one of many concurrent claims on a pair, and none again within the window', async () => {
    const claims = await Promise.all(Array.from({ length: 8 }, () => notices.claim('n-bob', 'n-alice', NOW)));

    expect(claims.filter(Boolean)).toHaveLength(1);
    expect(await notices.claim('n-bob', 'n-alice', NOW + (Limits.followNoticeSeconds - 1) * 1000)).toBe(false);
    expect(await notices.claim('n-carol', 'n-alice', NOW)).toBe(true);
  });

  it('grants a claim again once the window has passed, before TTL has deleted the row', async () => {
    expect(await notices.claim('w-bob', 'w-alice', NOW)).toBe(true);

    expect(await notices.claim('w-bob', 'w-alice', NOW + (Limits.followNoticeSeconds + 1) * 1000)).toBe(true);
    const { Item } = await database.db.send(new GetCommand({ TableName: tableNames.Connections, Key: { pk: 'notice#w-bob#w-alice', sk: 'follow' } }));
    expect(Item?.['expiresAt']).toBe(Math.floor(NOW / 1000) + 2 * Limits.followNoticeSeconds + 1);
  });
});

describe('FollowStore.followedAmong', () => {
  it('says which of the ids asked the follower follows, in one batch of up to 100', async () => {
    await follows.follow('fa-kim', 'fa-leo', NOW);
    await follows.follow('fa-kim', 'fa-mo', NOW);
    await follows.follow('fa-leo', 'fa-kim', NOW);
    const asked = ['fa-leo', 'fa-mo', 'fa-kim', ...Array.from({ length: 97 }, (_, i) => `fa-stranger${i}`)];

    expect([...(await follows.followedAmong('fa-kim', asked))].sort()).toEqual(['fa-leo', 'fa-mo']);
    expect(await follows.followedAmong('fa-kim', [])).toEqual(new Set());
  });
});

describe('PresenceStore.seen', () => {
  it('is true for a user who has connected once, and false for an id never seen', async () => {
    await presence.touch('seen-ann', NOW);

    expect(await presence.seen('seen-ann')).toBe(true);
    expect(await presence.seen('seen-nobody')).toBe(false);
  });
});
