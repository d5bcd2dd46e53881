import { UpdraftClient, type SocketLike } from '../../../../shared/client';
import { newId } from '../../../../shared/ids';

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

const until = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  if (!check()) throw new Error('condition never held');
};
const last = () => FakeSocket.opened[FakeSocket.opened.length - 1] as FakeSocket;

let client: UpdraftClient;
const accept = FakeSocket.onSubscribe;
beforeEach(() => {
  FakeSocket.opened = [];
  FakeSocket.onSubscribe = accept;
});
afterEach(() => client.close());

function create(options: { heartbeatMs?: number; pongTimeoutMs?: number } = {}) {
  client = new UpdraftClient({ url: 'ws://server/dev', token: 't0k', WebSocket: FakeSocket, backoff: { initialMs: 1, maxMs: 5 }, ...options });
  return client;
}

describe('UpdraftClient', () => {
  it('puts the token in the query string', async () => {
    await create().connect();

    expect(last().url).toBe('ws://server/dev?token=t0k');
  });

  it('hands a status over once however often it is delivered', async () => {
    await create().connect();
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
    await create().connect();
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
    await create().connect();
    await client.subscribe(['user:bob']);
    const id = newId();
    last().reply({ type: 'status', channel: 'user:bob', status: { id, author: 'bob', text: 'x', createdAt: '' } });

    last().close(1001, 'Going away');
    await until(() => FakeSocket.opened.length === 2 && client.state === 'live');

    expect(last().sent).toContainEqual(expect.objectContaining({ action: 'subscribe', channels: ['user:bob'], since: { 'user:bob': id } }));
  });

  it('replaces a connection whose heartbeat goes unanswered', async () => {
    await create({ heartbeatMs: 10, pongTimeoutMs: 10 }).connect();
    const silent = last();

    await until(() => FakeSocket.opened.length === 2);

    expect(silent.sent.some((f) => f['action'] === 'ping')).toBe(true);
    expect(silent.readyState).toBe(3);
  });

  it('refuses requests before connect() and after close()', async () => {
    create();
    await expect(client.ping()).rejects.toThrow(/call connect\(\) first/);
    await client.connect();
    client.close();
    await expect(client.ping()).rejects.toThrow(/client is closed/);
  });

  it('does not let a live status move a cursor past what the catch-up has yet to bring', async () => {
    await create().connect();
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

    expect(client.channels.get('user:ann')).toBe(first);
    expect(held[0]?.['since']).toEqual({ 'user:ann': first });
    last().reply({ type: 'subscribed', id: held[0]?.['id'], channels: ['user:ann'], missed: { 'user:ann': [status(missed).status, status(live).status] } });
    await client.whenLive();
    expect(client.channels.get('user:ann')).toBe(live);
    expect(statuses).toEqual([live, missed]);
  });

  it('drops a channel the server refuses on reconnection and still goes live with the rest', async () => {
    await create().connect();
    await client.subscribe(['user:ann', 'inbox:me']);
    const errors: Error[] = [];
    client.events.on('error', (error) => errors.push(error));
    FakeSocket.onSubscribe = (socket, frame) =>
      (frame['channels'] as string[]).includes('inbox:me')
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
    const connecting = client.connect().catch((error: Error) => error.message);

    client.close();
    giveToken('late');
    await new Promise((resolve) => setTimeout(resolve, 10));

    expect(FakeSocket.opened).toHaveLength(0);
    await expect(connecting).resolves.toBe('client closed');
  });
});
