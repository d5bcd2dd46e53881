import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { isRecord } from '../shared/protocol/frames';
import { authorizerEvent, connectEvent, disconnectEvent, gatewayId, messageEvent, type ApiIdentity, type ConnectionFacts } from './events';
import { FrameGuard } from './frame-guard';
import { refuseUpgrade, requestUrl, statusText, type UpgradeHandler } from './http';
import type { LocalFunction } from './lambda';
import type { ConnectionRegistry, ManagedConnection } from './management';
import { originAllowed } from './request-guard';
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
  /** The port clients reach, as API Gateway reports it in events (`X-Forwarded-Port`). */
  readonly port: number;
  readonly api: ApiModel;
  readonly identity: ApiIdentity;
  readonly functions: ReadonlyMap<string, LocalFunction>;
  readonly limits: GatewayLimits;
  /**
   * The origins whose web pages may open a connection: the stack's own browser app, and those
   * `UPDRAFT_ALLOWED_ORIGINS` adds. A client that sends no Origin (the CLI, the SDK, ws) is not a web page.
   */
  readonly allowedOrigins: ReadonlySet<string>;
  readonly log: (line: string) => void;
  /** Called once per handshake, message and disconnect, when its function has answered. */
  readonly onRequest?: (request: RequestSummary) => void;
  /** Called with every event the gateway sends a function; for fidelity tests and debugging. */
  readonly onEvent?: (kind: string, event: unknown) => void;
}

/** One line of an access log: who, which route, what came of it. */
export interface RequestSummary {
  /** The authorizer's principal; undefined before the authorizer has answered. */
  readonly user: string | undefined;
  readonly routeKey: string;
  /** `connected` or the refusal's HTTP status for $connect, `closed` and the code for $disconnect, the reply's type for a message. */
  readonly outcome: string;
  readonly durationMs: number;
  /** The function failed, or the request was refused. */
  readonly failed: boolean;
}

interface LiveConnection extends ConnectionFacts {
  readonly socket: WebSocket;
  lastActiveAt: number;
  idle?: NodeJS.Timeout;
  lifetime?: NodeJS.Timeout;
  /** Set once the gateway has decided to close, so the close code it chose is reported to $disconnect. */
  closing?: { code: number; reason: string };
}

/**
 * API Gateway's WebSocket API as it behaves on AWS: the upgrade is held
 * until the authorizer and $connect finish, routes are chosen by the API's
 * selection expression, and connections are closed at its limits. The
 * Management API reaches open connections through `open()`.
 */
export class Gateway implements UpgradeHandler, ConnectionRegistry {
  private readonly wss: WebSocketServer;
  private readonly connections = new Map<string, LiveConnection>();
  private readonly inflight = new Set<Promise<unknown>>();
  private stopping = false;

  constructor(private readonly options: GatewayOptions) {
    // FrameGuard enforces API Gateway's limits with close 1009; this cap only bounds memory.
    this.wss = new WebSocketServer({ noServer: true, maxPayload: options.limits.messageBytes * 2 });
  }

  /** Whether stop() has begun; a method, so that a check after an await reads it afresh. */
  private isStopping(): boolean {
    return this.stopping;
  }

  /** How many clients are connected. */
  get size(): number {
    return this.connections.size;
  }

