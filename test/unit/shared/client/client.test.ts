import { UpdraftClient, type SocketLike } from '../../../../shared/client';
import { newId } from '../../../../shared/ids';

/** A socket the test plays the server for: it sees what the client sends and answers by hand. */
class FakeSocket implements SocketLike {
  static opened: FakeSocket[] = [];
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
    // The server side of catching up: subscriptions are acknowledged at once.
    if (frame['action'] === 'subscribe') this.reply({ type: 'subscribed', id: frame['id'], channels: frame['channels'] });
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
beforeEach(() => {
  FakeSocket.opened = [];
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
  });
});
