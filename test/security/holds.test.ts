// jest's global expect types its asymmetric matchers (expect.any, …) as any; @jest/globals types them.
import { expect } from '@jest/globals';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect as connectTcp } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { GetCommand, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { SignJWT, base64url, exportJWK, generateKeyPair } from 'jose';
import { Connections } from '../../shared/schema';
import { LocalStack, TEST_ASSEMBLY } from '../support/local-stack';
import { TestClient, type Frame } from '../support/ws-client';

/**
 * Attacks whose defences hold today (SECURITY.md), tried against the local stack with real
 * WebSocket clients and raw HTTP: signing in as someone else, reading someone else's inbox,
 * posting as someone else, reading files beside the browser app. Each asserts the refusal the
 * protocol names (docs/protocol.md) and that nothing was stored or delivered from it.
 */
const dataDir = mkdtempSync(path.join(tmpdir(), 'updraft-holds-'));
let stack: LocalStack;
/** The stack's JWT secret: with it the tests sign tokens that are bad in one respect only. */
let secret: string;
let secretFile: string;

beforeAll(async () => {
  // A stack with a data folder keeps its JWT secret in a file.
  stack = await LocalStack.start({ dataDir });
  ({ secret, file: secretFile } = stack.jwtSecret());
});

afterAll(async () => {
  expect(await stack.stop()).toBe(0);
  rmSync(dataDir, { recursive: true, force: true });
});

interface Status {
  readonly id: string;
  readonly author: string;
  readonly text: string;
  readonly createdAt: string;
  readonly replyTo?: string;
  readonly thread?: string;
}
const statusOf = (frame: Frame) => frame['status'] as Status;
const notificationOf = (frame: Frame) => frame['notification'] as { kind: string; from: string; status?: Status };

/** The error frame the protocol answers a refused request with: nothing else in it. */
const refusal = (code: string) => ({ type: 'error', id: expect.any(String), code, message: expect.any(String) });

async function query(table: string, key: Record<string, string>, index?: string): Promise<Record<string, unknown>[]> {
  const [[name, value] = ['', '']] = Object.entries(key);
  const { Items = [] } = await stack.documentClient().send(
    new QueryCommand({
      TableName: stack.tableName(table),
      ...(index ? { IndexName: index } : {}),
      KeyConditionExpression: '#k = :v',
      ExpressionAttributeNames: { '#k': name },
      ExpressionAttributeValues: { ':v': value },
    }),
  );
  return Items;
}

/**
 * Sends frames one after the other: in parallel they would start cold containers of the function
 * (up to four), which costs more than the frames themselves on a busy machine.
 */
async function inTurn<T, R>(items: readonly T[], send: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (const item of items) results.push(await send(item));
  return results;
}

const statusRows = (channel: string) => query('Statuses', { channel });
const connectionIdsOf = async (user: string) => (await query('Connections', { userId: user }, 'byUser')).map((item) => String(item['connectionId']));

/** Every subscription row (`chan#<channel>#<shard> / <hash>#<connectionId>`) as [channel, connection id]. */
async function subscriptionRows(): Promise<[string, string][]> {
  const { Items = [] } = await stack.documentClient().send(new ScanCommand({ TableName: stack.tableName('Connections'), ConsistentRead: true }));
  const prefix = Connections.rows.subscription.prefix;
  return Items.flatMap((item) => {
    const pk = String(item['pk']);
    const sk = String(item['sk']);
    if (!pk.startsWith(prefix) || sk === Connections.rows.fanOutMark.sortKey) return [];
    return [[pk.slice(prefix.length).replace(/#\d+$/, ''), sk.slice(sk.indexOf('#') + 1)] as [string, string]];
  });
}

// --- forged tokens --------------------------------------------------------------------------

const encoder = new TextEncoder();
const now = () => Math.floor(Date.now() / 1000);
const inAnHour = () => now() + 3600;
const segment = (value: unknown) => base64url.encode(JSON.stringify(value));

/** A compact JWS built by hand, so a test controls every header field (jose refuses to sign some of them). */
function handSigned(header: Record<string, unknown>, payload: Record<string, unknown>, key: string, hash: 'sha256' | 'sha384' | 'sha512' = 'sha256'): string {
  const input = `${segment(header)}.${segment(payload)}`;
  return `${input}.${createHmac(hash, key).update(input).digest('base64url')}`;
}

const unsigned = (alg: string, payload: Record<string, unknown>, signature = '') => `${segment({ alg, typ: 'JWT' })}.${segment(payload)}.${signature}`;

/** The user every forged token names; it must never appear connected. */
const VICTIM = 'victim';

/** Tokens that must each be refused at the handshake with 401, by what is wrong with them. */
const forgeries: [string, () => Promise<string>][] = [
  ['alg none, no signature', () => Promise.resolve(unsigned('none', { sub: VICTIM, iat: now(), exp: inAnHour() }))],
  ['alg None, no signature', () => Promise.resolve(unsigned('None', { sub: VICTIM, iat: now(), exp: inAnHour() }))],
  ['alg none carrying an HS256 signature by the stack secret', () => {
    const claims = { sub: VICTIM, iat: now(), exp: inAnHour() };
    return Promise.resolve(unsigned('none', claims, handSigned({ alg: 'HS256', typ: 'JWT' }, claims, secret).split('.')[2]));
  }],
  ['HS256 signed with another key', () => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setSubject(VICTIM).setExpirationTime('1h').sign(encoder.encode('x'.repeat(64)))],
  ['HS512 signed with the stack secret', () => new SignJWT({}).setProtectedHeader({ alg: 'HS512' }).setIssuedAt().setSubject(VICTIM).setExpirationTime('1h').sign(encoder.encode(secret))],
  ['HS384 signed with the stack secret', () => Promise.resolve(handSigned({ alg: 'HS384', typ: 'JWT' }, { sub: VICTIM, iat: now(), exp: inAnHour() }, secret, 'sha384'))],
  ['RS256 with its own public key embedded (jwk header)', async () => {
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    return new SignJWT({}).setProtectedHeader({ alg: 'RS256', jwk: await exportJWK(publicKey) }).setIssuedAt().setSubject(VICTIM).setExpirationTime('1h').sign(privateKey);
  }],
  // The stack's tokens live 24 hours at most from iat (budgets.test.ts refuses an old one): a token without it has no age.
  ['HS256 with the stack secret but no iat', () => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(VICTIM).setExpirationTime('1h').sign(encoder.encode(secret))],
  ['HS256 with the stack secret but no exp', () => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setSubject(VICTIM).sign(encoder.encode(secret))],
  ['HS256 with the stack secret, exp a string', () => Promise.resolve(handSigned({ alg: 'HS256' }, { sub: VICTIM, iat: now(), exp: String(inAnHour()) }, secret))],
  ['HS256 with the stack secret, nbf an hour ahead', () =>
    new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setSubject(VICTIM).setNotBefore('1h').setExpirationTime('2h').sign(encoder.encode(secret))],
  ['HS256 with the stack secret, expired a minute ago', () =>
    new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setSubject(VICTIM).setExpirationTime(Math.floor(Date.now() / 1000) - 60).sign(encoder.encode(secret))],
  ['HS256 with the stack secret, no sub', () => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('1h').sign(encoder.encode(secret))],
  ['HS256 with the stack secret, sub not a user id', () =>
    new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setSubject(`${VICTIM}#conn`).setExpirationTime('1h').sign(encoder.encode(secret))],
  ['HS256 with the stack secret, an unknown crit extension', () => Promise.resolve(handSigned({ alg: 'HS256', crit: ['exp-override'], 'exp-override': true }, { sub: VICTIM, iat: now(), exp: inAnHour() }, secret))],
  ["someone's valid token with sub rewritten", async () => {
    const [header = '', payload = '', signature = ''] = (await stack.token('mallory-token')).split('.');
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(payload))) as Record<string, unknown>;
    return `${header}.${segment({ ...claims, sub: VICTIM })}.${signature}`;
  }],
  ['not a JWT', () => Promise.resolve('not-a-token')],
  ['three segments of garbage', () => Promise.resolve('abc.def.ghi')],
  ['a header that is not JSON', () => Promise.resolve(`${base64url.encode('{alg:HS256')}.${segment({ sub: VICTIM, iat: now(), exp: inAnHour() })}.AAAA`)],
  ['five segments (JWE shape)', () => Promise.resolve(`${segment({ alg: 'dir', enc: 'A256GCM' })}..AAAA.AAAA.AAAA`)],
  ['a valid token with a fourth segment', async () => `${await stack.token(VICTIM)}.AAAA`],
];

/** The user's presence as another connection sees it, and their rows in the Connections table. */
async function traceOf(observer: TestClient, user: string) {
  const presence = await observer.request({ action: 'presence', users: [user] });
  const { Item } = await stack.documentClient().send(new GetCommand({ TableName: stack.tableName('Connections'), Key: { pk: `presence#${user}`, sk: 'presence' } }));
  return { presence: presence['users'], connections: await connectionIdsOf(user), presenceRow: Item };
}

describe('forged tokens at the handshake', () => {
  it('connects with a token built the same way that is right in every respect (the control)', async () => {
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setSubject('control').setExpirationTime('1h').sign(encoder.encode(secret));
    const client = await TestClient.open(`${stack.wsUrl}?token=${token}`);
    expect(await client.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
    await client.close();
  });

  it.each(forgeries)('refuses %s with 401', async (_, forge) => {
    await expect(TestClient.open(`${stack.wsUrl}?token=${encodeURIComponent(await forge())}`)).rejects.toMatchObject({ status: 401 });
  });

  it.each([
    ['an Authorization header', (token: string) => ({ url: stack.wsUrl, headers: { authorization: `Bearer ${token}` } })],
    ['the Sec-WebSocket-Protocol header', (token: string) => ({ url: stack.wsUrl, headers: { 'sec-websocket-protocol': token } })],
    ['a cookie', (token: string) => ({ url: stack.wsUrl, headers: { cookie: `token=${token}` } })],
    ['another query parameter (access_token)', (token: string) => ({ url: `${stack.wsUrl}?access_token=${token}`, headers: {} })],
    ['the query parameter spelled Token', (token: string) => ({ url: `${stack.wsUrl}?Token=${token}`, headers: {} })],
  ])("refuses a valid token in %s (only ?token= is read) with 401", async (_, place) => {
    const { url, headers } = place(await stack.token(VICTIM));
    await expect(TestClient.open(url, headers)).rejects.toMatchObject({ status: 401 });
  });

  it('leaves no trace of the user the refused tokens named: offline, never seen, no connection rows', async () => {
    const observer = await stack.connect('observer');
    // Presence is told only for people the asker follows: the observer follows the victim, so it would be told the truth.
    expect(await observer.request({ action: 'follow', user: VICTIM })).toMatchObject({ type: 'followed' });
    expect(await traceOf(observer, VICTIM)).toEqual({ presence: [{ user: VICTIM, online: false }], connections: [], presenceRow: undefined });
    await observer.close();
  });
});

// --- someone else's inbox -------------------------------------------------------------------

/** Channel names that try to reach bob's inbox from mallory's connection, and the code each must get. */
const inboxTricks: [unknown, 'forbidden' | 'bad_request'][] = [
  ['inbox:bob', 'forbidden'],
  // User ids are case-sensitive: these are other users' inboxes, and not mallory's either.
  ['inbox:Bob', 'forbidden'],
  ['inbox:BOB', 'forbidden'],
  ['inbox:malloryx', 'forbidden'],
  ['inbox:mallor', 'forbidden'],
  ['inbox:mallory-', 'forbidden'],
  ['INBOX:bob', 'bad_request'],
  ['Inbox:bob', 'bad_request'],
  ['inbox :bob', 'bad_request'],
  ['inbox: bob', 'bad_request'],
  [' inbox:bob', 'bad_request'],
  ['inbox:bob ', 'bad_request'],
  ['inbox:bob\n', 'bad_request'],
  ['inbox:bob\t', 'bad_request'],
  ['inbox:bob\u0000', 'bad_request'],
  ['inbox:b\u03bfb', 'bad_request'], // Greek small omicron
  ['inbox:\uff42\uff4f\uff42', 'bad_request'], // fullwidth letters
  ['inbox\uff1abob', 'bad_request'], // fullwidth colon
  ['inbox:bob\u200b', 'bad_request'], // zero-width space
  ['inbox:\u200bbob', 'bad_request'],
  ['inbox:bob:', 'bad_request'],
  ['inbox:bob/', 'bad_request'],
  ['inbox:bob#', 'bad_request'],
  // The subscription partition is `chan#<channel>#<shard>`: a name carrying the shard must not reach bob's rows.
  ['inbox:bob#0', 'bad_request'],
  ['inbox::bob', 'bad_request'],
  ['inbox:mallory:bob', 'bad_request'],
  ['inbox:mallory/../bob', 'bad_request'],
  ['inbox:mallory#bob', 'bad_request'],
  ['inbox:mallory,inbox:bob', 'bad_request'],
  ['inbox%3Abob', 'bad_request'],
  ['inbox:%62ob', 'bad_request'],
  ['inbox%3abob', 'bad_request'],
  ['inbox:*', 'bad_request'],
  ['inbox:', 'bad_request'],
  [['inbox:bob'], 'bad_request'], // an array, which String() would turn into the name
  [{ toString: 'inbox:bob' }, 'bad_request'],
];

describe("someone else's inbox", () => {
  let mallory: TestClient;
  let bob: TestClient;
  let carol: TestClient;
  /** A status of bob's, already answered once, so bob's inbox holds a notification to leak. */
  let bobStatus: Status;
  let malloryStatus: Status;

  beforeAll(async () => {
    [mallory, bob, carol] = await Promise.all([stack.connect('mallory'), stack.connect('bob'), stack.connect('carol')]);
    expect(await bob.request({ action: 'subscribe', channels: ['inbox:bob'] })).toMatchObject({ type: 'subscribed' });
    expect(await mallory.request({ action: 'subscribe', channels: ['inbox:mallory'] })).toMatchObject({ type: 'subscribed' });
    bobStatus = statusOf(await bob.request({ action: 'post', text: 'bob, in private' }));
    malloryStatus = statusOf(await mallory.request({ action: 'post', text: 'mallory here' }));
    await carol.request({ action: 'post', text: 'an early reply to bob', replyTo: bobStatus.id });
    await bob.next((f) => f.type === 'notification' && notificationOf(f).from === 'carol');
  });

  it('answers subscribe to each channel-name trick with the protocol error, and subscribes to nothing', async () => {
    const replies = await inTurn(inboxTricks, async ([channel]) => ({ channel, reply: await mallory.request({ action: 'subscribe', channels: [channel] }) }));
    expect(replies).toEqual(inboxTricks.map(([channel, code]) => ({ channel, reply: refusal(code) })));
  });

  it('answers history on each channel-name trick, with and without a cursor, with the protocol error and no items', async () => {
    const cursors = [{ before: '7ZZZZZZZZZZZZZZZZZZZZZZZZZ' }, { after: '00000000000000000000000000' }];
    const asks = inboxTricks.flatMap(([channel, code]) => [
      { frame: { action: 'history', channel }, code },
      // A cursor changes which items a page holds, never whose channel it is: tried on the names that parse.
      ...(code === 'forbidden' ? cursors.map((cursor) => ({ frame: { action: 'history', channel, limit: 100, ...cursor }, code })) : []),
    ]);
    const replies = await inTurn(asks, async ({ frame }) => ({ frame, reply: await mallory.request(frame) }));
    expect(replies).toEqual(asks.map(({ frame, code }) => ({ frame, reply: refusal(code) })));
  });

  it("refuses subscribe with since on bob's inbox, alone or beside channels mallory may read; no refused frame subscribed mallory to anything", async () => {
    const since = '00000000000000000000000000';
    expect(await mallory.request({ action: 'subscribe', channels: ['inbox:bob'], since: { 'inbox:bob': since } })).toEqual(refusal('forbidden'));
    expect(await mallory.request({ action: 'subscribe', channels: ['user:bob', 'inbox:bob'], since: { 'user:bob': since } })).toEqual(refusal('forbidden'));
    // since may only name channels of the same frame, so a readable channel cannot carry a cursor on bob's inbox.
    expect(await mallory.request({ action: 'subscribe', channels: ['inbox:mallory'], since: { 'inbox:bob': since } })).toEqual(refusal('bad_request'));
    // JSON keeps the last of two equal keys; the gateway routes and the handler reads the same parse.
    mallory.sendRaw('{"action":"subscribe","id":"dup-keys","channels":["inbox:mallory"],"channels":["inbox:bob"]}');
    expect(await mallory.next((f) => f.id === 'dup-keys')).toEqual({ type: 'error', id: 'dup-keys', code: 'forbidden', message: expect.any(String) });

    // Every frame above and in the tests before: mallory holds her own inbox, and bob's inbox holds bob alone.
    const [malloryConnection] = await connectionIdsOf('mallory');
    const rows = await subscriptionRows();
    expect(rows.filter(([, connection]) => connection === malloryConnection).map(([channel]) => channel)).toEqual(['inbox:mallory']);
    expect(rows.filter(([channel]) => channel === 'inbox:bob').map(([, connection]) => connection)).toEqual(await connectionIdsOf('bob'));
  });

  it("delivers bob's next notification to bob alone, even after mallory unsubscribes from bob's inbox", async () => {
    // unsubscribe touches the caller's own rows only: it cannot take bob off his inbox.
    expect(await mallory.request({ action: 'unsubscribe', channels: ['inbox:bob'] })).toMatchObject({ type: 'unsubscribed' });
    const toBob = statusOf(await carol.request({ action: 'post', text: 'for bob only', replyTo: bobStatus.id }));
    await bob.next((f) => f.type === 'notification' && notificationOf(f).status?.id === toBob.id);
    // The marker: a notification to mallory, sent after bob's arrived, reaches her.
    const toMallory = statusOf(await carol.request({ action: 'post', text: 'for mallory', replyTo: malloryStatus.id }));
    await mallory.next((f) => f.type === 'notification' && notificationOf(f).status?.id === toMallory.id);

    expect(mallory.frames.filter((f) => f.type === 'notification').map((f) => notificationOf(f).status?.id)).toEqual([toMallory.id]);
    expect(JSON.stringify(mallory.frames)).not.toContain(bobStatus.id);
  });
});

// --- posting as someone else ----------------------------------------------------------------

describe('posting as someone else', () => {
  let mallory: TestClient;
  let dave: TestClient;
  let daveStatus: Status;
  let otherRoot: Status;

  beforeAll(async () => {
    [mallory, dave] = await Promise.all([stack.connect('mallory2'), stack.connect('dave')]);
    daveStatus = statusOf(await dave.request({ action: 'post', text: "dave's own words", id: 'dave-request-1' }));
    otherRoot = statusOf(await dave.request({ action: 'post', text: 'another thread' }));
  });

  it('ignores author, createdAt, thread and other server-owned fields in a post frame: the status is the signed-in user\'s', async () => {
    const before = new Date();
    const reply = await mallory.request({
      action: 'post',
      text: 'who wrote this?',
      author: 'dave',
      createdAt: '2000-01-01T00:00:00.000Z',
      thread: daveStatus.id,
      from: 'dave',
      userId: 'dave',
      status: { id: daveStatus.id, author: 'dave' },
      requestContext: { authorizer: { userId: 'dave', principalId: 'dave' }, connectionId: 'x' },
    });
    const status = statusOf(reply);
    expect(status).toEqual({ id: expect.any(String), author: 'mallory2', text: 'who wrote this?', createdAt: expect.any(String) });
    expect(status.id).not.toBe(daveStatus.id);
    expect(Date.parse(status.createdAt)).toBeGreaterThanOrEqual(before.getTime() - 1000);

    const { Item } = await stack.documentClient().send(new GetCommand({ TableName: stack.tableName('Statuses'), Key: { channel: `status:${status.id}`, id: status.id } }));
    expect(Item).toMatchObject({ author: 'mallory2', text: 'who wrote this?', createdAt: status.createdAt });
    expect(Item).not.toHaveProperty('thread');
    expect((await statusRows('user:dave')).map((row) => row['id'])).toEqual([daveStatus.id, otherRoot.id]);
    expect(await statusRows(`thread:${daveStatus.id}`)).toEqual([]);
    expect((await statusRows('user:mallory2')).map((row) => row['author'])).toEqual(['mallory2']);
  });

  it('takes a reply\'s thread from the status answered, never from the frame, and notifies as the signed-in user', async () => {
    const reply = statusOf(await mallory.request({ action: 'post', text: 'a reply', replyTo: daveStatus.id, thread: otherRoot.id, author: 'dave' }));
    expect(reply).toMatchObject({ author: 'mallory2', replyTo: daveStatus.id, thread: daveStatus.id });
    expect(await statusRows(`thread:${otherRoot.id}`)).toEqual([]);
    expect(await statusRows('inbox:dave')).toEqual([expect.objectContaining({ id: reply.id, notification: expect.objectContaining({ kind: 'reply', from: 'mallory2' }) })]);
  });

  it("cannot reach dave's status through his request id or a status id used as one", async () => {
    // Idempotency claims are keyed by the signed-in user: dave's request id is a fresh one for mallory.
    const reused = statusOf(await mallory.request({ action: 'post', text: 'same request id, other user', id: 'dave-request-1' }));
    expect(reused).toMatchObject({ author: 'mallory2', text: 'same request id, other user' });
    expect(reused.id).not.toBe(daveStatus.id);
    const asId = statusOf(await mallory.request({ action: 'post', text: 'a status id as request id', id: daveStatus.id }));
    expect(asId.id).not.toBe(daveStatus.id);
    const { Item } = await stack.documentClient().send(new GetCommand({ TableName: stack.tableName('Statuses'), Key: { channel: `status:${daveStatus.id}`, id: daveStatus.id } }));
    expect(Item).toMatchObject({ author: 'dave', text: "dave's own words" });
  });

  it('follows as the signed-in user whatever the frame says the follower is', async () => {
    expect(await mallory.request({ action: 'follow', user: 'carol', follower: 'dave', userId: 'dave' })).toMatchObject({ type: 'followed', user: 'carol' });
    expect(await dave.request({ action: 'following' })).toMatchObject({ type: 'following', users: [] });
    expect(await mallory.request({ action: 'following' })).toMatchObject({ type: 'following', users: ['carol'] });
  });
});

// --- frames that are not the protocol's -----------------------------------------------------

describe('frames that are not the protocol', () => {
  it('answers actions naming gateway routes, internal functions or the Management API with unknown_action, and the connection carries on', async () => {
    const erin = await stack.connect('erin');
    const actions = ['$connect', '$disconnect', '$default', 'deliver', 'fanout', 'authorizer', '@connections', 'POST', 'postToConnection', 'deleteConnection'];
    const replies = await inTurn(actions, async (action) => ({ action, reply: await erin.request({ action, connectionId: 'anything', data: 'x' }) }));
    expect(replies).toEqual(actions.map((action) => ({ action, reply: refusal('unknown_action') })));
    expect(await erin.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
    expect(await connectionIdsOf('erin')).toHaveLength(1);
  });

  it.each([
    ['a binary frame holding a post', 1003, (client: TestClient) => client.socket.send(Buffer.from(JSON.stringify({ action: 'post', text: 'sent as binary' })), { binary: true })],
    ['a text frame that is not UTF-8', 1007, (client: TestClient) => client.socket.send(Buffer.from([...Buffer.from('{"action":"post","text":"'), 0xff, 0xfe, ...Buffer.from('"}')]), { binary: false })],
    ['a frame over 32 KB', 1009, (client: TestClient) => client.sendRaw(JSON.stringify({ action: 'post', text: 'x'.repeat(33 * 1024) }))],
  ])('closes on %s with %i, stores nothing from it, and others carry on', async (_, code, send) => {
    const user = `closer${code}`;
    const client = await stack.connect(user);
    send(client);
    expect((await client.closed).code).toBe(code);
    expect(await statusRows(`user:${user}`)).toEqual([]);
    const bystander = await stack.connect(`bystander${code}`);
    expect(await bystander.request({ action: 'post', text: 'still here' })).toMatchObject({ type: 'posted' });
  });
});

// --- files beside the browser app -----------------------------------------------------------

/** Sends `target` as the request line's target byte for byte (fetch and http.request would normalize `..`). */
function rawGet(target: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp(stack.ports.http, '127.0.0.1', () => socket.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${stack.ports.http}\r\nConnection: close\r\n\r\n`));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    // A server that never answers fails this request, and names it, well before the test's own timeout.
    socket.setTimeout(5000, () => socket.destroy(new Error(`no answer to GET ${target} within 5 s`)));
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
      resolve({ status, body: text.slice(text.indexOf('\r\n\r\n') + 4) });
    });
  });
}

describe('path traversal on the web server', () => {
  // The browser app is served from TEST_ASSEMBLY-web; beside it, in the same temporary folder, lie the
  // synthesized template and this stack's data folder with its JWT secret.
  const assembly = path.basename(TEST_ASSEMBLY);
  const manifest = () => readFileSync(path.join(TEST_ASSEMBLY, 'manifest.json'), 'utf8');
  const secretPath = () => path.relative(tmpdir(), secretFile);
  const up = '../'.repeat(12);
  const targets = (): string[] => [
    `/../${assembly}/manifest.json`,
    `/../${secretPath()}`,
    `/%2e%2e/${secretPath()}`,
    `/%2E%2E/${assembly}/manifest.json`,
    `/.%2e/${assembly}/manifest.json`,
    `/..%2f${secretPath().replaceAll('/', '%2f')}`,
    `/%2e%2e%2f${assembly}%2fmanifest.json`,
    `/%252e%252e/${assembly}/manifest.json`,
    `/%252e%252e%252f${secretPath().replaceAll('/', '%252f')}`,
    `/..\\${secretPath().replaceAll('/', '\\')}`,
    `/..%5c${assembly}%5cmanifest.json`,
    `/%c0%ae%c0%ae/${assembly}/manifest.json`,
    `/assets/../../${assembly}/manifest.json`,
    `/${up}etc/passwd`,
    `/${up.replaceAll('..', '%2e%2e')}etc/passwd`,
    `/${up.replaceAll('/', '%2f')}etc%2fpasswd`,
    '//etc/passwd',
    '/etc/passwd',
    '/%2fetc%2fpasswd',
    secretFile,
    `http://127.0.0.1:${stack.ports.http}/../${secretPath()}`,
    '/index.html%00',
    `/../${assembly}/manifest.json%00.html`,
    `/%00/../${assembly}/manifest.json`,
  ];

  it('serves the app at / and /index.html (the control)', async () => {
    for (const target of ['/', '/index.html']) expect(await rawGet(target)).toMatchObject({ status: 200, body: expect.stringContaining('<html') });
  });

  it('answers every traversal, encoded or not, with 404 and never with the file', async () => {
    const files = { 'the JWT secret': secret, '/etc/passwd': readFileSync('/etc/passwd', 'utf8').split('\n')[0] ?? 'root:', 'the manifest': manifest().slice(0, 40) };
    const answers = await Promise.all(targets().map(async (target) => ({ target, ...(await rawGet(target)) })));
    const verdicts = answers.map(({ target, status, body }) => ({
      target,
      status: status === 400 || status === 404 ? 'refused' : status,
      leaked: Object.entries(files).flatMap(([name, content]) => (body.includes(content) ? [name] : [])),
    }));
    expect(verdicts).toEqual(answers.map(({ target }) => ({ target, status: 'refused', leaked: [] })));
  });
});
