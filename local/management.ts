import type { IncomingMessage, ServerResponse } from 'node:http';
import { gatewayId } from './events';
import type { Faults } from './faults';
import { json, readBody, type HttpRoute } from './http';

/** What the Management API reads and does to one open connection. */
export interface ManagedConnection {
  readonly connectedAt: number;
  readonly lastActiveAt: number;
  readonly sourceIp: string;
  readonly userAgent?: string;
  send(data: string): void;
  /** Closes as `DeleteConnection` does: 1000, the server starting the close. */
  close(): void;
}

export interface ConnectionRegistry {
  /** The connection while it is open; undefined once it is closing or gone. */
  open(connectionId: string): ManagedConnection | undefined;
}

export interface ManagementApiOptions {
  readonly stageName: string;
  /** API Gateway: 128 KB per message. */
  readonly messageBytes: number;
  readonly connections: ConnectionRegistry;
  /** `UPDRAFT_FAULTS`: POSTs made slow, refused with 429 or 500, or lost. */
  readonly faults?: Pick<Faults, 'post'>;
}

const CONNECTIONS_PATH = /^\/([^/]+)\/@connections\/([^/]+)$/;

/**
 * The API Gateway Management API (`POST`, `GET` and `DELETE` on
 * `/<stage>/@connections/{id}`) as AWS answers it, 410 GoneException and 413
 * included. SigV4 signatures are accepted and not checked.
 */
export function managementApiRoute(options: ManagementApiOptions): HttpRoute {
  return async (req, res, url) => {
    const match = CONNECTIONS_PATH.exec(url.pathname);
    if (match?.[1] !== options.stageName || match[2] === undefined) return false;
    await answer(req, res, decodeURIComponent(match[2]), options);
    return true;
  };
}

async function answer(req: IncomingMessage, res: ServerResponse, connectionId: string, options: ManagementApiOptions): Promise<void> {
  const { body, size } = await readBody(req, options.messageBytes);
  const headers = { 'x-amzn-RequestId': gatewayId() };
  if (req.method === 'POST' && size > options.messageBytes) {
    json(res, 413, { message: 'Request Entity Too Large' }, { ...headers, 'x-amzn-ErrorType': 'PayloadTooLargeException' });
    return;
  }
  // Before the connection is looked up, as a throttle or an internal error comes before anything else.
  if (req.method === 'POST' && options.faults) {
    const refusal = await options.faults.post(connectionId, body);
    if (refusal) {
      json(res, refusal.status, { message: refusal.message }, { ...headers, 'x-amzn-ErrorType': refusal.errorType });
      return;
    }
  }
  const connection = options.connections.open(connectionId);
  if (!connection) {
    json(res, 410, {}, { ...headers, 'x-amzn-ErrorType': 'GoneException' });
    return;
  }
  switch (req.method) {
    case 'POST':
      connection.send(body.toString('utf8'));
      res.writeHead(200, { ...headers, 'content-length': '0' }).end();
      return;
    case 'GET':
      json(
        res,
        200,
        {
          connectedAt: new Date(connection.connectedAt).toISOString(),
          identity: connection.userAgent === undefined ? { sourceIp: connection.sourceIp } : { sourceIp: connection.sourceIp, userAgent: connection.userAgent },
          lastActiveAt: new Date(connection.lastActiveAt).toISOString(),
        },
        headers,
      );
      return;
    case 'DELETE':
      connection.close();
      res.writeHead(204, headers).end();
      return;
    default:
      json(res, 405, { message: 'Method Not Allowed' }, headers);
  }
}
