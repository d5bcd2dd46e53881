import { createHash, createHmac } from 'node:crypto';
import { escapeUri } from '@smithy/core/protocols';
import type { AwsCredentialIdentity, Provider } from '@smithy/types';
import { Pool } from 'undici';
import type { Pacer } from './pacer';

/**
 * The one call fan-out makes per delivery, `POST @connections/{id}`, without the SDK's
 * per-call middleware stack. Per delivery it builds the SigV4 canonical request (three
 * signed headers; the payload's hash is computed once for all its recipients, the path
 * escaped with the SDK's own escapeUri), signs it with one HMAC under a signing key
 * derived once a day, and sends it through undici's keep-alive pool.
 * test/bench/delivery-client.ts measures its CPU next to `PostToConnectionCommand`'s.
 * Calls that are rare (GET and DELETE on a connection) keep the SDK client.
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
  /**
   * Paces every attempt, retries included (a retry is a request the account's throttle counts), and
   * hears of every 429. Absent, requests go as fast as the callers send them.
   */
  readonly pacer?: Pick<Pacer, 'take' | 'throttled'>;
  /** For tests: the source of jitter and of waiting. */
  readonly random?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** A frame serialized and hashed once, then sent to every recipient. */
export interface Payload {
  readonly body: Buffer;
  /** Hex SHA-256 of the body: SigV4's payload hash, computed once for every recipient of the payload. */
  readonly sha256: string;
}

export function payload(frame: unknown): Payload {
  return serializedPayload(JSON.stringify(frame));
}

