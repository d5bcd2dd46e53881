/**
 * Configuration comes from the environment that the stack sets (see
 * cdk/constructs/updraft-function.ts, whose bind* methods set these names).
 * Handlers call these getters at module load, so a missing variable fails the
 * cold start loudly instead of a request later.
 */
export const EnvVar = {
  statusesTable: 'STATUSES_TABLE',
  connectionsTable: 'CONNECTIONS_TABLE',
  followsTable: 'FOLLOWS_TABLE',
  connectionsEndpoint: 'CONNECTIONS_ENDPOINT',
  jwtSecretArn: 'JWT_SECRET_ARN',
  fanOutConcurrency: 'FANOUT_CONCURRENCY',
  /** Channels with at most about this many subscribers are delivered by the stream consumer itself. */
  fanOutDirectMax: 'FANOUT_DIRECT_MAX',
  deliveryQueueUrl: 'DELIVERY_QUEUE_URL',
  /** The stage's delivery budget, posts per second, shared by the delivery workers. */
  deliveryRps: 'DELIVERY_RPS',
  /** The most delivery workers that run at once (the queue's event source caps them). */
  deliveryWorkers: 'DELIVERY_WORKERS',
  /** Posts in flight at once per delivery worker. */
  deliveryConcurrency: 'DELIVERY_CONCURRENCY',
  maxSubscriptions: 'MAX_SUBSCRIPTIONS',
  postRateBurst: 'POST_RATE_BURST',
  postRatePerSecond: 'POST_RATE_PER_SECOND',
  /** The publish API's integration budget per author (Connections row `publish#<userId>`). */
  publishRateBurst: 'PUBLISH_RATE_BURST',
  publishRatePerSecond: 'PUBLISH_RATE_PER_SECOND',
  actionRateBurst: 'ACTION_RATE_BURST',
  actionRatePerSecond: 'ACTION_RATE_PER_SECOND',
  maxConnectionsPerUser: 'MAX_CONNECTIONS_PER_USER',
  /** The connect budget per user (Connections row `churn#<userId>`), in cost units. */
  connectRateBurst: 'CONNECT_RATE_BURST',
  connectRatePerSecond: 'CONNECT_RATE_PER_SECOND',
  maxTokenAgeSeconds: 'MAX_TOKEN_AGE_SECONDS',
  authMode: 'AUTH_MODE',
  jwksUrl: 'JWKS_URL',
  jwtIssuer: 'JWT_ISSUER',
  /** Comma-separated. */
  jwtAudience: 'JWT_AUDIENCE',
  jwtAudienceClaim: 'JWT_AUDIENCE_CLAIM',
  jwtTokenUse: 'JWT_TOKEN_USE',
  stage: 'UPDRAFT_STAGE',
  /** Set by the Lambda runtime (and by the local stack for its functions), not by the stack. */
  region: 'AWS_REGION',
} as const;

/**
 * The limits a deployment may change (CDK context, see cdk/limits.ts), with
 * the values used when nothing is set. The stack always sets the variables;
 * these defaults are for the same numbers in one place.
 */
