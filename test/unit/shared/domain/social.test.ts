import { connect, follow, presence } from '../../../../shared/domain/social';
import type { OpenConnection } from '../../../../shared/store/connections';

const NOW = new Date('2026-11-27T12:00:00.000Z');
const caller = { userId: 'bob', connectionId: 'b3', connectedAt: NOW.getTime() };

describe('presence', () => {
  function deps(followed: readonly string[]) {
    const read: string[][] = [];
    return {
      read,
      deps: {
        follows: { followedAmong: (_: string, users: readonly string[]) => Promise.resolve(new Set(users.filter((u) => followed.includes(u)))) },
        connections: {
          online: (users: readonly string[]) => {
            read.push([...users]);
            return Promise.resolve(users.map((u) => u === 'alice' || u === 'bob'));
          },
        },
        presence: {
          lastSeen: (users: readonly string[]) => {
            read.push([...users]);
            const seen = new Map([['carol', '2026-11-21T20:00:00.000Z'], ['alice', '2026-11-01T00:00:00.000Z'], ['erin', '2026-11-02T00:00:00.000Z']]);
            return Promise.resolve(new Map([...seen].filter(([u]) => users.includes(u))));
          },
        },
        now: () => NOW,
      },
    };
  }

  it('says who of the people followed is online now, and when the others were last seen', async () => {
    const fake = deps(['alice', 'carol', 'dave']);

    expect(await presence(fake.deps, caller, ['alice', 'carol', 'dave'])).toEqual([
      { user: 'alice', online: true, lastSeen: NOW.toISOString() },
      { user: 'carol', online: false, lastSeen: '2026-11-21T20:00:00.000Z' },
      { user: 'dave', online: false },
    ]);
  });

  it('answers anyone not followed as an id never seen, reading nothing of theirs', async () => {
    const fake = deps(['carol']);

    expect(await presence(fake.deps, caller, ['alice', 'carol', 'erin', 'nobody'])).toEqual([
      { user: 'alice', online: false },
      { user: 'carol', online: false, lastSeen: '2026-11-21T20:00:00.000Z' },
      { user: 'erin', online: false },
      { user: 'nobody', online: false },
    ]);
    expect(fake.read).toEqual([['carol'], ['carol']]);
  });

  it('tells the caller about themselves, and reads nothing more when no one else is told', async () => {
    const fake = deps([]);

    expect(await presence(fake.deps, caller, ['bob', 'alice'])).toEqual([
      { user: 'bob', online: true, lastSeen: NOW.toISOString() },
      { user: 'alice', online: false },
    ]);
    expect(await presence(fake.deps, caller, ['alice'])).toEqual([{ user: 'alice', online: false }]);
    expect(fake.read).toEqual([['bob'], ['bob']]);
  });
});

describe('follow', () => {
  function deps(created: boolean, open: OpenConnection[], { seen = true, claimed = new Set<string>() } = {}) {
    const subscribed: { connections: readonly OpenConnection[]; channel: string }[] = [];
    const notified: { channel: string; kind: string; from: string }[] = [];
    return {
      subscribed,
      notified,
      deps: {
        follows: { follow: () => Promise.resolve(created) },
        connections: { connectionsOf: () => Promise.resolve(open) },
        presence: { seen: () => Promise.resolve(seen) },
        notices: {
          claim: (follower: string, followed: string) => {
            const pair = `${follower}>${followed}`;
            const fresh = !claimed.has(pair);
            claimed.add(pair);
            return Promise.resolve(fresh);
          },
        },
        subscriptions: {
          subscribeConnections: (connections: readonly OpenConnection[], channel: string) => {
            subscribed.push({ connections, channel });
            return Promise.resolve();
          },
        },
        log: {
          notify: (channel: string, n: { kind: string; from: string }) => {
            notified.push({ channel, kind: n.kind, from: n.from });
            return Promise.resolve();
          },
        },
        newId: () => '01JD0000000000000000000001',
        now: () => NOW,
      },
    };
  }

  it("subscribes all the follower's connections, the calling one even before the index lists it, and notifies once", async () => {
    const fake = deps(true, [{ connectionId: 'b1', connectedAt: 1 }]);

    await follow(fake.deps, caller, 'alice');

    expect(fake.subscribed).toEqual([{ connections: [{ connectionId: 'b1', connectedAt: 1 }, { connectionId: 'b3', connectedAt: caller.connectedAt }], channel: 'user:alice' }]);
    expect(fake.notified).toEqual([{ channel: 'inbox:alice', kind: 'follow', from: 'bob' }]);
  });

  it('subscribes again without notifying when the follow existed', async () => {
    const fake = deps(false, []);

    await follow(fake.deps, caller, 'alice');

    expect(fake.subscribed).toHaveLength(1);
    expect(fake.notified).toEqual([]);
  });

  it('notifies a pair once, however often the follow is made again after unfollows', async () => {
    const claimed = new Set<string>();

    for (let i = 0; i < 3; i++) {
      const fake = deps(true, [], { claimed });
      await follow(fake.deps, caller, 'alice');
      expect(fake.subscribed).toHaveLength(1);
      expect(fake.notified).toHaveLength(i === 0 ? 1 : 0);
    }
  });

  it('records and subscribes a follow of a user never seen, but notifies no one and claims nothing', async () => {
    const claimed = new Set<string>();
    const fake = deps(true, [], { seen: false, claimed });

    await follow(fake.deps, caller, 'ghost');

    expect(fake.subscribed).toEqual([{ connections: [{ connectionId: 'b3', connectedAt: caller.connectedAt }], channel: 'user:ghost' }]);
    expect(fake.notified).toEqual([]);
    expect(claimed.size).toBe(0);
  });

  it('refuses following oneself', async () => {
    const fake = deps(true, []);

    await expect(follow(fake.deps, caller, 'bob')).rejects.toMatchObject({ code: 'bad_request' });
    expect(fake.subscribed).toEqual([]);
  });
});

describe('connect', () => {
  it('opens the connection subscribed to everyone its user follows, and notes the user as seen', async () => {
    const opened: { connection: unknown; channels: readonly string[] }[] = [];
    const touched: [string, number][] = [];

    await connect(
      {
        follows: { following: () => Promise.resolve(['alice', 'carol']) },
        connections: {
          open: (connection, channels) => {
            opened.push({ connection, channels });
            return Promise.resolve();
          },
        },
        presence: {
          touch: (user, at) => {
            touched.push([user, at]);
            return Promise.resolve();
          },
        },
      },
      caller,
    );

    expect(opened).toEqual([{ connection: caller, channels: ['user:alice', 'user:carol'] }]);
    expect(touched).toEqual([['bob', caller.connectedAt]]);
  });
});
