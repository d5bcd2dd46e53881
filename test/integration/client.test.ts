import WebSocket from 'ws';
import { UpdraftClient, UpdraftError, type ClientOptions, type ConnectionState, type SocketFactory, type StateChange } from '../../shared/client';
import { DefaultLimits } from '../../shared/config';
import type { Status } from '../../shared/protocol';
import { LocalStack } from '../support/local-stack';
import { until } from '../support/until';

/** The client library against the real local stack: request/reply, follows, and resume after the server cuts it off. */
let stack: LocalStack;
const clients: UpdraftClient[] = [];

beforeAll(async () => {
  stack = await LocalStack.start();
});

afterAll(async () => {
  for (const client of clients) client.close();
  expect(await stack.stop()).toBe(0);
});

/** Holds a client's next connection attempts back (its token does not come) until released. */
class Gate {
  private opened: Promise<void> = Promise.resolve();
  private release: () => void = () => undefined;
  close(): void {
    this.opened = new Promise((resolve) => (this.release = resolve));
  }
  open(): void {
    this.release();
  }
  passed(): Promise<void> {
    return this.opened;
  }
}

function client(user: string, gate = new Gate(), on = stack, options: Partial<ClientOptions> = {}): UpdraftClient {
  const created = new UpdraftClient({
    url: on.wsUrl,
    token: async () => {
      await gate.passed();
      return on.token(user);
    },
    WebSocket: WebSocket as unknown as SocketFactory,
    backoff: { initialMs: 100, maxMs: 1_000 },
    ...options,
  });
  clients.push(created);
  return created;
}

/** Every status a client hands over, in the order it did. */
function received(target: UpdraftClient): Status[] {
  const statuses: Status[] = [];
  target.events.on('status', ({ status }) => statuses.push(status));
  return statuses;
}

function states(target: UpdraftClient): ConnectionState[] {
  const seen: ConnectionState[] = [];
  target.events.on('state', ({ state }) => seen.push(state));
  return seen;
}

