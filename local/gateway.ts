import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { authorizerEvent, connectEvent, disconnectEvent, gatewayId, messageEvent, type ApiIdentity, type ConnectionFacts } from './events';
import { FrameGuard } from './frame-guard';
import type { LocalFunction } from './lambda';
import type { ApiModel, RouteModel } from './template';

export interface GatewayLimits {
  /** API Gateway: 32 KB per frame. */
  readonly frameBytes: number;
  /** API Gateway: 128 KB per message, both directions. */
  readonly messageBytes: number;
  /** API Gateway: 10 minutes without a message. */
  readonly idleTimeoutMs: number;
  /** API Gateway: 2 hours, whatever the traffic. */
  readonly maxConnectionMs: number;
}

export const AWS_LIMITS: GatewayLimits = {
  frameBytes: 32 * 1024,
  messageBytes: 128 * 1024,
  idleTimeoutMs: 10 * 60 * 1000,
  maxConnectionMs: 2 * 60 * 60 * 1000,
};

export interface GatewayOptions {
  readonly port: number;
  readonly host: string;
  readonly api: ApiModel;
  readonly identity: ApiIdentity;
  readonly functions: ReadonlyMap<string, LocalFunction>;
  readonly limits: GatewayLimits;
  /** Other HTTP endpoints on the same port (dev token, Secrets Manager, the browser app). */
  readonly extraRoutes: (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;
  readonly log: (line: string) => void;
  /** Called with every event the gateway sends a function; for fidelity tests and debugging. */
  readonly onEvent?: (kind: string, event: unknown) => void;
}

interface LiveConnection extends ConnectionFacts {
  readonly socket: WebSocket;
  lastActiveAt: number;
  idle?: NodeJS.Timeout;
  lifetime?: NodeJS.Timeout;
  /** Set once the gateway has decided to close, so the close code it chose is reported to $disconnect. */
  closing?: { code: number; reason: string };
}

const CONNECTIONS_PATH = /^\/([^/]+)\/@connections\/([^/]+)$/;

/**
 * API Gateway's WebSocket API as it behaves on AWS, on one local port: the
 * upgrade is held until the authorizer and $connect finish, routes are chosen
 * by the API's selection expression, and the Management API
 * (`/<stage>/@connections/<id>`) answers as AWS does, Gone included.
 */
export class Gateway {
  private readonly server: Server;
  private readonly wss: WebSocketServer;
  private readonly connections = new Map<string, LiveConnection>();
  private readonly inflight = new Set<Promise<unknown>>();
  private stopping = false;