  /**
   * Closes every socket as API Gateway does when it goes away and waits for
   * their $disconnect and every other invocation in flight; new upgrades are
   * refused from now on.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const connection of this.connections.values()) this.close(connection, 1001, 'Going away');
    // Each socket's close event starts its $disconnect; wait for those, then for every invocation.
    const deadline = Date.now() + 3000;
    while (this.connections.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    await Promise.allSettled([...this.inflight]);
  }

  open(connectionId: string): ManagedConnection | undefined {
    const connection = this.connections.get(connectionId);
    if (!connection || connection.closing || connection.socket.readyState !== connection.socket.OPEN) return undefined;
    return {
      connectedAt: connection.connectedAt,
      lastActiveAt: connection.lastActiveAt,
      sourceIp: connection.sourceIp,
      ...(connection.userAgent === undefined ? {} : { userAgent: connection.userAgent }),
      send: (data) => connection.socket.send(data),
      close: () => this.close(connection, 1000, 'Connection Closed Normally'),
    };
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

  private summarize(user: string | undefined, routeKey: string, outcome: string, started: number, failed = false): void {
    this.options.onRequest?.({ user, routeKey, outcome, durationMs: Date.now() - started, failed });
  }

  // --- the WebSocket handshake ---------------------------------------------------------------

  async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = requestUrl(req);
    const { api, identity } = this.options;
    const now = Date.now();
    let user: string | undefined;
    const refused = (status: number, message: string) => {
      this.summarize(user, '$connect', `${status} ${statusText(status) ?? 'refused'}`, now, true);
      refuseUpgrade(socket, status, message);
    };
    // A client may reset the connection while the handshake waits on functions; checked again after each.
    socket.on('error', () => undefined);
    const abandoned = () => socket.destroyed || this.isStopping();
    if (this.stopping) {
      refused(503, 'Service Unavailable');
      return;
    }
    if (url.pathname.replace(/\/$/, '') !== `/${api.stageName}`) {
      refused(403, 'Forbidden');
      return;
    }
    // Not on AWS, where any page may open the socket: here a page elsewhere could reach the developer's own stack.
    if (!originAllowed(req, this.options.allowedOrigins)) {
      this.options.log(`refused a WebSocket from a page of ${JSON.stringify(req.headers.origin)}: not this stack's origin (UPDRAFT_ALLOWED_ORIGINS can add it)`);
      refused(403, 'Forbidden');
      return;
    }

    const connect = api.routes.get('$connect');
    const userAgent = req.headers['user-agent'];
    const facts: ConnectionFacts = {
      connectionId: gatewayId(),
      connectedAt: now,
      sourceIp: req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '127.0.0.1',
      ...(userAgent ? { userAgent } : {}),
    };
    let authorizer: Record<string, unknown> | undefined;
    try {
      if (connect?.authorizer) {
        const authorizerFn = this.options.functions.get(connect.authorizer.functionId);
        if (!authorizerFn) throw new Error(`the authorizer's function ${connect.authorizer.functionId} is not in the template`);
        // API Gateway refuses a missing identity source itself, without calling the authorizer.
        if (!connect.authorizer.identitySource.every((source) => identityPresent(source, req, url))) {
          refused(401, 'Unauthorized');
          return;
        }
        const started = Date.now();
        let policy: AuthorizerResult | undefined;
        try {
          policy = parseAuthorizerResult(await this.invoke('authorizer', authorizerFn, authorizerEvent(identity, facts, req, url, this.options.port, now)));
        } catch (error) {
          const message = errorMessage(error);
          if (message === 'Unauthorized') {
            refused(401, 'Unauthorized');
            return;
          }
          this.options.log(`authorizer failed: ${message}`);
          refused(500, 'Internal server error');
          return;
        }
        if (!policy?.allowed) {
          refused(403, 'Forbidden');
          return;
        }
        user = policy.principalId;
        authorizer = { ...policy.context, principalId: policy.principalId, integrationLatency: Date.now() - started };
      }
      const withAuth: ConnectionFacts = authorizer ? { ...facts, authorizer } : facts;
      // A client that gave up during the authorizer never reaches $connect.
      if (abandoned()) {
        refused(503, 'Service Unavailable');
        return;
      }
      const connectFn = this.fn(connect);
      if (connectFn) {
        let status: number;
        try {
          status = statusCodeOf(await this.invoke('$connect', connectFn, connectEvent(identity, withAuth, req, url, this.options.port, now)));
        } catch (error) {
          this.options.log(`$connect failed: ${errorMessage(error)}`);
          refused(502, 'Internal server error');
          return;
        }
        if (status < 200 || status >= 300) {
          refused(status, 'Forbidden');
          return;
        }
      }
      if (abandoned()) {
        // $connect stored this connection, but it never opened: API Gateway runs $disconnect for it.
        this.disconnected(withAuth, 1006, 'Connection closed abnormally');
        refused(503, 'Service Unavailable');
        return;
      }
      this.summarize(user, '$connect', 'connected', now);
      this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, withAuth, socket));
    } catch (error) {
      this.options.log(`handshake failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      refused(500, 'Internal server error');
    }
  }

  private disconnected(connection: ConnectionFacts, code: number, reason: string): void {
    const disconnect = this.fn(this.options.api.routes.get('$disconnect'));
    if (!disconnect) return;
    const started = Date.now();
    const user = principalOf(connection);
    this.invoke('$disconnect', disconnect, disconnectEvent(this.options.identity, connection, code, reason, started)).then(
      () => this.summarize(user, '$disconnect', `closed ${code}`, started),
      (error: unknown) => {
        this.summarize(user, '$disconnect', `closed ${code}, failed`, started, true);
        this.options.log(`$disconnect failed: ${errorMessage(error)}`);
      },
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
      if (isBinary) {
        this.close(connection, 1003, 'Unsupported data');
        return;
      }
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
    const started = Date.now();
    const user = principalOf(connection);
    const routeKey = selectRoute(api, body);
    const route = api.routes.get(routeKey);
    const fn = this.fn(route);
    if (!route || !fn) {
      this.summarize(user, routeKey, 'no route: Forbidden', started, true);
      this.send(connection, JSON.stringify({ message: 'Forbidden', connectionId: connection.connectionId, requestId: gatewayId() }));
      return;
    }
    const event = messageEvent(identity, connection, routeKey, body, started);
    try {
      const reply = replyOf(await this.invoke(routeKey, fn, event));
      this.summarize(user, routeKey, route.twoWay && reply !== undefined ? frameSummary(reply) : 'ok', started);
      if (route.twoWay && reply !== undefined) this.send(connection, reply);
    } catch (error) {
      this.summarize(user, routeKey, 'failed', started, true);
      this.options.log(`${routeKey} failed: ${errorMessage(error)}`);
      this.send(connection, JSON.stringify({ message: 'Internal server error', connectionId: connection.connectionId, requestId: event.requestContext.requestId }));
    }
  }

  private send(connection: LiveConnection, data: string): void {
    if (!connection.closing && connection.socket.readyState === connection.socket.OPEN) connection.socket.send(data);
  }
}

interface AuthorizerResult {
  readonly principalId: string | undefined;
  /** Every statement of the policy allows (and there is at least one). */
  readonly allowed: boolean;
  readonly context: Record<string, unknown>;
}


