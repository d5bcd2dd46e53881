import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { readFileSync } from 'node:fs';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { loadApp } from '../../local/template';
import { LocalStack, TEST_ASSEMBLY } from '../support/local-stack';
import { callPublishApi } from '../support/publish-api';
import { TestClient } from '../support/ws-client';

/**
 * The doors of a running local stack (`npm start`), tried the ways a web page
 * or another machine would: a foreign Host (DNS rebinding), a browser's Origin,
 * a WebSocket from a page elsewhere, DynamoDB Local from another interface and
 * from a page. Each is refused, and the stack's own clients still get in.
 */
jest.setTimeout(120_000);

const DEV_ORIGIN = 'http://localhost:5173';
let stack: LocalStack;

beforeAll(async () => {
  stack = await LocalStack.start({ env: { UPDRAFT_ALLOWED_ORIGINS: DEV_ORIGIN } });
});

afterAll(async () => {
  expect(await stack.stop()).toBe(0);
});

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** A raw HTTP request, so that Host says what a rebinding browser would put there. */
function send(port: number, method: string, path: string, headers: Record<string, string>, body = ''): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers: { 'content-length': String(Buffer.byteLength(body)), ...headers } }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const ownHost = () => `127.0.0.1:${stack.ports.http}`;
const stage = () => new URL(stack.wsUrl).pathname;
const secretId = () => {
  const id = loadApp(TEST_ASSEMBLY).secretIds[0];
  if (id === undefined) throw new Error('the template has no secret');
  return id;
};
const getSecret = (headers: Record<string, string>) =>
  send(stack.ports.http, 'POST', '/', { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'secretsmanager.GetSecretValue', ...headers }, JSON.stringify({ SecretId: secretId() }));

async function connectionIdOf(user: string): Promise<string> {
  const { Items = [] } = await stack.documentClient().send(
    new QueryCommand({ TableName: stack.tableName('Connections'), IndexName: 'byUser', KeyConditionExpression: 'userId = :u', ExpressionAttributeValues: { ':u': user } }),
  );
  const id: unknown = Items[0]?.['connectionId'];
  if (typeof id !== 'string') throw new Error(`no connection of ${user}`);
  return id;
}

/** Posts a frame to a connection through the Management API, with extra headers. */
const pushFrame = (connectionId: string, frame: object, headers: Record<string, string>) =>
  send(stack.ports.http, 'POST', `${stage()}/@connections/${encodeURIComponent(connectionId)}`, { 'content-type': 'application/json', ...headers }, JSON.stringify(frame));

describe('a foreign Host (DNS rebinding: a page under a name of its own that resolves to 127.0.0.1)', () => {
  const evil = () => `evil.example:${stack.ports.http}`;

  it('gets 403 and a JSON error from /dev/token, the web app and the secrets endpoint, and no key', async () => {
    for (const [method, path] of [
      ['GET', '/dev/token?user=mallory'],
      ['GET', '/'],
      ['GET', '/config.json'],
    ] as const) {
      const answer = await send(stack.ports.http, method, path, { host: evil() });
      expect({ path, status: answer.status }).toEqual({ path, status: 403 });
      expect(JSON.parse(answer.body)).toMatchObject({ error: 'forbidden' });
      expect(answer.body).not.toContain('token');
    }
    const secret = await getSecret({ host: evil() });
    expect(secret.status).toBe(403);
    expect(secret.body).not.toContain('SecretString');
  });

  it('cannot push a frame through the Management API, nor open a WebSocket', async () => {
    const alice = await stack.connect('door-alice');
    const connectionId = await connectionIdOf('door-alice');
    const forged = await pushFrame(connectionId, { type: 'status', text: 'forged' }, { host: evil() });
    expect(forged.status).toBe(403);
    // The marker follows through the stack's own door: had the forged frame gone through, it would have come first.
    expect((await pushFrame(connectionId, { type: 'marker' }, { host: ownHost() })).status).toBe(200);
    await alice.next((frame) => frame.type === 'marker');
    expect(alice.frames.map((frame) => frame.type)).not.toContain('status');

    const token = await stack.token('door-mallory');
    await expect(TestClient.open(`${stack.wsUrl.replace('127.0.0.1', 'localhost')}?token=${token}`, { Host: evil() })).rejects.toMatchObject({ status: 403 });
  });
});

