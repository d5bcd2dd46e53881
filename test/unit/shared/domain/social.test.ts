import { connect, follow, presence } from '../../../../shared/domain/social';
import type { OpenConnection } from '../../../../shared/store/connections';
import type { Charge } from '../../../../shared/store/rates';

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
  /** A $connect's stores, recording what each was asked; `budget` and `slots` say yes unless told otherwise. */
  function deps(options: { follows?: string[]; budget?: Charge; slot?: boolean; openFails?: boolean } = {}) {
    const log: string[] = [];
    const charged: number[] = [];
    const opened: { connection: unknown; channels: readonly string[] }[] = [];
    return {
      log,
      charged,
      opened,
      deps: {
        follows: { following: () => Promise.resolve(options.follows ?? ['alice', 'carol']) },
        budget: {
          take: (user: string, _now: number, weight?: number) => {
            log.push(`charge ${user}`);
            charged.push(weight ?? 1);
            return Promise.resolve(options.budget ?? { allowed: true as const });
          },
        },
        slots: {
          claim: (user: string, connectionId: string) => {
            log.push(`claim ${user} ${connectionId}`);
            return Promise.resolve(options.slot ?? true);
          },
          release: (user: string, connectionId: string) => {
            log.push(`release ${user} ${connectionId}`);
            return Promise.resolve();
          },
        },
        connections: {
          open: (connection: OpenConnection & { userId: string }, channels: readonly string[]) => {
            if (options.openFails) return Promise.reject(new Error('throttled'));
            opened.push({ connection, channels });
            return Promise.resolve();
          },
        },
        presence: {
          touch: (user: string, at: number) => {
            log.push(`touch ${user} ${at}`);
            return Promise.resolve();
          },
        },
        now: () => NOW.getTime(),
      },
    };
  }

  it('opens the connection subscribed to everyone its user follows, and notes the user as seen', async () => {
    const fake = deps();

    expect(await connect(fake.deps, caller)).toEqual({ opened: true });

    expect(fake.opened).toEqual([{ connection: caller, channels: ['user:alice', 'user:carol'] }]);
    expect(fake.log).toEqual(['charge bob', 'claim bob b3', `touch bob ${caller.connectedAt}`]);
  });

  it('charges the connect budget what the handshake writes: 3 rows and one per person followed', async () => {
    const fake = deps({ follows: Array.from({ length: 200 }, (_, i) => `u${i}`) });

    await connect(fake.deps, caller);

    expect(fake.charged).toEqual([203]);
  });

  it('refuses a handshake the connect budget cannot pay, taking no slot and writing nothing', async () => {
    const fake = deps({ budget: { allowed: false, retryAfterMs: 4_000 } });

    expect(await connect(fake.deps, caller)).toEqual({ opened: false, reason: 'budget', retryAfterMs: 4_000 });

    expect(fake.log).toEqual(['charge bob']);
    expect(fake.opened).toEqual([]);
  });

  it('refuses a handshake over the connection cap, writing nothing', async () => {
    const fake = deps({ slot: false });

    expect(await connect(fake.deps, caller)).toEqual({ opened: false, reason: 'cap' });

    expect(fake.log).toEqual(['charge bob', 'claim bob b3']);
    expect(fake.opened).toEqual([]);
  });

  it('gives the slot back when recording the connection fails', async () => {
    const fake = deps({ openFails: true });

    await expect(connect(fake.deps, caller)).rejects.toThrow('throttled');

    expect(fake.log.at(-1)).toBe('release bob b3');
  });
});