describe('UpdraftClient', () => {
  it('matches replies to requests and rejects with the protocol error code', async () => {
    const alice = client('c-alice');
    await alice.connect();

    const status = await alice.post('  hello from the library  ');
    expect(status).toMatchObject({ author: 'c-alice', text: 'hello from the library' });
    await expect(alice.post('   ')).rejects.toMatchObject({ name: 'UpdraftError', code: 'bad_request' });
    await expect(alice.post('a reply to nothing', '01ARZ3NDEKTSV4RRFFQ69G5FAV')).rejects.toBeInstanceOf(UpdraftError);
    await expect(alice.subscribe(['inbox:someone-else'])).rejects.toMatchObject({ code: 'forbidden' });
    expect(alice.state).toBe('live');
  });

  it('follows, lists who it follows, and receives their statuses live', async () => {
    const [bob, carol] = [client('c-bob'), client('c-carol')];
    await Promise.all([bob.connect(), carol.connect()]);
    const seen = received(bob);

    await bob.follow('c-carol');
    expect(await bob.following()).toEqual(['c-carol']);
    const posted = await carol.post('for my followers');

    await until(() => seen.some((s) => s.id === posted.id), 'the followed status');
    expect(bob.channels.get('user:c-carol')).toBe(posted.id);
    await bob.unfollow('c-carol');
    expect(await bob.following()).toEqual([]);
  });

  it('reconnects after the server closes it and hands over what was posted meanwhile, exactly once', async () => {
    const gate = new Gate();
    const [reader, writer] = [client('c-reader', gate), client('c-writer')];
    await Promise.all([reader.connect(), writer.connect()]);
    await reader.subscribe(['user:c-writer']);
    const seen = received(reader);
    const history = states(reader);
    const before = await writer.post('before the cut');
    await until(() => seen.length === 1, 'the first status');

    // Cut the reader and post while it is away: the server cannot deliver these live.
    gate.close();
    const reconnecting = new Promise<void>((resolve) => reader.events.on('state', ({ state }) => state === 'reconnecting' && resolve()));
    expect(await stack.disconnectUser('c-reader')).toBe(1);
    await reconnecting;
    const during = [await writer.post('while you were away 1'), await writer.post('while you were away 2')];
    gate.open();
    await reader.whenLive();
    const after = await writer.post('after the return');
    await until(() => seen.some((s) => s.id === after.id), 'the status after reconnecting');

    expect(seen.map((s) => s.id)).toEqual([before, ...during, after].map((s) => s.id));
    expect(history).toEqual(expect.arrayContaining(['reconnecting', 'catching-up', 'live']));
  });

  it("resumes a home feed read with feed() after the server cuts it off: what the people followed posted meanwhile arrives once, in order", async () => {
    // The follows were made elsewhere (another device): this client learns of them from the feed alone.
    const elsewhere = await stack.connect('c-fan');
    for (const user of ['c-dee', 'c-eli']) await elsewhere.request({ action: 'follow', user });
    await elsewhere.close();
    const gate = new Gate();
    const [fan, dee, eli] = [client('c-fan', gate), client('c-dee'), client('c-eli')];
    await Promise.all([dee.connect(), eli.connect()]);
    // Posted before it connects, so nothing of theirs reaches it live before the feed.
    const older = [await dee.post('dee before'), await eli.post('eli before')];
    await fan.connect();
    const seen = received(fan);

    // The feed is this client's only read: no following(), no history; the channels to resume and their cursors come from it.
    const page = await fan.feed();
    expect(page.items.map((s) => s.id)).toEqual([...older].reverse().map((s) => s.id));

    gate.close();
    const reconnecting = new Promise<void>((resolve) => fan.events.on('state', ({ state }) => state === 'reconnecting' && resolve()));
    expect(await stack.disconnectUser('c-fan')).toBe(1);
    await reconnecting;
    const during = [await eli.post('eli while away'), await dee.post('dee while away')];
    gate.open();
    await fan.whenLive();
    const after = await dee.post('dee after the return');
    await until(() => seen.some((s) => s.id === after.id), 'the status after reconnecting');

    const live = seen.filter((s) => !older.some((o) => o.id === s.id));
    expect(live.filter((s) => s.author === 'c-dee').map((s) => s.text)).toEqual(['dee while away', 'dee after the return']);
    expect(live.filter((s) => s.author === 'c-eli').map((s) => s.text)).toEqual(['eli while away']);
    expect(new Set(seen.map((s) => s.id)).size).toBe(seen.length);
    expect(during.every((s) => seen.some((got) => got.id === s.id))).toBe(true);
  });

  it('pages a channel with history when the catch-up is truncated', async () => {
    const author = client('c-root');
    await author.connect();
    const root = await author.post('a busy thread');
    const gate = new Gate();
    const watcher = client('c-watcher', gate);
    await watcher.connect();
    await watcher.subscribe([`thread:${root.id}`]);
    const seen = received(watcher);
    gate.close();
    await stack.disconnectUser('c-watcher');

    // 105 replies, more than one catch-up page of 100. Each replier posts no more than the rate limit's burst,
    // which it may spend at once, so no one is rate limited however fast the stack answers.
    const total = 105;
    const perReplier = DefaultLimits.postRateBurst;
    const repliers = Array.from({ length: Math.ceil(total / perReplier) }, (_, i) => client(`c-replier-${i}`));
    await Promise.all(repliers.map((r) => r.connect()));
    const replies: Status[] = [];
    for (let i = 0; i < perReplier && replies.length < total; i++) {
      const round = repliers.slice(0, total - replies.length);
      replies.push(...(await Promise.all(round.map((r, j) => r.post(`reply ${i}-${j}`, root.id)))));
    }
    expect(replies).toHaveLength(total);
    gate.open();
    await watcher.whenLive();

    await until(() => seen.length >= replies.length, 'every reply');
    const expected = replies.map((s) => s.id).sort();
    expect(seen.map((s) => s.id).sort()).toEqual(expected);
    expect(new Set(seen.map((s) => s.id)).size).toBe(seen.length);
    expect(watcher.channels.get(`thread:${root.id}`)).toBe(expected[expected.length - 1]);
  });
});

