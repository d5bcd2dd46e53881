import { connect, follow, presence } from '../../../../shared/domain/social';
import type { OpenConnection } from '../../../../shared/store/connections';

const NOW = new Date('2026-11-27T12:00:00.000Z');
const caller = { userId: 'bob', connectionId: 'b3', connectedAt: NOW.getTime() };

describe('presence', () => {
  it('says who is online now, and when the others were last seen', async () => {
    const deps = {
      connections: { online: (users: readonly string[]) => Promise.resolve(users.map((u) => u === 'alice')) },
      presence: { lastSeen: () => Promise.resolve(new Map([['carol', '2026-11-21T20:00:00.000Z'], ['alice', '2026-11-01T00:00:00.000Z']])) },
      now: () => NOW,
    };

    expect(await presence(deps, ['alice', 'carol', 'dave'])).toEqual([
      { user: 'alice', online: true, lastSeen: NOW.toISOString() },
      { user: 'carol', online: false, lastSeen: '2026-11-21T20:00:00.000Z' },
      { user: 'dave', online: false },
    ]);
  });
});

describe('follow', () => {
  function deps(created: boolean, open: OpenConnection[]) {
    const subscribed: { connections: readonly OpenConnection[]; channel: string }[] = [];
    const notified: { channel: string; kind: string; from: string }[] = [];
    return {
      subscribed,
      notified,
      deps: {
        follows: { follow: () => Promise.resolve(created) },
        connections: { connectionsOf: () => Promise.resolve(open) },
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
