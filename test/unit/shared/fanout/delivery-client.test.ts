import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity } from '@smithy/types';
import { DeliveryClient, DeliveryError, payload, type DeliveryClientOptions } from '../../../../shared/fanout/delivery-client';

/** The lean delivery client against a real HTTP server standing in for the Management API. */
const CREDENTIALS = { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' };
const REGION = 'eu-west-1';

interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

let server: Server;
let received: Received[];
/** The statuses the server answers with, one per request in turn; 200 once they run out. */
let answers: number[];

beforeEach(async () => {
  received = [];
  answers = [];
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() });
      const status = answers.shift() ?? 200;
      res.writeHead(status, { 'content-type': 'application/json' }).end(status === 200 ? '' : JSON.stringify({ message: `status ${status}` }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

afterEach(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function client(overrides: Partial<DeliveryClientOptions> = {}) {
  const waits: number[] = [];
  const created = new DeliveryClient({
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}/prod`,
    region: REGION,
    credentials: CREDENTIALS,
    maxSockets: 4,
    backoff: { baseMs: 100, capMs: 1_000 },
    random: () => 1,
    sleep: (ms) => {
      waits.push(ms);
      return Promise.resolve();
    },
    ...overrides,
  });
  return { created, waits };
}

/**
 * Checks a request's signature as API Gateway does: the headers its Authorization names, signed
 * again by the SDK's own SigV4 signer at the time the request gives, must give the same header.
 */
async function expectSignedBy(credentials: AwsCredentialIdentity, request: Received): Promise<void> {
  const authorization = String(request.headers.authorization);
  const signedNames = /SignedHeaders=([^,]+),/.exec(authorization)?.[1]?.split(';') ?? [];
  const headers = Object.fromEntries(signedNames.map((name) => [name, String(request.headers[name])]));
  const amzDate = String(request.headers['x-amz-date']);
  const signingDate = new Date(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`);
  const signer = new SignatureV4({ service: 'execute-api', region: REGION, credentials, sha256: Sha256, uriEscapePath: true, applyChecksum: false });
  // The server hashes the body it received; the client sent a hash computed once per payload.
  const expected = await signer.sign({ method: request.method, protocol: 'http:', hostname: '127.0.0.1', path: request.url, query: {}, headers, body: request.body }, { signingDate });
  expect(signedNames).toEqual(expect.arrayContaining(['host', 'x-amz-date']));
  expect(authorization).toBe(expected.headers['authorization']);
}

describe('DeliveryClient', () => {
  it('posts the payload to the connection’s URL, signed as the SDK’s own signer signs it', async () => {
    const { created } = client();
    const frame = { type: 'status', channel: 'user:alice', status: { id: '01', text: 'héllo' } };

    expect(await created.post('AbC12=', payload(frame))).toBe('delivered');
    await created.destroy();

    expect(received).toHaveLength(1);
    const [request] = received;
    if (!request) throw new Error('no request');
    expect(request.method).toBe('POST');
    expect(request.url).toBe('/prod/@connections/AbC12%3D');
    expect(JSON.parse(request.body)).toEqual(frame);
    await expectSignedBy(CREDENTIALS, request);
  });

  it('signs the session token of temporary credentials, as Lambda’s are', async () => {
    const temporary = { ...CREDENTIALS, sessionToken: 'FwoGZXIvYXdzEXAMPLE//token=' };
    const { created } = client({ credentials: () => Promise.resolve(temporary) });

    expect(await created.post('AbC12=', payload({ type: 'status' }))).toBe('delivered');
    await created.destroy();

    const [request] = received;
    if (!request) throw new Error('no request');
    expect(request.headers['x-amz-security-token']).toBe(temporary.sessionToken);
    expect(request.headers.authorization).toContain('SignedHeaders=host;x-amz-date;x-amz-security-token,');
    await expectSignedBy(temporary, request);
  });

  it('reports a connection that is gone (410) without retrying', async () => {
    const { created, waits } = client();
    answers = [410];

    expect(await created.post('gone-one', payload({ type: 'status' }))).toBe('gone');
    await created.destroy();

    expect(received).toHaveLength(1);
    expect(waits).toEqual([]);
  });

  it('retries throttling and server errors with growing, jittered waits, then delivers', async () => {
    const { created, waits } = client({ maxAttempts: 3 });
    answers = [429, 503];

    expect(await created.post('busy', payload({ type: 'status' }))).toBe('delivered');
    await created.destroy();

    expect(received).toHaveLength(3);
    // random() is 1 here: the full cap of each retry's window, doubling from the base.
    expect(waits).toEqual([100, 200]);
  });

  it('gives up after maxAttempts with the last status', async () => {
    const { created } = client({ maxAttempts: 2 });
    answers = [500, 500, 200];

    const failure = created.post('down', payload({ type: 'status' }));

    await expect(failure).rejects.toBeInstanceOf(DeliveryError);
    await expect(failure).rejects.toMatchObject({ status: 500, attempts: 2 });
    await created.destroy();
    expect(received).toHaveLength(2);
  });

  it('does not retry a refusal that another try cannot change (403)', async () => {
    const { created, waits } = client();
    answers = [403];

    await expect(created.post('not-mine', payload({ type: 'status' }))).rejects.toMatchObject({ status: 403, attempts: 1 });
    await created.destroy();

    expect(received).toHaveLength(1);
    expect(waits).toEqual([]);
  });

  it('retries when no server answers, then fails with the network error', async () => {
    const { created } = client({ maxAttempts: 2 });
    await new Promise((resolve) => server.close(resolve));

    await expect(created.post('nobody', payload({ type: 'status' }))).rejects.toThrow(/ECONNREFUSED/);
    await created.destroy();
    // afterEach closes it again.
    server = createServer().listen(0, '127.0.0.1');
  });
});