const errorMessage = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** What an authorizer returned, read as API Gateway reads it: anything else denies. */
function parseAuthorizerResult(value: unknown): AuthorizerResult | undefined {
  if (!isRecord(value)) return undefined;
  const document = value['policyDocument'];
  const listed: unknown = isRecord(document) ? document['Statement'] : undefined;
  const statements: readonly unknown[] = Array.isArray(listed) ? listed : [];
  return {
    principalId: typeof value['principalId'] === 'string' ? value['principalId'] : undefined,
    allowed: statements.length > 0 && statements.every((statement) => isRecord(statement) && statement['Effect'] === 'Allow'),
    context: isRecord(value['context']) ? value['context'] : {},
  };
}

/** The status a $connect integration answered with; a response without one is 200, as on AWS. */
function statusCodeOf(result: unknown): number {
  return isRecord(result) && typeof result['statusCode'] === 'number' ? result['statusCode'] : 200;
}

/** The frame a route's integration response sends back, if any. */
function replyOf(result: unknown): string | undefined {
  if (typeof result === 'string') return result;
  if (!isRecord(result)) return undefined;
  const body = result['body'];
  if (body === undefined || body === null) return undefined;
  return typeof body === 'string' ? body : JSON.stringify(body);
}

/** A reply frame in a word or two: its `type`, and the `code` of an error. */
function frameSummary(frame: string): string {
  let value: unknown;
  try {
    value = JSON.parse(frame);
  } catch {
    return 'sent';
  }
  if (!isRecord(value) || typeof value['type'] !== 'string') return 'sent';
  return typeof value['code'] === 'string' ? `${value['type']} ${value['code']}` : value['type'];
}

function principalOf(connection: ConnectionFacts): string | undefined {
  const principal = connection.authorizer?.['principalId'];
  return typeof principal === 'string' ? principal : undefined;
}

function identityPresent(source: string, req: IncomingMessage, url: URL): boolean {
  const query = /^route\.request\.querystring\.(.+)$/.exec(source)?.[1];
  if (query !== undefined) return (url.searchParams.get(query) ?? '') !== '';
  const header = /^route\.request\.header\.(.+)$/.exec(source)?.[1];
  if (header !== undefined) return (req.headers[header.toLowerCase()] ?? '') !== '';
  return true;
}

/** Evaluates a selection expression such as `$request.body.action` against a frame. */
export function selectRoute(api: ApiModel, body: string): string {
  const path = /^\$request\.body\.(.+)$/.exec(api.routeSelectionExpression)?.[1];
  if (path === undefined) return '$default';
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return '$default';
  }
  for (const key of path.split('.')) value = isRecord(value) ? value[key] : undefined;
  const key = typeof value === 'string' ? value : undefined;
  return key !== undefined && !key.startsWith('$') && api.routes.has(key) ? key : '$default';
}

function closeReason(code: number): string {
  return code === 1000 ? 'Connection Closed Normally' : code === 1001 ? 'Going away' : code === 1005 ? 'No status code' : code === 1006 ? 'Connection closed abnormally' : '';
}
