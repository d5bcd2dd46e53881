import { request as httpGet, type IncomingMessage } from 'node:http';
import { request as httpsGet } from 'node:https';
import { decodeJwt } from 'jose';
import WebSocket from 'ws';
import { UpdraftClient, type SocketFactory } from '../../shared/client';
import { isRecord } from '../../shared/protocol/frames';
import { userIdProblem } from '../../shared/protocol/rules';
import { NoConnection, UsageError } from './errors';
import type { Output } from './output';

export interface Credentials {
  readonly wsUrl: string;
  readonly user: string;
  /** A fresh token for each connection attempt. */
  readonly token: () => Promise<string>;
  /** When a given token expires, if it says: it explains a refused handshake. */
  readonly expiresAt?: Date;
}

/** Where to connect and as whom: a dev token from the local stack, or a token given. */
export async function credentials(url: string, user: string | undefined, token: string | undefined): Promise<Credentials> {
  if (token !== undefined) return givenToken(url, token);
  if (user === undefined) throw new UsageError('say who you are: --user <id> (local stack) or --token <jwt>');
  const base = parseUrl(url);
  const first = await devToken(base, user);
  let pending: string | undefined = first.token;
  return {
    wsUrl: first.wsUrl,
    user,
    token: async () => {
      const fresh = pending ?? (await devToken(base, user)).token;
      pending = undefined;
      return fresh;
    },
  };
}

/** Reads what can be read from a token without its key: whose it is, and until when. */
function givenToken(url: string, token: string): Credentials {
  if (!/^wss?:\/\//.test(url)) throw new UsageError('with --token, --url must be the WebSocket URL (wss://…/<stage>)');
  let claims: { sub?: unknown; exp?: unknown };
  try {
    claims = decodeJwt(token);
  } catch {
    throw new UsageError('--token is not a JWT');
  }
  if (typeof claims.sub !== 'string') throw new UsageError('--token has no subject (sub)');
  const problem = userIdProblem(claims.sub);
  if (problem !== undefined) throw new UsageError(`--token's subject: ${problem}`);
  return {
    wsUrl: url,
    user: claims.sub,
    token: () => Promise.resolve(token),
    ...(typeof claims.exp === 'number' ? { expiresAt: new Date(claims.exp * 1000) } : {}),
  };
}

function parseUrl(url: string): URL {
  try {
    return new URL(url.replace(/^ws/, 'http'));
  } catch {
    throw new UsageError(`--url ${url} is not a URL`);
  }
}

const WRONG_PORT_HINT = '`npm start` prints its address (port 3000, or UPDRAFT_PORT)';

/**
 * `GET /dev/token` of the local stack. Whatever else answers there (another
 * program on the port, DynamoDB Local) is not an Updraft stack, and says so.
 */
async function devToken(base: URL, user: string): Promise<{ token: string; wsUrl: string }> {
  const url = new URL(`/dev/token?user=${encodeURIComponent(user)}`, base);
  let reply: { status: number; body: string };
  try {
    reply = await get(url);
  } catch (error) {
    throw new NoConnection(`cannot reach the local stack at ${base.origin} (is \`npm start\` running?): ${messageOf(error)}`);
  }
  const body = parseJson(reply.body);
  if (reply.status === 200 && typeof body?.['token'] === 'string' && typeof body['wsUrl'] === 'string' && /^wss?:\/\//.test(body['wsUrl'])) {
    return { token: body['token'], wsUrl: body['wsUrl'] };
  }
  // The local stack's own refusals: `{"error": "<code>", "message": "…"}`.
  if (body?.['error'] === 'bad_request' && typeof body['message'] === 'string') throw new UsageError(`--user: ${body['message']}`);
  if (typeof body?.['error'] === 'string' && typeof body['message'] === 'string') {
    throw new NoConnection(`the local stack at ${base.origin} gives no dev token: ${body['message']}`);
  }
  throw new NoConnection(`no Updraft stack answers at ${base.origin}: GET /dev/token got HTTP ${reply.status}, not a token. ${WRONG_PORT_HINT}.`);
}

/** A small GET over node:http, which `ws` loads anyway (fetch would load undici too, a cost at every start). */
function get(url: URL): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = (url.protocol === 'https:' ? httpsGet : httpGet)(url, { timeout: 10_000 }, (response: IncomingMessage) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        if (body.length < 64 * 1024) body += chunk;
      });
      response.on('end', () => { resolve({ status: response.statusCode ?? 0, body }); });
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error('no answer within 10 s')));
    request.on('error', reject);
    request.end();
  });
}