describe('UpdraftClient against API Gateway’s time limits (scaled down: 1.5 s idle, 6 s lifetime)', () => {
  let limited: LocalStack;
  beforeAll(async () => {
    limited = await LocalStack.start({ env: { UPDRAFT_IDLE_TIMEOUT_MS: '1500', UPDRAFT_MAX_CONNECTION_MS: '6000' } });
  });
  beforeAll(async () => {
    // Warm the functions the test calls, three at once as it does: on a loaded machine a cold start takes
    // seconds, longer than the 6 s the connections live, which is the machine's doing and not the client's.
    // A fresh connection for each, since a cold one can outlive a connection; only the warmth matters here.
    for (const frame of [{ action: 'subscribe', channels: ['user:t-warm-1'] }, { action: 'ping' }, { action: 'post', text: 'warm' }]) {
      const warm = await Promise.allSettled(['t-warm-1', 't-warm-2', 't-warm-3'].map((user) => limited.connect(user)));
      const opened = warm.flatMap((attempt) => (attempt.status === 'fulfilled' ? [attempt.value] : []));
      await Promise.allSettled(opened.map((client) => Promise.race([client.request(frame, 30_000), client.closed])));
      await Promise.all(opened.map((client) => client.close()));
    }
  });
  afterAll(async () => {
    expect(await limited.stop()).toBe(0);
  });

  it('keeps an idle connection open with its heartbeat, and comes back after the forced cut without losing a status', async () => {
    const reader = client('t-reader', new Gate(), limited, { heartbeatMs: 500 });
    const writer = client('t-writer', new Gate(), limited, { heartbeatMs: 500 });
    const changes: StateChange[] = [];
    reader.events.on('state', (change) => changes.push(change));
    let [control] = await Promise.all([limited.connect('t-control'), reader.connect(), writer.connect()]);
    const seen = received(reader);

    // Idle for longer than the idle timeout: only the heartbeat keeps it open. The marker is a control
    // connection with no heartbeat whose last frame the gateway took after the reader's last request,
    // cut for idleness. Every idle timer of the gateway runs 1.5 s and Node fires timers of one duration
    // in the order they were set, so without its heartbeat the reader would have been cut first; a ping
    // it has answered since (on a socket whose close would have come ahead of the pong) shows it was not.
    // Done before subscribing, and with the control opened alongside the reader: the 6 s the connections
    // live must hold the connect, the idle proof and the subscription, even when a loaded machine takes
    // seconds to connect and a second control is needed (below).
    // When the reader's connect outlasts the control's idle time (a loaded machine), the control is cut
    // before its ping: a fresh one then takes it, still after the reader's last request.
    for (let attempt = 1; ; attempt++) {
      const pong = control.request({ action: 'ping' });
      const outcome = await Promise.race([pong, control.closed.then(() => 'cut' as const)]);
      if (outcome !== 'cut') {
        expect(outcome).toMatchObject({ type: 'pong' });
        break;
      }
      pong.catch(() => undefined); // it will time out: its socket is gone
      if (attempt === 3) throw new Error('the control connection was cut before its ping 3 times');
      control = await limited.connect('t-control');
    }
    expect(await control.closed).toEqual({ code: 1001, reason: 'Going away' });
    await reader.ping();
    expect(changes.filter((c) => c.state === 'reconnecting')).toEqual([]);
    await reader.subscribe(['user:t-writer']);

    // Keep posting across the 6-second cut, until the reader is back after it (a tick every 500 ms, within the post rate).
    const posted: string[] = [];
    const back = () => changes.some((c) => c.state === 'reconnecting') && changes.at(-1)?.state === 'live';
    for (let i = 0; i < 10 || !back(); i++) {
      posted.push((await writer.post(`tick ${i}`)).id);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    await until(() => posted.every((id) => seen.some((s) => s.id === id)), 'every tick');

    expect(changes.find((c) => c.state === 'reconnecting')?.reason).toMatch(/^closed 1001/);
    expect(seen.map((s) => s.id).filter((id) => posted.includes(id))).toEqual(posted);
  });
});
