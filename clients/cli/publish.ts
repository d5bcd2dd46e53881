/**
 * `updraft publish`: statuses through the publish API (README.md, "Publish from a backend"),
 * signed with SigV4 as any backend would sign them: with the AWS default credential chain for a
 * deployed stack, with the local stack's dev credentials locally.
 */
import { randomUUID } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { isRecord, parseServerStatus } from '../../shared/protocol/frames';
import { Limits } from '../../shared/protocol/limits';
import type { PublishRequest, Status } from '../../shared/protocol/types';
import { LOCAL_PUBLISH_PATH, LocalPublishPrincipals } from '../../shared/publish-api';
import { parseJson } from './connection';
import { Exit, NoConnection, UsageError } from './errors';
import type { Output } from './output';

/** The publish API's answer to a request it refused: the HTTP status, and the protocol's `code` when its handlers answered. */
export class PublishApiError extends Error {
  override readonly name = 'PublishApiError';
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    message: string,
    /** On 429: how long to wait, from the body's retryAfterMs or the Retry-After header. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

export interface Published {
  readonly status: Status;
  /** The request's id was used before: this is the first status, and nothing new was delivered. */
  readonly duplicate: boolean;
}

/** What the publish command needs of the API; tests may stand in for it. */
export interface Publisher {
  publish(request: PublishRequest): Promise<Published>;
}

export interface PublishTarget {
  /** The API's base URL: its endpoint on AWS, `http://127.0.0.1:<port>/publish` locally. */
  readonly url: URL;
  readonly region: string;
  readonly credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider;
}

/** A SigV4-signing client of the publish API, on node:http (as the rest of the CLI, to start fast). */
export class PublishApiClient implements Publisher {
  private readonly signer: SignatureV4;

  constructor(private readonly target: PublishTarget) {
    this.signer = new SignatureV4({ service: 'execute-api', region: target.region, credentials: target.credentials, sha256: Sha256 });
  }

  async publish(request: PublishRequest): Promise<Published> {
    const { status, body } = await this.send('POST', '/statuses', JSON.stringify(request));
    const published = status === 200 || status === 201 ? parseServerStatus(isRecord(body) ? body['status'] : undefined) : undefined;
    if (!published) throw refusal(status, body, undefined);
    return { status: published, duplicate: status === 200 };
  }

  /** Signs and sends one request; the body of the answer is parsed as JSON when it is JSON. */
  async send(method: 'GET' | 'POST', path: string, body?: string): Promise<{ status: number; body: unknown; headers: IncomingMessage['headers'] }> {
    const { url } = this.target;
    const fullPath = `${url.pathname.replace(/\/$/, '')}${path}`;
    const signed = await this.signer.sign({
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port === '' ? {} : { port: Number(url.port) }),
      path: fullPath,
      query: {},
      headers: { host: url.host, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body }),
    });
    return new Promise((resolve, reject) => {
      const sent = (url.protocol === 'https:' ? httpsRequest : httpRequest)(
        { protocol: url.protocol, hostname: url.hostname, port: url.port, method, path: fullPath, headers: signed.headers, timeout: 30_000 },
        (response) => {
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => (text += chunk));
          response.on('end', () => {
            const status = response.statusCode ?? 0;
            const retryAfter = response.headers['retry-after'];
            const parsed = parseJson(text);
            if (status === 429) {
              const ms = isRecord(parsed) && typeof parsed['retryAfterMs'] === 'number' ? parsed['retryAfterMs'] : retryAfter === undefined ? undefined : Number(retryAfter) * 1000;
              reject(refusal(status, parsed, ms !== undefined && Number.isFinite(ms) ? ms : undefined));
              return;
            }
            resolve({ status, body: parsed ?? text, headers: response.headers });
          });
          response.on('error', reject);
        },
      );
      sent.on('timeout', () => sent.destroy(new Error('no answer within 30 s')));
      sent.on('error', (error) => { reject(new NoConnection(`cannot reach the publish API at ${url.origin}${url.pathname}: ${error.message}`)); });
      sent.end(body);
    });
  }
}

function refusal(status: number, body: unknown, retryAfterMs: number | undefined): PublishApiError {
  const code = isRecord(body) && typeof body['code'] === 'string' ? body['code'] : undefined;
  const said = isRecord(body) && typeof body['message'] === 'string' ? body['message'] : undefined;
  // API Gateway's own refusals carry only a message: 403 Forbidden (unsigned, or not granted), 404, 429 (the stage's throttle).
  const message = said ?? `HTTP ${status}`;
  return new PublishApiError(status, code, code === undefined ? `HTTP ${status}: ${message}${status === 403 ? ' (is the request signed, and is the role allowed execute-api:Invoke on this route?)' : ''}` : message, retryAfterMs);
}