export const DefaultLimits = {
  /** Channels one connection may hold through `subscribe` (follows are bounded by the follow limit). */
  maxSubscriptions: 500,
  /** Posts a user may make at once, across all their connections. */
  postRateBurst: 10,
  /** Posts per second a user may keep up once the burst is spent. */
  postRatePerSecond: 1,
  /**
   * Cost units (about a DynamoDB request each, shared/protocol/costs.ts) a user's other frames may spend
   * at once, across all their connections: a reconnect's heaviest frames (`subscribe` with `since` on 50
   * channels, 101; `presence` of 100 users, 200) with room for a page of `history` per channel.
   */
  actionRateBurst: 1_250,
  /** Cost units per second a user may keep up once the burst is spent. */
  actionRatePerSecond: 20,
  /**
   * Statuses the publish API takes for one author at once, apart from the author's own post budget: a
   * backfill of 100 (an import of what a user posted elsewhere) goes through without a wait.
   */
  publishRateBurst: 100,
  /** Statuses per second the publish API keeps up for one author once the burst is spent: twice a person's own rate. */
  publishRatePerSecond: 2,
  /** Connections one user may have open at once; the next handshake is refused with 429. */
  maxConnectionsPerUser: 10,
  /**
   * Cost units (one write each, shared/protocol/costs.ts `connectCost`: 3 and one per person followed) a
   * user's handshakes may spend at once, whether their connections are still open or not: room for the
   * whole connection cap at once at the follow limit (10 × 1,003), and for 436 handshakes at 20 follows.
   */
  connectRateBurst: 10_030,
  /**
   * Cost units per second a user's handshakes may keep up once the burst is spent; beyond it, 429. One
   * handshake every 20 s at 1,000 follows, every 4 s at 200, two a second at 20: a reconnect loop writes
   * at most 50 items a second for its user, however many follows it makes the handshake write.
   */
  connectRatePerSecond: 50,
  /** The oldest a token may be (now minus its `iat`), seconds; a connection ends then at the latest. */
  maxTokenAgeSeconds: 24 * 60 * 60,
} as const;

/** Posts in flight at once per fan-out invocation (a stack prop, not a limit users meet). */
export const DEFAULT_FANOUT_CONCURRENCY = 32;

/**
 * The fan-out tree's shape and pace (see shared/fanout/planner.ts). The stack sets the
 * variables from CDK context (cdk/context.ts); these are the values when nothing is set.
 */
export const FanOutDefaults = {
  /** Channels up to about this many subscribers are delivered by the stream consumer, without the queue. */
  directMax: 2_000,
  /** SQS FIFO message groups per channel: at most this many workers deliver one channel at once. */
  groups: 32,
  /**
   * Subscribers per queued segment, about. Small enough that a batch of 10 segments is a
   * small part of a worker's share of a channel, so the workers end together (bench:scale).
   */
  segmentSize: 100,
  /** Posts one stream consumer invocation makes itself, at most (about 16 s at 32 in flight and 25 ms each); past it, channels are queued. */
  directBudget: 20_000,
  /**
   * Segments per status at most (they grow beyond 200,000 subscribers): 200 SendMessageBatch
   * calls, about 0.2 s of the stream consumer. A batch of 10 segments of a million-subscriber
   * channel is then 5 s of a worker's share, and the workers end within a few seconds of each other.
   */
  maxSegments: 2_000,
  /**
   * A channel stays on the queue for at least half this long after its last queued status (the mark
   * is renewed at half-life): longer than a segment can wait, 5 receives of the delivery queue's 6-minute
   * visibility timeout (30 minutes), with room for a backlog (the queue-age alarm rings long before).
   */
  queuedForMs: 90 * 60 * 1000,
  /**
   * The stage's delivery budget: 60% of API Gateway's default account throttle (cdk/limits.ts
   * THROTTLE_SHARES); a quarter goes to the messages clients send, heartbeats included.
   */
  deliveryRps: 6_000,
  /** Delivery workers at once; each paces itself at deliveryRps / deliveryWorkers. */
  deliveryWorkers: 10,
  /** Posts in flight per worker: at 25 ms a post, room for 4,000 a second. */
  deliveryConcurrency: 100,
  /**
   * Segments a delivery worker receives at once: the most a FIFO queue's event source takes. The
   * planner gives each group a number of segments that fits it (planner.ts segmentsPerGroup).
   */
  receiveBatch: 10,
} as const;

export function requiredEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`environment variable ${name} is not set`);
  return value;
}

/** A variable that may be absent; set but empty counts as absent. */
export function optionalEnv(name: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value === '' ? undefined : value;
}

export function optionalIntEnv(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new Error(`environment variable ${name} must be a positive whole number`);
  return parsed;
}

export function optionalPositiveEnv(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0) throw new Error(`environment variable ${name} must be a positive number`);
  return parsed;
}