/** A frame that is already JSON text (as the delivery queue carries it). */
export function serializedPayload(text: string): Payload {
  const body = Buffer.from(text);
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

const ALGORITHM = 'AWS4-HMAC-SHA256';
const SERVICE = 'execute-api';

/** What a signature needs that changes once a second at most: the date, its scope, the credentials. */
interface Clock {
  readonly second: number;
  readonly amzDate: string;
  readonly scope: string;
  readonly credentials: AwsCredentialIdentity;
  /** Derived once per day and credentials, from the very credentials Credential= names. */
  readonly signingKey: Buffer;
}

/**
 * SigV4's signing key: the secret, HMAC'd with the date, region, service and terminator. The SDK's
 * signer derives the same key but keeps it private, and spends a further HMAC on every signature to
 * look it up in its cache; deriving it here once a day leaves one HMAC per delivery. Every signature
 * is checked against the SDK's own signer in test/unit/shared/fanout/delivery-client.test.ts.
 */
function deriveSigningKey(credentials: AwsCredentialIdentity, shortDate: string, region: string): Buffer {
  const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
  return hmac(hmac(hmac(hmac(`AWS4${credentials.secretAccessKey}`, shortDate), region), SERVICE), 'aws4_request');
}

export class DeliveryClient {
  private readonly credentials: Provider<AwsCredentialIdentity>;
  private readonly region: string;
  private readonly pool: Pool;
  private readonly host: string;
  private readonly basePath: string;
  private readonly maxAttempts: number;
  private readonly backoff: { readonly baseMs: number; readonly capMs: number };
  private readonly timeoutMs: number;
  private readonly random: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly pacer: Pick<Pacer, 'take' | 'throttled'> | undefined;
  private clock: Clock | undefined;

  constructor(options: DeliveryClientOptions) {
    const url = new URL(options.endpoint);
    this.host = url.host;
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.timeoutMs = options.requestTimeoutMs ?? 10_000;
    this.pool = new Pool(url.origin, { connections: options.maxSockets, headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs });
    const { credentials } = options;
    this.credentials = typeof credentials === 'function' ? credentials : () => Promise.resolve(credentials);
    this.region = options.region;
    this.maxAttempts = options.maxAttempts ?? 3;
    this.backoff = options.backoff ?? { baseMs: 50, capMs: 2_000 };
    this.random = options.random ?? Math.random;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.pacer = options.pacer;
  }

  /** Sends the payload to one connection; rejects with DeliveryError once it gives up. */
  async post(connectionId: string, data: Payload): Promise<DeliveryOutcome> {
    // The SDK's path for PostToConnection: the id URI-encoded under the stage's path.
    const path = `${this.basePath}/@connections/${escapeUri(connectionId)}`;
    let last: { status: number | undefined; reason: string } = { status: undefined, reason: 'not sent' };
    let attempt = 1;
    for (; attempt <= this.maxAttempts; attempt++) {
      if (attempt > 1) await this.sleep(this.random() * Math.min(this.backoff.capMs, this.backoff.baseMs * 2 ** (attempt - 2)));
      await this.pacer?.take();
      try {
        const status = await this.request(path, data);
        if (status >= 200 && status < 300) return 'delivered';
        if (status === 410) return 'gone';
        if (status === 429) this.pacer?.throttled();
        last = { status, reason: `HTTP ${status}` };
        if (!retryable(status)) break;
      } catch (error) {
        // No answer (a reset, a timeout): the frame may have reached the client before, so a retry can
        // deliver it twice. Clients drop duplicates by id; losing it would be worse.
        last = { status: undefined, reason: error instanceof Error ? error.message : String(error) };
      }
    }
    throw new DeliveryError(`PostToConnection failed: ${last.reason}`, last.status, Math.min(attempt, this.maxAttempts));
  }

  /** Closes the kept-alive connections. */
  async destroy(): Promise<void> {
    await this.pool.destroy();
  }

  private async request(path: string, data: Payload): Promise<number> {
    const second = Math.floor(Date.now() / 1000);
    const clock = this.clock?.second === second ? this.clock : await this.tick(second);
    const { statusCode, body } = await this.pool.request({
      method: 'POST',
      path,
      headers: this.signedHeaders(clock, path, data),
      body: data.body,
    });
    // The body (an error's JSON, if any) is not needed; reading it frees the connection for the next call.
    await body.dump();
    return statusCode;
  }

  /** SigV4 (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html) over host, x-amz-date and the session token. */
  private signedHeaders(clock: Clock, path: string, data: Payload): Record<string, string> {
    const token = clock.credentials.sessionToken;
    const signedNames = token === undefined ? 'host;x-amz-date' : 'host;x-amz-date;x-amz-security-token';
    const canonicalRequest = [
      'POST',
      // As the SDK's signer does for every service but S3: the path escaped once more, slashes kept.
      escapeUri(path).replace(/%2F/g, '/'),
      '',
      `host:${this.host}`,
      `x-amz-date:${clock.amzDate}`,
      ...(token === undefined ? [] : [`x-amz-security-token:${token}`]),
      '',
      signedNames,
      data.sha256,
    ].join('\n');
    const stringToSign = `${ALGORITHM}\n${clock.amzDate}\n${clock.scope}\n${createHash('sha256').update(canonicalRequest).digest('hex')}`;
    const signature = createHmac('sha256', clock.signingKey).update(stringToSign).digest('hex');
    return {
      'content-type': 'application/json',
      'x-amz-date': clock.amzDate,
      ...(token === undefined ? {} : { 'x-amz-security-token': token }),
      authorization: `${ALGORITHM} Credential=${clock.credentials.accessKeyId}/${clock.scope}, SignedHeaders=${signedNames}, Signature=${signature}`,
    };
  }

  /** The signing date, credentials and signing key for this second, shared by every delivery in it. */
  private async tick(second: number): Promise<Clock> {
    const amzDate = new Date(second * 1000).toISOString().replace(/[-:]|\.\d{3}/g, '');
    const shortDate = amzDate.slice(0, 8);
    const scope = `${shortDate}/${this.region}/${SERVICE}/aws4_request`;
    // The provider caches (the SDK's default chain memoizes until the credentials near expiry).
    const credentials = await this.credentials();
    const previous = this.clock;
    const signingKey = previous?.credentials === credentials && previous.scope === scope ? previous.signingKey : deriveSigningKey(credentials, shortDate, this.region);
    this.clock = { second, amzDate, scope, credentials, signingKey };
    return this.clock;
  }
}
