import { createHash } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, HttpRequest, Provider } from '@smithy/types';

/**
 * The one call fan-out makes per delivery, `POST @connections/{id}`, without the SDK's
 * per-call middleware stack: the SDK's own SigV4 signer (signing keys cached by it), a
 * payload hashed once for all its recipients, and plain keep-alive HTTP. It costs a
 * fraction of `PostToConnectionCommand`'s CPU (test/bench/delivery-client.ts measures
 * both). Calls that are rare (GET and DELETE on a connection) keep the SDK client.
 */
export interface DeliveryClientOptions {
  /** The stage's Management API endpoint, e.g. `https://abc.execute-api.eu-west-1.amazonaws.com/prod`. */
  readonly endpoint: string;
  readonly region: string;
  readonly credentials: AwsCredentialIdentity | Provider<AwsCredentialIdentity>;
  /** Sockets kept open to the endpoint: the fan-out concurrency. */
  readonly maxSockets: number;
  /** Tries per delivery, the first included, on 429 and 5xx. @default 3 */
  readonly maxAttempts?: number;
  /** Full-jitter backoff: a random wait up to min(cap, base × 2^retry). @default { baseMs: 50, capMs: 2000 } */
  readonly backoff?: { readonly baseMs: number; readonly capMs: number };
  /** A request with no answer after this long fails (and is retried). @default 10000 */
  readonly requestTimeoutMs?: number;
  /** For tests: the source of jitter and of waiting. */
  readonly random?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** A frame serialized and hashed once, then sent to every recipient. */
export interface Payload {
  readonly body: Buffer;
  /** Hex SHA-256 of the body: SigV4's payload hash, which the signer takes from this header as it is. */
  readonly sha256: string;
}

export function payload(frame: unknown): Payload {
  const body = Buffer.from(JSON.stringify(frame));
  return { body, sha256: createHash('sha256').update(body).digest('hex') };
}

/** `delivered`: the gateway took the frame. `gone`: the connection no longer exists (410). */
export type DeliveryOutcome = 'delivered' | 'gone';

/** A delivery that failed for good: a 4xx other than 410 and 429, or 429/5xx/network errors on every try. */
export class DeliveryError extends Error {
  override readonly name = 'DeliveryError';
  constructor(
    message: string,
    /** The last HTTP status, absent when no answer came. */
    readonly status: number | undefined,
    readonly attempts: number,
  ) {
    super(message);
  }
}

/** Statuses worth another try: throttling and the gateway's own failures. */
const retryable = (status: number) => status === 429 || status >= 500;

export class DeliveryClient {
  private readonly signer: SignatureV4;
  private readonly agent: HttpAgent;
  private readonly send: typeof httpRequest;
  private readonly protocol: string;
  private readonly hostname: string;
  private readonly port: number | undefined;
  private readonly host: string;
  private readonly basePath: string;
  private readonly maxAttempts: number;
  private readonly backoff: { readonly baseMs: number; readonly capMs: number };
  private readonly timeoutMs: number;
  private readonly random: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(options: DeliveryClientOptions) {
    const url = new URL(options.endpoint);
    const secure = url.protocol === 'https:';
    this.protocol = url.protocol;
    this.hostname = url.hostname;
    this.port = url.port === '' ? undefined : Number(url.port);
    this.host = url.host;
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.agent = secure ? new HttpsAgent({ keepAlive: true, maxSockets: options.maxSockets }) : new HttpAgent({ keepAlive: true, maxSockets: options.maxSockets });
    this.send = secure ? httpsRequest : httpRequest;
    this.signer = new SignatureV4({ service: 'execute-api', region: options.region, credentials: options.credentials, sha256: Sha256, uriEscapePath: true });
    this.maxAttempts = options.maxAttempts ?? 3;
    this.backoff = options.backoff ?? { baseMs: 50, capMs: 2_000 };
    this.timeoutMs = options.requestTimeoutMs ?? 10_000;
    this.random = options.random ?? Math.random;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** Sends the payload to one connection; rejects with DeliveryError once it gives up. */
  async post(connectionId: string, data: Payload): Promise<DeliveryOutcome> {
    // The SDK's path for PostToConnection: the id URI-encoded under the stage's path.
    const path = `${this.basePath}/%40connections/${encodeURIComponent(connectionId)}`;
    let last: { status: number | undefined; reason: string } = { status: undefined, reason: 'not sent' };
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      if (attempt > 1) await this.sleep(this.random() * Math.min(this.backoff.capMs, this.backoff.baseMs * 2 ** (attempt - 2)));
      try {
        const status = await this.request(path, data);
        if (status >= 200 && status < 300) return 'delivered';
        if (status === 410) return 'gone';
        last = { status, reason: `HTTP ${status}` };
        if (!retryable(status)) break;
      } catch (error) {
        last = { status: undefined, reason: error instanceof Error ? error.message : String(error) };
      }
    }
    throw new DeliveryError(`PostToConnection failed: ${last.reason}`, last.status, this.maxAttempts);
  }

  /** Closes the kept-alive sockets. */
  destroy(): void {
    this.agent.destroy();
  }

  private async request(path: string, data: Payload): Promise<number> {
    const unsigned: HttpRequest = {
      method: 'POST',
      protocol: this.protocol,
      hostname: this.hostname,
      ...(this.port === undefined ? {} : { port: this.port }),
      path,
      query: {},
      headers: { host: this.host, 'content-type': 'application/json', 'content-length': String(data.body.length), 'x-amz-content-sha256': data.sha256 },
      body: data.body,
    };
    const signed = await this.signer.sign(unsigned);
    return new Promise<number>((resolve, reject) => {
      const req = this.send(
        { agent: this.agent, method: 'POST', hostname: this.hostname, port: this.port, path, headers: signed.headers, timeout: this.timeoutMs },
        (res: IncomingMessage) => {
          // The body (an error's JSON, if any) is not needed; reading it frees the socket for the next call.
          res.resume();
          res.once('end', () => resolve(res.statusCode ?? 0));
          res.once('error', reject);
        },
      );
      req.once('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.once('error', reject);
      req.end(data.body);
    });
  }
}