describe('a request from a browser (Origin or Sec-Fetch-Site) to the local AWS endpoints', () => {
  it('gets 403 from the secrets endpoint, and the functions\' own SDK client still gets the secret', async () => {
    const browsers: Record<string, string>[] = [{ origin: 'http://evil.example' }, { origin: `http://${ownHost()}` }, { 'sec-fetch-site': 'cross-site' }];
    for (const headers of browsers) {
      const answer = await getSecret({ host: ownHost(), ...headers });
      expect(answer.status).toBe(403);
      expect(answer.body).not.toContain('SecretString');
      expect(answer.headers['access-control-allow-origin']).toBeUndefined();
    }
    const sdk = new SecretsManagerClient({ endpoint: stack.httpUrl, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    const { SecretString } = await sdk.send(new GetSecretValueCommand({ SecretId: secretId() }));
    sdk.destroy();
    expect(SecretString).toMatch(/^[A-Za-z0-9]{32,}$/);
  });

  it('gets 403 from the Management API, whose frames never arrive', async () => {
    const bob = await stack.connect('door-bob');
    const connectionId = await connectionIdOf('door-bob');
    const browsers: Record<string, string>[] = [{ origin: 'http://evil.example' }, { 'sec-fetch-site': 'cross-site' }];
    for (const headers of browsers) {
      expect((await pushFrame(connectionId, { type: 'status', text: 'forged' }, { host: ownHost(), ...headers })).status).toBe(403);
    }
    const read = await send(stack.ports.http, 'GET', `${stage()}/@connections/${encodeURIComponent(connectionId)}`, { host: ownHost(), origin: 'http://evil.example' });
    expect(read.status).toBe(403);
    expect((await pushFrame(connectionId, { type: 'marker' }, { host: ownHost() })).status).toBe(200);
    await bob.next((frame) => frame.type === 'marker');
    expect(bob.frames.map((frame) => frame.type)).not.toContain('status');
  });
});

describe('a request from a browser to the publish API', () => {
  it('gets 403, since signatures are not checked locally and the dev credentials are public: nothing is published', async () => {
    const body = JSON.stringify({ author: 'door-dan', text: 'forged by a page' });
    const browsers: Record<string, string>[] = [{ origin: 'http://evil.example' }, { 'sec-fetch-site': 'cross-site' }];
    for (const headers of browsers) {
      const answer = await callPublishApi(stack.publishUrl, 'POST', '/statuses', { body, headers });
      expect([answer.status, answer.headers.get('access-control-allow-origin')]).toEqual([403, null]);
    }
    // The same request with no browser's headers goes through: only the browser was refused.
    const history = await callPublishApi(stack.publishUrl, 'GET', '/channels/user:door-dan/history');
    expect(history.body).toEqual({ channel: 'user:door-dan', items: [] });
    expect((await callPublishApi(stack.publishUrl, 'POST', '/statuses', { body })).status).toBe(201);
  });
});

describe('the WebSocket upgrade', () => {
  const open = async (headers: Record<string, string>) => TestClient.open(`${stack.wsUrl}?token=${await stack.token('door-carol')}`, headers);

  it('refuses a page of another origin with 403', async () => {
    await expect(open({ Origin: 'http://evil.example' })).rejects.toMatchObject({ status: 403 });
    await expect(open({ Origin: `http://127.0.0.1:${stack.ports.dynamodb}` })).rejects.toMatchObject({ status: 403 });
  });

  it('lets in the stack\'s own pages, an origin UPDRAFT_ALLOWED_ORIGINS lists, and clients that send no Origin', async () => {
    for (const headers of [{ Origin: stack.httpUrl }, { Origin: `http://localhost:${stack.ports.http}` }, { Origin: DEV_ORIGIN }, {}] as Record<string, string>[]) {
      const client = await open(headers);
      expect(await client.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
      await client.close();
    }
  });
});

describe('DynamoDB Local', () => {
  const port = () => stack.ports.dynamodb;

  it('answers the SDK on 127.0.0.1', async () => {
    const client = new DynamoDBClient({ endpoint: `http://127.0.0.1:${port()}`, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    const { TableNames = [] } = await client.send(new ListTablesCommand({}));
    client.destroy();
    expect(TableNames).toContain(stack.tableName('Connections'));
  });

  it('listens on the loopback address only', async () => {
    // The kernel's own table of listening sockets: every one on this port is bound to 127.0.0.1.
    const listening = listeningAddresses(port());
    expect(listening.length).toBeGreaterThan(0);
    expect(listening.every((address) => address === '127.0.0.1')).toBe(true);
    // And from this machine's other addresses, as another host on the network would come: refused.
    const others = Object.values(networkInterfaces())
      .flat()
      .filter((address) => address !== undefined && !address.internal && address.family === 'IPv4')
      .map((address) => address?.address ?? '');
    for (const address of others) await expect(tcpConnect(address, port())).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('gives a page no CORS answer, and refuses a foreign Host', async () => {
    const preflight = await send(port(), 'OPTIONS', '/', {
      host: `127.0.0.1:${port()}`,
      origin: 'http://evil.example',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization,content-type,x-amz-target',
    });
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
    expect(preflight.status).toBe(403);
    const rebound = await send(port(), 'POST', '/', {
      host: `evil.example:${port()}`,
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': 'DynamoDB_20120810.ListTables',
      authorization: 'AWS4-HMAC-SHA256 Credential=mallory/20200101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
    }, '{}');
    expect(rebound.status).toBe(403);
    expect(rebound.body).not.toContain('TableNames');
  });
});

function tcpConnect(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, host, () => {
      socket.destroy();
      resolve();
    });
    socket.on('error', reject);
  });
}

/** The local addresses of sockets listening on `port`, from /proc/net/tcp and tcp6 (IPv4-mapped ones as IPv4). */
function listeningAddresses(port: number): string[] {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const addresses: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (state !== '0A' || !local?.endsWith(`:${hexPort}`)) continue; // 0A: LISTEN
      addresses.push(procAddress(local.slice(0, -5)));
    }
  }
  return addresses;
}

/** A /proc/net address: little-endian 32-bit words; IPv4 as four bytes, IPv6 as sixteen. */
function procAddress(hex: string): string {
  const bytes = (hex.match(/.{8}/g) ?? []).flatMap((word) => (word.match(/../g) ?? []).reverse().map((byte) => parseInt(byte, 16)));
  if (bytes.length === 4) return bytes.join('.');
  const mapped = bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  if (mapped) return bytes.slice(12).join('.');
  return bytes.every((b, i) => b === (i === 15 ? 1 : 0)) ? '::1' : bytes.some((b) => b !== 0) ? 'ipv6' : '::';
}