  constructor(private readonly options: GatewayOptions) {
    // FrameGuard enforces API Gateway's limits with close 1009; this cap only bounds memory.
    this.wss = new WebSocketServer({ noServer: true, maxPayload: options.limits.messageBytes * 2 });
    this.server = createServer((req, res) => void this.http(req, res));
    this.server.on('upgrade', (req, socket, head) => void this.upgrade(req, socket, head));
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  /** Closes every socket as API Gateway does when it goes away, runs their $disconnect, then stops listening. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const connection of this.connections.values()) this.close(connection, 1001, 'Going away');
    // Each socket's close event starts its $disconnect; wait for those, then for every invocation.
    const deadline = Date.now() + 3000;
    while (this.connections.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    await Promise.allSettled([...this.inflight]);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.inflight.add(work);
    void work.finally(() => this.inflight.delete(work)).catch(() => undefined);
    return work;
  }

  private fn(route: RouteModel | undefined): LocalFunction | undefined {
    return route && this.options.functions.get(route.functionId);
  }

  private invoke(kind: string, fn: LocalFunction, event: unknown): Promise<unknown> {
    this.options.onEvent?.(kind, event);
    return this.track(fn.invoke(event));
  }

  // --- the WebSocket handshake ---------------------------------------------------------------

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', `http://${req.headers.host ?? 'localhost'}`);
    const { api, identity } = this.options;
    // A client may reset the connection while the handshake waits on functions.
    socket.on('error', () => undefined);
    if (this.stopping) return refuse(socket, 503, 'Service Unavailable');
    if (url.pathname.replace(/\/$/, '') !== `/${api.stageName}`) return refuse(socket, 403, 'Forbidden');

    const connect = api.routes.get('$connect');
    const now = Date.now();
    const facts: ConnectionFacts = {
      connectionId: gatewayId(),
      connectedAt: now,
      sourceIp: req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '127.0.0.1',
      ...(req.headers['user-agent'] ? { userAgent: req.headers['user-agent'] } : {}),
    };
    let authorizer: Record<string, unknown> | undefined;
    try {
      if (connect?.authorizer) {
        // API Gateway refuses a missing identity source itself, without calling the authorizer.
        if (!connect.authorizer.identitySource.every((source) => identityPresent(source, req, url))) return refuse(socket, 401, 'Unauthorized');
        const started = Date.now();
        const fn = this.options.functions.get(connect.authorizer.functionId)!;
        let policy: AuthorizerResult;
        try {
          policy = (await this.invoke('authorizer', fn, authorizerEvent(identity, facts, req, url, this.options.port, now))) as AuthorizerResult;
        } catch (error) {
          if ((error as Error).message === 'Unauthorized') return refuse(socket, 401, 'Unauthorized');
          this.options.log(`authorizer failed: ${(error as Error).message}`);
          return refuse(socket, 500, 'Internal server error');
        }
        if (!allows(policy)) return refuse(socket, 403, 'Forbidden');
        authorizer = { ...(policy.context ?? {}), principalId: policy.principalId, integrationLatency: Date.now() - started };
      }
      const withAuth: ConnectionFacts = authorizer ? { ...facts, authorizer } : facts;
      // A client that gave up during the authorizer never reaches $connect.
      if (socket.destroyed || this.stopping) return refuse(socket, 503, 'Service Unavailable');
      const connectFn = this.fn(connect);
      if (connectFn) {
        let result: { statusCode?: number } | null;
        try {
          result = (await this.invoke('$connect', connectFn, connectEvent(identity, withAuth, req, url, this.options.port, now))) as { statusCode?: number } | null;
        } catch (error) {
          this.options.log(`$connect failed: ${(error as Error).message}`);
          return refuse(socket, 502, 'Internal server error');
        }
        const status = result?.statusCode ?? 200;
        if (status < 200 || status >= 300) return refuse(socket, status, 'Forbidden');
      }
      if (socket.destroyed || this.stopping) {
        // $connect stored this connection, but it never opened: API Gateway runs $disconnect for it.
        this.disconnected(withAuth, 1006, 'Connection closed abnormally');
        return refuse(socket, 503, 'Service Unavailable');
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, withAuth, socket));
    } catch (error) {
      this.options.log(`handshake failed: ${(error as Error).stack ?? String(error)}`);
      refuse(socket, 500, 'Internal server error');
    }
  }

  private disconnected(connection: ConnectionFacts, code: number, reason: string): void {
    const disconnect = this.fn(this.options.api.routes.get('$disconnect'));
    if (!disconnect) return;
    this.invoke('$disconnect', disconnect, disconnectEvent(this.options.identity, connection, code, reason, Date.now())).catch((error: Error) =>
      this.options.log(`$disconnect failed: ${error.message}`),
    );
  }

  private accept(socket: WebSocket, facts: ConnectionFacts, raw: Duplex): void {
    const connection: LiveConnection = { ...facts, socket, lastActiveAt: Date.now() };
    this.connections.set(facts.connectionId, connection);
    const { limits } = this.options;

    const guard = new FrameGuard(limits.frameBytes, limits.messageBytes);
    const inspect = (chunk: Buffer) => {
      if (connection.closing) return;
      if (guard.feed(chunk)) this.close(connection, 1009, 'Message too big');
    };
    // ws put `head` back into the socket, so it arrives here as data too.
    raw.prependListener('data', inspect);

    const resetIdle = () => {
      clearTimeout(connection.idle);
      connection.idle = setTimeout(() => this.close(connection, 1001, 'Going away'), limits.idleTimeoutMs);
    };
    resetIdle();
    connection.lifetime = setTimeout(() => this.close(connection, 1001, 'Going away'), limits.maxConnectionMs);

    // A text frame that is not UTF-8 never gets here: ws fails the connection with 1007 (RFC 6455 8.1).
    socket.on('message', (data: Buffer, isBinary: boolean) => {
      if (connection.closing) return;
      // API Gateway refuses binary frames and closes with 1003 (its guide: "Binary media types for WebSocket APIs").
      if (isBinary) return this.close(connection, 1003, 'Unsupported data');
      connection.lastActiveAt = Date.now();
      resetIdle();
      void this.message(connection, data.toString('utf8'));
    });
    socket.on('close', (code: number, reason: Buffer) => {
      clearTimeout(connection.idle);
      clearTimeout(connection.lifetime);
      this.connections.delete(connection.connectionId);
      const closing = connection.closing ?? { code, reason: reason.toString() || closeReason(code) };
      this.disconnected(connection, closing.code, closing.reason);
    });
    socket.on('error', () => undefined);
  }

  private close(connection: LiveConnection, code: number, reason: string): void {
    // A client that started the close handshake keeps its own code for $disconnect.
    if (connection.closing || connection.socket.readyState !== connection.socket.OPEN) return;
    connection.closing = { code, reason };
    connection.socket.close(code, reason);
    // A peer that never answers the close handshake is cut, as API Gateway does.
    setTimeout(() => connection.socket.terminate(), 2000).unref();
  }

  // --- messages from clients ------------------------------------------------------------------

  private async message(connection: LiveConnection, body: string): Promise<void> {
    const { api, identity } = this.options;
    const routeKey = selectRoute(api, body);
    const route = api.routes.get(routeKey);
    const fn = this.fn(route);
    if (!route || !fn) {
      return this.send(connection, JSON.stringify({ message: 'Forbidden', connectionId: connection.connectionId, requestId: gatewayId() }));
    }
    const event = messageEvent(identity, connection, routeKey, body, Date.now());
    try {
      const result = (await this.invoke(routeKey, fn, event)) as { body?: unknown } | string | null;
      const reply = typeof result === 'string' ? result : result?.body;
      if (route.twoWay && reply !== undefined && reply !== null) this.send(connection, typeof reply === 'string' ? reply : JSON.stringify(reply));
    } catch (error) {
      this.options.log(`${routeKey} failed: ${(error as Error).message}`);
      this.send(connection, JSON.stringify({ message: 'Internal server error', connectionId: connection.connectionId, requestId: event.requestContext.requestId }));
    }
  }

  private send(connection: LiveConnection, data: string): void {
    if (!connection.closing && connection.socket.readyState === connection.socket.OPEN) connection.socket.send(data);
  }

  // --- HTTP: the Management API and whatever else shares the port -------------------------

  private async http(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', `http://${req.headers.host ?? 'localhost'}`);
    try {
      const management = CONNECTIONS_PATH.exec(url.pathname);
      if (management && management[1] === this.options.api.stageName) {
        return await this.management(req, res, decodeURIComponent(management[2]!));
      }
      if (await this.options.extraRoutes(req, res, url)) return;
      json(res, 404, { message: 'Not Found' });
    } catch (error) {
      this.options.log(`HTTP ${req.method} ${url.pathname} failed: ${(error as Error).stack ?? String(error)}`);
      if (!res.headersSent) json(res, 500, { message: 'Internal server error' });
    }
  }

  /** POST, GET and DELETE on `@connections/{id}`; SigV4 signatures are accepted and not checked. */
  private async management(req: IncomingMessage, res: ServerResponse, connectionId: string): Promise<void> {
    const { body, size } = await readBody(req, this.options.limits.messageBytes);
    const connection = this.connections.get(connectionId);
    const requestId = gatewayId();
    const headers = { 'x-amzn-RequestId': requestId };
    if (req.method === 'POST' && size > this.options.limits.messageBytes) {
      return json(res, 413, { message: 'Request Entity Too Large' }, { ...headers, 'x-amzn-ErrorType': 'PayloadTooLargeException' });
    }
    if (!connection || connection.closing || connection.socket.readyState !== connection.socket.OPEN) {
      return json(res, 410, {}, { ...headers, 'x-amzn-ErrorType': 'GoneException' });
    }
    switch (req.method) {
      case 'POST':
        connection.socket.send(body.toString('utf8'));
        res.writeHead(200, { ...headers, 'content-length': '0' }).end();
        return;
      case 'GET':
        return json(
          res,
          200,
          {
            connectedAt: new Date(connection.connectedAt).toISOString(),
            identity: connection.userAgent === undefined ? { sourceIp: connection.sourceIp } : { sourceIp: connection.sourceIp, userAgent: connection.userAgent },
            lastActiveAt: new Date(connection.lastActiveAt).toISOString(),
          },
          headers,
        );
      case 'DELETE':
        this.close(connection, 1000, 'Connection Closed Normally');
        res.writeHead(204, headers).end();
        return;
      default:
        return json(res, 405, { message: 'Method Not Allowed' }, headers);
    }
  }
}

interface AuthorizerResult {
  principalId?: string;
  policyDocument?: { Statement?: { Effect?: string; Action?: string | string[] }[] };
  context?: Record<string, unknown>;
}

function allows(policy: AuthorizerResult | null): policy is AuthorizerResult {
  const statements = policy?.policyDocument?.Statement ?? [];
  return statements.length > 0 && statements.every((s) => s.Effect === 'Allow');
}

function identityPresent(source: string, req: IncomingMessage, url: URL): boolean {
  const query = /^route\.request\.querystring\.(.+)$/.exec(source);
  if (query) return (url.searchParams.get(query[1]!) ?? '') !== '';
  const header = /^route\.request\.header\.(.+)$/.exec(source);
  if (header) return (req.headers[header[1]!.toLowerCase()] ?? '') !== '';
  return true;
}

/** Evaluates a selection expression such as `$request.body.action` against a frame. */
export function selectRoute(api: ApiModel, body: string): string {
  const match = /^\$request\.body\.(.+)$/.exec(api.routeSelectionExpression);
  if (!match) return '$default';
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return '$default';
  }
  for (const key of match[1]!.split('.')) {
    value = value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>)[key] : undefined;
  }
  const key = typeof value === 'string' ? value : undefined;
  return key !== undefined && !key.startsWith('$') && api.routes.has(key) ? key : '$default';
}

function refuse(socket: Duplex, status: number, message: string): void {
  if (socket.destroyed) return;
  const body = JSON.stringify({ message });
  const reason = { 401: 'Unauthorized', 403: 'Forbidden', 500: 'Internal Server Error', 502: 'Bad Gateway' }[status] ?? 'Error';
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

function closeReason(code: number): string {
  return code === 1000 ? 'Connection Closed Normally' : code === 1001 ? 'Going away' : code === 1005 ? 'No status code' : code === 1006 ? 'Connection closed abnormally' : '';
}

export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers }).end(text);
}

/** Reads a request body, keeping at most `limit` bytes; `size` is the real length. */
export async function readBody(req: IncomingMessage, limit: number): Promise<{ body: Buffer; size: number }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    if (size + chunk.length <= limit) chunks.push(chunk);
    size += chunk.length;
  }
  return { body: Buffer.concat(chunks), size };
}