/** Why the last handshake failed, when the server answered it with HTTP. */
interface Refusal {
  readonly status: number;
  readonly body: string;
}

/**
 * `ws`'s WebSocket, keeping the HTTP answer of a refused handshake (its
 * status and body) instead of only the words `Unexpected server response`.
 */
function socketFactory(): { Socket: SocketFactory; refusal: () => Refusal | undefined } {
  let last: Refusal | undefined;
  class Socket extends WebSocket {
    constructor(url: string) {
      super(url);
      last = undefined;
      this.once('unexpected-response', (_request, response) => {
        let body = '';
        let read = false;
        // The first few KB say enough; a server that never ends its answer is not waited for past them.
        const done = () => {
          if (read) return;
          read = true;
          last = { status: response.statusCode ?? 0, body };
          this.terminate();
        };
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          body += chunk;
          if (body.length >= 4096) done();
        });
        response.once('end', done);
        response.once('error', done);
      });
    }
  }
  // ws's event handler types are wider than the WHATWG subset the client declares; the shapes it uses match.
  return { Socket: Socket as unknown as SocketFactory, refusal: () => last };
}

/** Says in words why a handshake was refused. */
export function explainRefusal(refusal: Refusal, wsUrl: string, expiresAt?: Date): string {
  const said = parseJson(refusal.body)?.['message'];
  const server = typeof said === 'string' ? ` ${JSON.stringify(said)}` : '';
  const http = `HTTP ${refusal.status}${server}`;
  if (refusal.status === 401) {
    const expired = expiresAt !== undefined && expiresAt.getTime() <= Date.now() ? `; this one expired at ${expiresAt.toISOString()}` : '';
    return `the server refused the token (${http}): it is missing, malformed, wrongly signed or expired${expired}`;
  }
  if (refusal.status === 403) {
    return `the server refused the connection (${http}): the token is not allowed there, or the URL does not name the API's stage (wss://…/<stage>)`;
  }
  if (refusal.status >= 500) return `the server failed the handshake (${http}); try again later`;
  return `no Updraft WebSocket API answers at ${wsUrl}: the handshake got ${http}. ${WRONG_PORT_HINT}.`;
}

/** Connects, or fails fast: a one-shot command should not retry forever against a wrong address or a refused token. */
export async function connect(credentials: Credentials, out: Output): Promise<UpdraftClient> {
  const { Socket, refusal } = socketFactory();
  const { wsUrl, token, expiresAt } = credentials;
  const client = new UpdraftClient({ url: wsUrl, token, WebSocket: Socket, backoff: { initialMs: 250, maxMs: 10_000 } });
  let everLive = false;
  const failed = new Promise<never>((_, reject) => {
    client.events.on('state', (change) => {
      if (change.state === 'live') everLive = true;
      if (change.state === 'reconnecting') {
        const refused = refusal();
        // A refused token or a wrong address does not change with retrying: say why now. An unreachable or
        // failing server (5xx: a cold start that timed out, a throttled authorizer) gets a few tries.
        const final = refused !== undefined && refused.status < 500;
        if (!everLive && (final || (change.attempt ?? 0) >= 3)) {
          reject(new NoConnection(refused === undefined ? `cannot connect to ${wsUrl}: ${change.reason ?? 'unknown reason'}` : explainRefusal(refused, wsUrl, expiresAt)));
        } else if (everLive) out.info(`… ${change.reason ?? 'disconnected'}; reconnecting`);
      } else if (change.state === 'catching-up' && everLive) out.info('… reconnected, catching up');
    });
  });
  failed.catch(() => { client.close(); });
  await Promise.race([client.connect(), failed]);
  return client;
}

/** A JSON object from text, or undefined when the text is not one. */
export function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return isRecord(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

export const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));
