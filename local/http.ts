import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { fromBrowser, hostAllowed, stackHosts } from './request-guard';

/**
 * The one HTTP port of the local stack, shared by components that each
 * answer the requests they own: the WebSocket API (upgrades), the Management
 * API, the publish API, the local Secrets Manager, the dev-token endpoint and the browser app.
 */

/** Answers a request it owns and returns true, or returns false to let the next component try. */
export type HttpRoute = (req: IncomingMessage, res: ServerResponse, url: URL) => boolean | Promise<boolean>;

export interface UpgradeHandler {
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void>;
}

export interface HttpServerOptions {
  readonly host: string;
  readonly port: number;
  /** What a web page may use (the browser app, dev tokens); tried first, in order. */
  readonly browserRoutes: readonly HttpRoute[];
  /**
   * The local AWS endpoints, for the stack's own SDK clients and tools, tried
   * next; a request a browser sent never reaches them. The first route that
   * answers wins, and 404 when none does.
   */
  readonly serviceRoutes: readonly HttpRoute[];
  /** WebSocket upgrades, once their Host is the stack's own. */
  readonly upgrades: UpgradeHandler;
  readonly log: (line: string) => void;
}

export class HttpServer {
  private readonly server: Server;
  private readonly hosts: ReadonlySet<string>;

  constructor(private readonly options: HttpServerOptions) {
    this.hosts = stackHosts(options.port);
    this.server = createServer((req, res) => void this.dispatch(req, res));
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (!hostAllowed(req, this.hosts)) refuseUpgrade(socket, 403, FOREIGN_HOST);
      else if (!URL.canParse(req.url ?? '/', BASE)) refuseUpgrade(socket, 400, BAD_TARGET);
      else
        options.upgrades.upgrade(req, socket, head).catch((error: unknown) => {
          this.options.log(`WebSocket upgrade of ${req.url ?? '?'} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
          refuseUpgrade(socket, 500, 'Internal server error');
        });
    });
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

  /** Stops listening and cuts whatever HTTP connections are left. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!hostAllowed(req, this.hosts)) {
      json(res, 403, { error: 'forbidden', message: FOREIGN_HOST });
      return;
    }
    // A target no URL can be made of (`//[`, say) is the client's mistake, never a reason for the stack to stop.
    if (!URL.canParse(req.url ?? '/', BASE)) {
      json(res, 400, { error: 'bad_request', message: BAD_TARGET });
      return;
    }
    const url = requestUrl(req);
    try {
      for (const route of this.options.browserRoutes) if (await route(req, res, url)) return;
      if (fromBrowser(req)) {
        json(res, 403, { error: 'forbidden', message: 'the local AWS endpoints (Management API, publish API, Secrets Manager, SQS) and /dev/faults do not answer browsers' });
        return;
      }
      for (const route of this.options.serviceRoutes) if (await route(req, res, url)) return;
      json(res, 404, { message: 'Not Found' });
    } catch (error) {
      this.options.log(`HTTP ${req.method ?? '?'} ${url.pathname} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      if (!res.headersSent) json(res, 500, { message: 'Internal server error' });
    }
  }
}

const BASE = 'http://localhost';
const BAD_TARGET = 'the request target is not a path';

/** Refused in every answer to a request whose Host is not the stack's (a DNS rebinding page's name, say). */
const FOREIGN_HOST = 'this stack answers only Host 127.0.0.1:<port> or localhost:<port>';

/**
 * The request's path and query. The base is fixed rather than taken from the Host header, which the
 * routes never read and which a client can fill with anything, a malformed value that URL refuses included.
 */
export const requestUrl = (req: IncomingMessage) => new URL(req.url ?? '/', BASE);

export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers }).end(text);
}

/** Reads a request body, keeping at most `limit` bytes; `size` is the real length. */
export async function readBody(req: IncomingMessage, limit: number): Promise<{ body: Buffer; size: number }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    if (size + bytes.length <= limit) chunks.push(bytes);
    size += bytes.length;
  }
  return { body: Buffer.concat(chunks), size };
}

/** Parses a JSON body that must be an object; anything else is an empty object. */
export function jsonObject(body: Buffer): Record<string, unknown> {
  const text = body.toString('utf8');
  if (text.trim() === '') return {};
  const value: unknown = JSON.parse(text);
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? { ...value } : {};
}

const STATUS_TEXT = new Map([
  [400, 'Bad Request'],
  [401, 'Unauthorized'],
  [403, 'Forbidden'],
  [500, 'Internal Server Error'],
  [502, 'Bad Gateway'],
  [503, 'Service Unavailable'],
]);

export const statusText = (status: number) => STATUS_TEXT.get(status);

/** Answers a WebSocket upgrade with an HTTP error and a JSON `{message}`, as API Gateway refuses a handshake. */
export function refuseUpgrade(socket: Duplex, status: number, message: string): void {
  if (socket.destroyed) return;
  const body = JSON.stringify({ message });
  const reason = STATUS_TEXT.get(status) ?? 'Error';
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}
