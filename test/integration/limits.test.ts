import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { LocalStack } from '../support/local-stack';

/**
 * API Gateway's limits, with the time limits shortened through configuration:
 * 32 KB frames and 128 KB messages (close 1009), the idle timeout and the
 * maximum connection time (close 1001), and DynamoDB's TTL expiry. Updraft's
 * own limits are in service-limits.test.ts, on a stack whose connections are
 * not cut after 5 seconds.
 */
let stack: LocalStack;

beforeAll(async () => {
  stack = await LocalStack.start({
    env: { UPDRAFT_IDLE_TIMEOUT_MS: '2000', UPDRAFT_MAX_CONNECTION_MS: '5000', UPDRAFT_TTL_SWEEP_MS: '300' },
  });
});

afterAll(async () => {
  expect(await stack.stop()).toBe(0);
});

describe('frame and message limits', () => {
  it('closes with 1009 on a frame over 32 KB', async () => {
    const client = await stack.connect('big-frame');

    client.sendRaw(JSON.stringify({ action: 'post', text: 'x'.repeat(33 * 1024) }));

    expect((await client.closed).code).toBe(1009);
  });

  it('takes a 100 KB message sent in frames under 32 KB, and answers it', async () => {
    const client = await stack.connect('fragments');
    const message = Buffer.from(JSON.stringify({ action: 'ping', id: 'frag', padding: 'p'.repeat(100 * 1024) }));

    for (let offset = 0; offset < message.length; offset += 30 * 1024) {
      client.socket.send(message.subarray(offset, offset + 30 * 1024), { fin: offset + 30 * 1024 >= message.length, binary: false });
    }

    expect(await client.next((f) => f.id === 'frag')).toEqual({ type: 'pong', id: 'frag' });
    await client.close();
  });

  it('closes with 1009 on a message over 128 KB, even in small frames', async () => {
    const client = await stack.connect('big-message');
    const message = Buffer.alloc(130 * 1024, 'a');

    for (let offset = 0; offset < message.length; offset += 16 * 1024) {
      client.socket.send(message.subarray(offset, offset + 16 * 1024), { fin: offset + 16 * 1024 >= message.length, binary: false });
    }

    expect((await client.closed).code).toBe(1009);
  });
});

describe('time limits', () => {
  it('closes an idle connection with 1001, and keeps a busy one open until its maximum age', async () => {
    const idle = await stack.connect('idle');
    const idleOpened = Date.now();
    const busy = await stack.connect('busy');
    const busyOpened = Date.now();
    const keepAlive = setInterval(() => busy.socket.readyState === busy.socket.OPEN && busy.sendRaw(JSON.stringify({ action: 'ping' })), 250);

    const idleClose = await idle.closed;
    const idleAfter = Date.now() - idleOpened;
    const busyClose = await busy.closed;
    const busyAfter = Date.now() - busyOpened;
    clearInterval(keepAlive);

    expect(idleClose.code).toBe(1001);
    // The gateway's timers start a moment before the client sees the handshake end.
    expect(idleAfter).toBeGreaterThanOrEqual(1800);
    expect(busyClose.code).toBe(1001);
    expect(busyAfter).toBeGreaterThanOrEqual(4800);
  });
});

describe('TTL', () => {
  it('deletes rows whose expiry has passed, and keeps the others', async () => {
    const db = stack.documentClient();
    const table = stack.tableName('Connections');
    const now = Math.floor(Date.now() / 1000);
    await db.send(new PutCommand({ TableName: table, Item: { pk: 'conn#expired', sk: 'conn', connectionId: 'expired', expiresAt: now - 10 } }));
    await db.send(new PutCommand({ TableName: table, Item: { pk: 'conn#current', sk: 'conn', connectionId: 'current', expiresAt: now + 3600 } }));
    const exists = async (pk: string) => (await db.send(new GetCommand({ TableName: table, Key: { pk, sk: 'conn' } }))).Item !== undefined;

    const deadline = Date.now() + 5000;
    while ((await exists('conn#expired')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));

    expect(await exists('conn#expired')).toBe(false);
    expect(await exists('conn#current')).toBe(true);
  });
});