/** Where the publish API is and how to sign for it, from the options and the environment. */
export function publishTarget(given: { publishUrl?: string; stackUrl: string }, env: NodeJS.ProcessEnv, chain: () => AwsCredentialIdentityProvider): PublishTarget {
  const explicit = given.publishUrl ?? (env['UPDRAFT_PUBLISH_URL'] === '' ? undefined : env['UPDRAFT_PUBLISH_URL']);
  const url = parsed(explicit ?? localPublishUrl(given.stackUrl));
  const local = url.hostname === '127.0.0.1' || url.hostname === 'localhost';
  if (local) {
    const [dev] = LocalPublishPrincipals;
    // The local stack does not check signatures (README, "Publish from a backend"); its region is the one it was started with.
    return { url, region: env['AWS_REGION'] ?? 'us-east-1', credentials: { accessKeyId: dev.accessKeyId, secretAccessKey: dev.secretAccessKey } };
  }
  const region = /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/.exec(url.hostname)?.[1] ?? env['AWS_REGION'] ?? env['AWS_DEFAULT_REGION'];
  if (region === undefined || region === '') throw new UsageError(`cannot tell the region of ${url.origin}: set AWS_REGION`);
  return { url, region, credentials: chain() };
}

/** The local stack serves the publish API on its own port, under LOCAL_PUBLISH_PATH. */
function localPublishUrl(stackUrl: string): string {
  if (!/^https?:\/\//.test(stackUrl)) {
    throw new UsageError("say where the publish API is: --publish-url <url> or UPDRAFT_PUBLISH_URL (the stack's PublishApiUrl output)");
  }
  return `${new URL(stackUrl).origin}${LOCAL_PUBLISH_PATH}`;
}

function parsed(url: string): URL {
  try {
    const result = new URL(url);
    if (result.protocol !== 'http:' && result.protocol !== 'https:') throw new Error('not http');
    return result;
  } catch {
    throw new UsageError(`${url} is not an http(s) URL of the publish API`);
  }
}

/** A 429 that comes without a wait (API Gateway's own throttle says none): wait this long, doubling. */
const FALLBACK_WAIT_MS = 1000;
/** 429s in a row for one status before it is given up: the budget refills long before that. */
const MAX_RATE_LIMITED = 10;

export interface Tally {
  published: number;
  duplicates: number;
  rateLimited: number;
  waitedMs: number;
  failed: number;
  skipped: number;
}

/**
 * Publishes one status, waiting out 429s (Retry-After, the budget's own answer) and trying again
 * with the same id, so that nothing is published twice.
 */
export async function publishPatiently(api: Publisher, request: PublishRequest, tally: Tally, sleep: (ms: number) => Promise<void>): Promise<Published> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await api.publish(request);
    } catch (error) {
      if (!(error instanceof PublishApiError) || error.status !== 429 || attempt >= MAX_RATE_LIMITED) throw error;
      tally.rateLimited++;
      const wait = error.retryAfterMs ?? FALLBACK_WAIT_MS * 2 ** (attempt - 1);
      tally.waitedMs += wait;
      await sleep(wait);
    }
  }
}

/** An id for each status the CLI sends, so that its own retries are idempotent; `--id` makes a rerun idempotent too. */
export const requestIdFor = (prefix: string | undefined, line?: number): string =>
  prefix === undefined ? randomUUID() : line === undefined ? prefix : `${prefix}-${line}`;

/** The longest `--id` that leaves room for `-<line>` with lines up to 9,999,999. */
export const MAX_ID_PREFIX = Limits.requestIdMaxLength - 8;

export interface PublishContext {
  readonly api: Publisher;
  readonly out: Output;
  /** Standard input, line by line: the statuses of a publish with no text. */
  readonly lines: () => AsyncIterable<string>;
  readonly sleep: (ms: number) => Promise<void>;
}

/** Says how a run went, as one line (or one JSON object). */
export function summarize(out: Output, tally: Tally): number {
  const parts = [
    `published ${tally.published}`,
    ...(tally.duplicates > 0 ? [`${tally.duplicates} already published (same id)`] : []),
    `${tally.rateLimited} answered 429${tally.rateLimited > 0 ? ` (waited ${(tally.waitedMs / 1000).toFixed(1)} s in all)` : ''}`,
    ...(tally.failed > 0 ? [`${tally.failed} refused`] : []),
    ...(tally.skipped > 0 ? [`${tally.skipped} blank line(s) skipped`] : []),
  ];
  out.value({ type: 'summary', ...tally }, parts.join(', '));
  return tally.failed > 0 ? Exit.Refused : Exit.Ok;
}

export const newTally = (): Tally => ({ published: 0, duplicates: 0, rateLimited: 0, waitedMs: 0, failed: 0, skipped: 0 });
