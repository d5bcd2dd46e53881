import { ClientErrorCode, ConnectionState, HEARTBEAT_TRIES, UpdraftClient, UpdraftError, type ClientOptions, type SocketLike, type StateChange } from '../../../../shared/client';
import { newId } from '../../../../shared/ids';

// Fake time: backoff, heartbeats and timeouts run at once and in a known order, with no real waiting.
jest.useFakeTimers();

/** A socket the test plays the server for: it sees what the client sends and answers by hand. */
class FakeSocket implements SocketLike {
  static opened: FakeSocket[] = [];
  /** How the fake server answers a subscribe; by default it accepts at once. */
  static onSubscribe: (socket: FakeSocket, frame: Record<string, unknown>) => void = (socket, frame) =>
    socket.reply({ type: 'subscribed', id: frame['id'], channels: frame['channels'] });
  readyState = 0;
  onopen: SocketLike['onopen'] = null;
  onmessage: SocketLike['onmessage'] = null;
  onclose: SocketLike['onclose'] = null;
  onerror: SocketLike['onerror'] = null;
  readonly sent: Record<string, unknown>[] = [];

  constructor(readonly url: string) {
    FakeSocket.opened.push(this);
    setTimeout(() => {
      this.readyState = 1;
      this.onopen?.({});
    }, 0);
  }
  send(data: string): void {
    const frame = JSON.parse(data) as Record<string, unknown>;
    this.sent.push(frame);
    if (frame['action'] === 'subscribe') FakeSocket.onSubscribe(this, frame);
  }
  close(code = 1000, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
  reply(frame: Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
}

/** `expect.stringContaining`/`stringMatching`, typed `unknown` rather than `any`. */
const text = (pattern: string | RegExp): unknown => (typeof pattern === 'string' ? expect.stringContaining(pattern) : expect.stringMatching(pattern));

/** Moves fake time on in small steps (one second at most) until `check` holds. */
const until = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await jest.advanceTimersByTimeAsync(5);
  if (!check()) throw new Error('condition never held');
};
function last(): FakeSocket {
  const socket = FakeSocket.opened[FakeSocket.opened.length - 1];
  if (!socket) throw new Error('no socket opened yet');
  return socket;
}
/** connect() on fake time: lets the fake socket open and the catch-up run. */
async function connected(target: UpdraftClient): Promise<void> {
  const connecting = target.connect();
  await jest.advanceTimersByTimeAsync(0);
  await connecting;
}

let client: UpdraftClient;
const accept = FakeSocket.onSubscribe;
beforeEach(() => {
  FakeSocket.opened = [];
  FakeSocket.onSubscribe = accept;
});
afterEach(() => client.close());

function create(options: Partial<ClientOptions> = {}) {
  client = new UpdraftClient({ url: 'ws://server/dev', token: 't0k', WebSocket: FakeSocket, backoff: { initialMs: 1, maxMs: 5 }, ...options });
  return client;
}

describe('UpdraftClient', () => {
  it('puts the token in the query string', async () => {
    await connected(create());

    expect(last().url).toBe('ws://server/dev?token=t0k');
  });

  it('hands a status over once however often it is delivered', async () => {
    await connected(create());
    const statuses: string[] = [];
    client.events.on('status', ({ status }) => statuses.push(status.id));
    const id = newId();
    const frame = { type: 'status', channel: 'user:bob', status: { id, author: 'bob', text: 'x', createdAt: '' } };

    last().reply(frame);
    last().reply(frame);

    expect(statuses).toEqual([id]);
    expect(client.channels.get('user:bob')).toBe(id);
  });

  it('sends a request again on the next connection when the first dropped before the reply', async () => {
    await connected(create());
    const posting = client.post('survives a drop');
    const first = last();
    await until(() => first.sent.some((f) => f['action'] === 'post'));
    const sentId = first.sent.find((f) => f['action'] === 'post')?.['id'];

    first.close(1006);
    await until(() => FakeSocket.opened.length === 2 && last().sent.some((f) => f['action'] === 'post'));
    last().reply({ type: 'posted', id: sentId, status: { id: '01P', author: 'me', text: 'survives a drop', createdAt: '' } });

    expect(last().sent.find((f) => f['action'] === 'post')?.['id']).toBe(sentId);
    await expect(posting).resolves.toMatchObject({ id: '01P' });
  });

  it('resubscribes with the last id seen on each channel after a reconnection', async () => {
    await connected(create());
    await client.subscribe(['user:bob']);
    const id = newId();
    last().reply({ type: 'status', channel: 'user:bob', status: { id, author: 'bob', text: 'x', createdAt: '' } });

    last().close(1001, 'Going away');
    await until(() => FakeSocket.opened.length === 2 && client.state === 'live');

    expect(last().sent).toContainEqual(expect.objectContaining({ action: 'subscribe', channels: ['user:bob'], since: { 'user:bob': id } }));
  });

  it('replaces a connection whose heartbeats go unanswered, after HEARTBEAT_TRIES of them', async () => {
    await connected(create({ heartbeatMs: 10, pongTimeoutMs: 10 }));
    const silent = last();

    await until(() => FakeSocket.opened.length === 2);

    expect(silent.sent.filter((f) => f['action'] === 'ping')).toHaveLength(HEARTBEAT_TRIES);
    expect(silent.readyState).toBe(3);
  });

  it('sends no heartbeat while frames go both ways, and one once nothing has been sent for heartbeatMs', async () => {
    await connected(create({ heartbeatMs: 1_000, random: () => 0 }));
    const socket = last();
    const pings = () => socket.sent.filter((f) => f['action'] === 'ping');

    await jest.advanceTimersByTimeAsync(600);
    const posting = client.post('busy');
    const sent = socket.sent.find((f) => f['action'] === 'post');
    socket.reply({ type: 'posted', id: sent?.['id'], status: { id: '01P', author: 'me', text: 'busy', createdAt: '' } });
    await posting;
    await jest.advanceTimersByTimeAsync(999);
    expect(pings()).toEqual([]);

    await jest.advanceTimersByTimeAsync(1);
    expect(pings()).toHaveLength(1);
  });

  it('draws each heartbeat wait at random, down to 10% short of heartbeatMs, so connections opened together do not beat together', async () => {
    await connected(create({ heartbeatMs: 1_000, random: () => 1 }));
    const pings = () => last().sent.filter((f) => f['action'] === 'ping');

    await jest.advanceTimersByTimeAsync(899);
    expect(pings()).toEqual([]);
    await jest.advanceTimersByTimeAsync(1);
    expect(pings()).toHaveLength(1);
  });

  it('takes any frame as an answer to a heartbeat, and sends an unanswered one again rather than reconnecting', async () => {
    await connected(create({ heartbeatMs: 1_000, pongTimeoutMs: 100, random: () => 0 }));
    const socket = last();
    const pings = () => socket.sent.filter((f) => f['action'] === 'ping');

    await jest.advanceTimersByTimeAsync(1_000);
    expect(pings()).toHaveLength(1);
    // Unanswered (lost, or throttled without a word): sent again, and the connection stays. Meanwhile
    // the heartbeat timer waits for the answer's deadline rather than waking again and again.
    const timers = jest.spyOn(globalThis, 'setTimeout');
    await jest.advanceTimersByTimeAsync(100);
    expect(pings()).toHaveLength(2);
    expect(timers.mock.calls.length).toBeLessThan(10);
    timers.mockRestore();
    // API Gateway's answer to a throttled message is not a pong, but it is a frame: the connection lives.
    socket.reply({ message: 'Too Many Requests', connectionId: 'c', requestId: 'r' });
    await jest.advanceTimersByTimeAsync(100 * HEARTBEAT_TRIES);

    expect(pings()).toHaveLength(2);
    expect(socket.readyState).toBe(1);
    expect(FakeSocket.opened).toHaveLength(1);
  });

  it('keeps to heartbeatMs once a heartbeat is answered, even when heartbeatMs is shorter than pongTimeoutMs', async () => {
    await connected(create({ heartbeatMs: 500, pongTimeoutMs: 15_000, random: () => 0 }));
    const socket = last();
    const pings = () => socket.sent.filter((f) => f['action'] === 'ping');

    for (let beat = 1; beat <= 3; beat++) {
      await jest.advanceTimersByTimeAsync(500);
      expect(pings()).toHaveLength(beat);
      socket.reply({ type: 'pong', id: pings()[beat - 1]?.['id'] });
    }
  });

  it('refuses requests before connect() and after close()', async () => {
    create();
    await expect(client.ping()).rejects.toThrow(/call connect\(\) first/);
    await connected(client);
    client.close();
    await expect(client.ping()).rejects.toMatchObject({ code: ClientErrorCode.Closed, message: text(/client is closed/) });
  });

  it('holds a live status that arrives during the catch-up until the older ones are out, and does not let it move the cursor early', async () => {
    await connected(create());
    await client.subscribe(['user:ann']);
    const [first, missed, live] = [newId(), newId(), newId()];
    const status = (id: string) => ({ type: 'status', channel: 'user:ann', status: { id, author: 'ann', text: id, createdAt: '' } });
    last().reply(status(first));
    const statuses: string[] = [];
    client.events.on('status', ({ status: s }) => statuses.push(s.id));
    const held: Record<string, unknown>[] = [];
    FakeSocket.onSubscribe = (_socket, frame) => void held.push(frame);

    last().close(1006);
    await until(() => held.length === 1);
    last().reply(status(live)); // arrives before the catch-up reply

    await jest.advanceTimersByTimeAsync(0);
    expect(statuses).toEqual([]);
    expect(client.channels.get('user:ann')).toBe(first);
    expect(held[0]?.['since']).toEqual({ 'user:ann': first });
    last().reply({ type: 'subscribed', id: held[0]?.['id'], channels: ['user:ann'], missed: { 'user:ann': [status(missed).status, status(live).status] } });
    await jest.advanceTimersByTimeAsync(0);
    await client.whenLive();
    expect(client.channels.get('user:ann')).toBe(live);
    expect(statuses).toEqual([missed, live]);
  });

  it('drops a channel the server refuses on reconnection and still goes live with the rest', async () => {
    await connected(create());
    await client.subscribe(['user:ann', 'inbox:me']);
    const errors: Error[] = [];
    client.events.on('error', (error) => errors.push(error));
    FakeSocket.onSubscribe = (socket, frame) =>
      Array.isArray(frame['channels']) && frame['channels'].includes('inbox:me')
        ? socket.reply({ type: 'error', id: frame['id'], code: 'forbidden', message: 'not your inbox' })
        : accept(socket, frame);

    last().close(1001);
    await until(() => FakeSocket.opened.length === 2 && client.state === 'live');

    expect([...client.channels.keys()]).toEqual(['user:ann']);
    expect(errors.map((e) => e.message)).toEqual([expect.stringContaining('inbox:me dropped')]);
  });

  it('opens no socket when closed while its token is on the way', async () => {
    let giveToken: (token: string) => void = () => undefined;
    client = new UpdraftClient({ url: 'ws://server/dev', token: () => new Promise((resolve) => (giveToken = resolve)), WebSocket: FakeSocket });
    const connecting = client.connect().catch((error: unknown) => error);

    client.close();
    giveToken('late');
    await jest.runAllTimersAsync();

    expect(FakeSocket.opened).toHaveLength(0);
    await expect(connecting).resolves.toMatchObject({ code: ClientErrorCode.Closed, message: 'client closed' });
  });

  it('settles connect() when the token function rejects with something that is not an Error', async () => {
    let calls = 0;
    // A token function may reject with anything: `undefined` here, as `Promise.reject()` does.
    // The rule guards our own code; this stands for a caller's token function that breaks it, which is the case under test.
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
    const token = () => (++calls === 1 ? Promise.reject(undefined) : Promise.resolve('t0k'));
    create({ token });
    const changes: StateChange[] = [];
    client.events.on('state', (change) => changes.push(change));
    let settled = false;
    const connecting = client.connect().then(() => (settled = true));

    await jest.advanceTimersByTimeAsync(10);

    expect(changes).toContainEqual(expect.objectContaining({ state: ConnectionState.Reconnecting, reason: text('could not get a token') }));
    expect(settled).toBe(true);
    await connecting;
    expect(client.state).toBe(ConnectionState.Live);
  });

  it('rejects connect() and reports why when there is no WebSocket to connect with', async () => {
    client = new UpdraftClient({ url: 'ws://server/dev', token: 't0k' });
    const errors: Error[] = [];
    client.events.on('error', (error) => errors.push(error));

    await expect(client.connect()).rejects.toMatchObject({ code: ClientErrorCode.Closed, message: text('no WebSocket implementation') });
    expect(client.state).toBe(ConnectionState.Closed);
    expect(errors.map((e) => e.message)).toEqual([expect.stringContaining('no WebSocket implementation')]);
  });

  it('reports a malformed frame as an error event and keeps working', async () => {
    await connected(create());
    const errors: unknown[] = [];
    client.events.on('error', (error) => errors.push(error));
    const statuses: string[] = [];
    client.events.on('status', ({ status }) => statuses.push(status.id));
    const id = newId();

    last().reply({ type: 'status', status: { id: newId(), author: 'bob', text: 'no channel', createdAt: '' } });
    last().onmessage?.({ data: 'not json' });
    last().reply({ type: 'status', channel: 'user:bob', status: { id, author: 'bob', text: 'fine', createdAt: '' } });

    expect(errors).toEqual([
      expect.objectContaining({ code: ClientErrorCode.BadFrame, message: text('channel is not a string') }),
      expect.objectContaining({ code: ClientErrorCode.BadFrame, message: text('not JSON') }),
    ]);
    expect(statuses).toEqual([id]);
    expect(client.state).toBe(ConnectionState.Live);
  });

  it('fails a request at once when its reply cannot be read, instead of waiting out the timeout', async () => {
    await connected(create({ requestTimeoutMs: 60_000 }));
    const errors: unknown[] = [];
    client.events.on('error', (error) => errors.push(error));
    const reading = client.history('user:bob').catch((error: unknown) => error);
    const request = last().sent.find((f) => f['action'] === 'history');

    last().reply({ type: 'history', id: request?.['id'], channel: 'user:bob' }); // no items
    await jest.advanceTimersByTimeAsync(0);

    expect(await reading).toMatchObject({ code: ClientErrorCode.BadFrame, message: text('items') });
    expect(errors).toEqual([]);
    expect(client.state).toBe(ConnectionState.Live);
  });

  it('rejects an unanswered request with the timeout code once its time is up', async () => {
    await connected(create({ requestTimeoutMs: 1_000 }));
    const pinging = client.ping().catch((error: unknown) => error);

    await jest.advanceTimersByTimeAsync(999);
    expect(client.state).toBe(ConnectionState.Live);
    await jest.advanceTimersByTimeAsync(1);

    await expect(pinging).resolves.toMatchObject({ code: ClientErrorCode.Timeout });
  });

  it('gives the server error code, and the wait a server asks for, on a refused request', async () => {
    await connected(create());
    const posting = client.post('too fast').catch((error: unknown) => error);
    const frame = last().sent.find((f) => f['action'] === 'post');

    last().reply({ type: 'error', id: frame?.['id'], code: 'rate_limited', message: 'posting too fast; try again in 0.6 s', retryAfterMs: 600 });

    const error = await posting;
    expect(error).toBeInstanceOf(UpdraftError);
    expect(error).toMatchObject({ code: 'rate_limited', retryAfterMs: 600 });
  });

  it('posts under the id it is given, and rejects with conflict when the server says the id holds another status', async () => {
    await connected(create());

    const posting = client.post('backup failed', undefined, { id: 'nightly-1' }).catch((error: unknown) => error);
    const frame = last().sent.find((f) => f['action'] === 'post');
    last().reply({ type: 'error', id: 'nightly-1', code: 'conflict', message: 'id "nightly-1" was used for another status' });

    expect(frame).toEqual({ action: 'post', text: 'backup failed', id: 'nightly-1' });
    expect(await posting).toMatchObject({ name: 'UpdraftError', code: 'conflict' });
  });

  it('tells when the next attempt is and makes it at once on reconnectNow()', async () => {
    // random() = 1: the full backoff ceiling, 10 s for the first retry.
    await connected(create({ backoff: { initialMs: 10_000, maxMs: 10_000 }, random: () => 1 }));
    const changes: StateChange[] = [];
    client.events.on('state', (change) => changes.push(change));
    expect(client.reconnectNow()).toBe(false);

    last().close(1006);
    const reconnecting = changes.find((c) => c.state === ConnectionState.Reconnecting);
    expect(reconnecting).toMatchObject({ attempt: 1, delayMs: 10_000, nextAttemptAt: Date.now() + 10_000 });
    expect(FakeSocket.opened).toHaveLength(1);

    expect(client.reconnectNow()).toBe(true);
    expect(changes[changes.length - 1]).toEqual({ state: ConnectionState.Reconnecting, attempt: 1, reason: 'closed 1006' });
    expect(client.reconnectNow()).toBe(false); // the attempt is under way: nothing more to bring forward
    await jest.advanceTimersByTimeAsync(0);

    expect(FakeSocket.opened).toHaveLength(2);
    expect(client.state).toBe(ConnectionState.Live);
    // The cancelled timer does not open a third connection when its time comes.
    await jest.advanceTimersByTimeAsync(10_000);
    expect(FakeSocket.opened).toHaveLength(2);
  });
});

describe('UpdraftClient positions', () => {
  const ids = Array.from({ length: 10 }, () => newId());
  const item = (pos: number) => ({ id: ids[pos] ?? '', author: 'ann', text: `#${pos}`, createdAt: '', pos });
  const live = (pos: number) => {
    const { pos: at, ...status } = item(pos);
    return { type: 'status', channel: 'user:ann', status, pos: at };
  };
  /** Subscribes to user:ann, which the server says stands at `head` with nothing missed. */
  async function subscribedAt(head: number) {
    FakeSocket.onSubscribe = (socket, frame) => socket.reply({ type: 'subscribed', id: frame['id'], channels: frame['channels'], positions: { 'user:ann': head } });
    await connected(create());
    await client.subscribe(['user:ann'], { 'user:ann': ids[head] ?? '' });
    const seen: string[] = [];
    const gaps: unknown[] = [];
    client.events.on('status', ({ status, pos }) => seen.push(`${status.text}@${pos}`));
    client.events.on('gap', (gap) => gaps.push({ gap }));
    client.events.on('recovered', (gap) => gaps.push({ recovered: gap }));
    return { seen, gaps };
  }
  const historyRequests = () => last().sent.filter((frame) => frame['action'] === 'history');

  it('hands items over in position order, once, and fills a gap from history before what came after it', async () => {
    const { seen, gaps } = await subscribedAt(1);

    last().reply(live(2));
    last().reply(live(2)); // delivered twice (a retried fan-out): dropped by position
    last().reply(live(5)); // 3 and 4 went missing on the way
    last().reply(live(6)); // held behind the gap too
    await jest.advanceTimersByTimeAsync(0);

    expect(seen).toEqual(['#2@2']);
    expect(gaps).toEqual([{ gap: { channel: 'user:ann', from: 3, to: 4 } }]);
    expect(historyRequests()).toEqual([{ action: 'history', id: text(/./), channel: 'user:ann', after: ids[2], limit: 100 }]);
    last().reply({ type: 'history', id: historyRequests()[0]?.['id'], channel: 'user:ann', items: [item(3), item(4), item(5), item(6)] });
    await jest.advanceTimersByTimeAsync(0);

    expect(seen).toEqual(['#2@2', '#3@3', '#4@4', '#5@5', '#6@6']);
    expect(gaps.at(-1)).toEqual({ recovered: { channel: 'user:ann', from: 3, to: 4, lost: [] } });
    expect(client.channels.get('user:ann')).toBe(ids[6]);
  });

  it('says which positions the store no longer holds, and carries on past them', async () => {
    const { seen, gaps } = await subscribedAt(1);

    last().reply(live(4));
    await jest.advanceTimersByTimeAsync(0);
    last().reply({ type: 'history', id: historyRequests()[0]?.['id'], channel: 'user:ann', items: [item(3), item(4)] });
    await jest.advanceTimersByTimeAsync(0);
    last().reply(live(5));

    expect(seen).toEqual(['#3@3', '#4@4', '#5@5']);
    expect(gaps).toEqual([{ gap: { channel: 'user:ann', from: 2, to: 3 } }, { recovered: { channel: 'user:ann', from: 2, to: 3, lost: [2] } }]);
  });

  it('finds a gap at the very end of a channel with sync()', async () => {
    const { seen, gaps } = await subscribedAt(1);
    // The server's head moved on to 3 while both items were lost on the way.
    FakeSocket.onSubscribe = (socket, frame) =>
      socket.reply({ type: 'subscribed', id: frame['id'], channels: frame['channels'], positions: { 'user:ann': 3 }, missed: { 'user:ann': [item(2), item(3)] } });

    await client.sync();

    expect(last().sent.at(-1)).toMatchObject({ action: 'subscribe', since: { 'user:ann': ids[1] } });
    expect(seen).toEqual(['#2@2', '#3@3']);
    expect(gaps).toEqual([]);
  });

  it('learns where a channel stands before handing over the first live item of a channel it had no position for', async () => {
    await connected(create());
    const seen: string[] = [];
    client.events.on('status', ({ status }) => seen.push(status.text));
    const subscribes: Record<string, unknown>[] = [];
    FakeSocket.onSubscribe = (_socket, frame) => void subscribes.push(frame);

    // A followed user's channel: the server subscribed this connection, the client never asked.
    last().reply(live(7));
    await jest.advanceTimersByTimeAsync(0);

    expect(seen).toEqual([]);
    expect(subscribes).toEqual([expect.objectContaining({ channels: ['user:ann'] })]);
    last().reply({ type: 'subscribed', id: subscribes[0]?.['id'], channels: ['user:ann'], positions: { 'user:ann': 7 }, missed: { 'user:ann': [item(6), item(7)] } });
    await jest.advanceTimersByTimeAsync(0);

    expect(seen).toEqual(['#6', '#7']);
  });
});

describe('feed', () => {
  const at = '2026-11-27T12:00:00.000Z';
  const entry = (author: string, pos: number, id = newId()) => ({ id, author, text: `${author}${pos}`, createdAt: at, pos });

  async function pageOfFeed(reply: Record<string, unknown>, page: { before?: string } = {}) {
    const paging = client.feed(page);
    await jest.advanceTimersByTimeAsync(0);
    const request = last().sent.filter((frame) => frame['action'] === 'feed').at(-1);
    last().reply({ type: 'feed', id: request?.['id'], ...reply });
    return paging;
  }

  it("takes the newest page as where each author's channel stands: a live item after it is handed over, one past it is a gap", async () => {
    await connected(create());
    const seen: string[] = [];
    const gaps: unknown[] = [];
    client.events.on('status', ({ channel, status }) => seen.push(`${channel} ${status.text}`));
    client.events.on('gap', (gap) => gaps.push(gap));
    const [bob1, ann5, bob2] = [entry('bob', 1), entry('ann', 5), entry('bob', 2)];

    const page = await pageOfFeed({ items: [bob2, ann5, bob1], next: bob1.id, replyCounts: { [ann5.id]: 3 } });

    expect(page).toEqual({ items: [bob2, ann5, bob1], next: bob1.id, replyCounts: { [ann5.id]: 3 } });
    expect(seen).toEqual(['user:bob bob2', 'user:ann ann5', 'user:bob bob1']);
    expect([client.channels.get('user:ann'), client.channels.get('user:bob')]).toEqual([ann5.id, bob2.id]);

    const { pos: annAt, ...ann6 } = entry('ann', 6);
    const { pos: bobAt, ...bob4 } = entry('bob', 4);
    last().reply({ type: 'status', channel: 'user:ann', status: ann6, pos: annAt });
    last().reply({ type: 'status', channel: 'user:bob', status: bob4, pos: bobAt });
    await jest.advanceTimersByTimeAsync(0);

    expect(seen.slice(3)).toEqual(['user:ann ann6']);
    expect(gaps).toEqual([{ channel: 'user:bob', from: 3, to: 3 }]);
  });

  it('moves no cursor on a later page, and hands its items over once', async () => {
    await connected(create());
    const seen: string[] = [];
    client.events.on('status', ({ status }) => seen.push(status.text));
    const old = entry('cat', 1);

    await pageOfFeed({ items: [old] }, { before: newId() });
    await pageOfFeed({ items: [old] }, { before: newId() });

    expect(seen).toEqual(['cat1']);
    expect(client.channels.has('user:cat')).toBe(false);
  });
});

describe('get', () => {
  it('asks 100 ids at a time, and again for those a reply left out to stay under 128 KB', async () => {
    await connected(create());
    const ids = Array.from({ length: 150 }, () => newId());
    const status = (id: string) => ({ id, author: 'ann', text: 'hi', createdAt: '2026-11-27T12:00:00.000Z' });

    const getting = client.get(ids);
    await jest.advanceTimersByTimeAsync(0);
    const first = last().sent.at(-1);
    expect(first?.['ids']).toEqual(ids.slice(0, 100));
    // The server sent 98, left 2 out for size, and knew none of the last.
    last().reply({ type: 'statuses', id: first?.['id'], statuses: ids.slice(0, 98).map(status), missing: [], truncated: ids.slice(98, 100) });
    await jest.advanceTimersByTimeAsync(0);
    const second = last().sent.at(-1);
    expect(second?.['ids']).toEqual(ids.slice(98, 150));
    last().reply({ type: 'statuses', id: second?.['id'], statuses: ids.slice(98, 100).map(status), missing: ids.slice(100), replyCounts: { [ids[0] ?? '']: 2 } });

    expect(await getting).toEqual({ statuses: ids.slice(0, 100).map(status), missing: ids.slice(100), replyCounts: { [ids[0] ?? '']: 2 } });
  });
});