export function oneOfEnv<T extends string>(name: string, allowed: readonly T[], fallback?: T): T {
  const value = process.env[name];
  if ((value === undefined || value === '') && fallback !== undefined) return fallback;
  const match = allowed.find((option) => option === value);
  if (match === undefined) throw new Error(`environment variable ${name} must be one of ${allowed.join(', ')}`);
  return match;
}

const listEnv = (name: string): string[] =>
  (process.env[name] ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);

export const config = {
  statusesTable: () => requiredEnv(EnvVar.statusesTable),
  connectionsTable: () => requiredEnv(EnvVar.connectionsTable),
  followsTable: () => requiredEnv(EnvVar.followsTable),
  connectionsEndpoint: () => requiredEnv(EnvVar.connectionsEndpoint),
  jwtSecretArn: () => requiredEnv(EnvVar.jwtSecretArn),
  /** Posts in flight at once per fan-out invocation. */
  fanOutConcurrency: () => optionalIntEnv(EnvVar.fanOutConcurrency, DEFAULT_FANOUT_CONCURRENCY),
  fanOutDirectMax: () => optionalIntEnv(EnvVar.fanOutDirectMax, FanOutDefaults.directMax),
  deliveryQueueUrl: () => requiredEnv(EnvVar.deliveryQueueUrl),
  deliveryRps: () => optionalPositiveEnv(EnvVar.deliveryRps, FanOutDefaults.deliveryRps),
  deliveryWorkers: () => optionalIntEnv(EnvVar.deliveryWorkers, FanOutDefaults.deliveryWorkers),
  deliveryConcurrency: () => optionalIntEnv(EnvVar.deliveryConcurrency, FanOutDefaults.deliveryConcurrency),
  maxSubscriptions: () => optionalIntEnv(EnvVar.maxSubscriptions, DefaultLimits.maxSubscriptions),
  postRate: () => ({
    burst: optionalIntEnv(EnvVar.postRateBurst, DefaultLimits.postRateBurst),
    perSecond: optionalPositiveEnv(EnvVar.postRatePerSecond, DefaultLimits.postRatePerSecond),
  }),
  publishRate: () => ({
    burst: optionalIntEnv(EnvVar.publishRateBurst, DefaultLimits.publishRateBurst),
    perSecond: optionalPositiveEnv(EnvVar.publishRatePerSecond, DefaultLimits.publishRatePerSecond),
  }),
  actionRate: () => ({
    burst: optionalIntEnv(EnvVar.actionRateBurst, DefaultLimits.actionRateBurst),
    perSecond: optionalPositiveEnv(EnvVar.actionRatePerSecond, DefaultLimits.actionRatePerSecond),
  }),
  maxConnectionsPerUser: () => optionalIntEnv(EnvVar.maxConnectionsPerUser, DefaultLimits.maxConnectionsPerUser),
  connectRate: () => ({
    burst: optionalIntEnv(EnvVar.connectRateBurst, DefaultLimits.connectRateBurst),
    perSecond: optionalPositiveEnv(EnvVar.connectRatePerSecond, DefaultLimits.connectRatePerSecond),
  }),
  maxTokenAgeSeconds: () => optionalIntEnv(EnvVar.maxTokenAgeSeconds, DefaultLimits.maxTokenAgeSeconds),
  authMode: () => oneOfEnv(EnvVar.authMode, ['hs256', 'jwks'] as const),
  jwksUrl: () => requiredEnv(EnvVar.jwksUrl),
  jwtIssuer: () => requiredEnv(EnvVar.jwtIssuer),
  /** Required in jwks mode, optional in hs256 mode (empty: not checked). */
  jwtAudience: () => listEnv(EnvVar.jwtAudience),
  jwtAudienceClaim: () => oneOfEnv(EnvVar.jwtAudienceClaim, ['aud', 'client_id'] as const, 'aud'),
  jwtTokenUse: () => optionalEnv(EnvVar.jwtTokenUse),
  /** The stage name, a dimension of every custom metric. */
  stage: () => requiredEnv(EnvVar.stage),
  /** The function's region: what the fan-out's own SigV4 signing scopes its requests to. */
  region: () => requiredEnv(EnvVar.region),
};
