/**
 * The custom metrics the handlers publish (as EMF, through Powertools
 * Metrics) and the dashboard and alarms read. One place for both sides, and
 * free of side effects, so the CDK app can import it.
 */
export const METRICS_NAMESPACE = 'Updraft';
export const METRICS_SERVICE = 'updraft';

export const MetricName = {
  /** Statuses stored by `post` (an idempotent retry is not a new post). */
  posts: 'Posts',
  /** Statuses stored through the publish API (counted in Posts too). */
  published: 'Published',
  /** PostToConnection calls that succeeded, from fan-out. */
  deliveries: 'Deliveries',
  /** Deliveries that still failed after the SDK's retries (not Gone). */
  deliveryFailures: 'DeliveryFailures',
  /** Deliveries answered 410 Gone: the connection had left. */
  gone: 'Gone',
  /** Per status delivered directly, and per queued segment: from its createdAt to the last of its deliveries that succeeded, in ms. */
  postToDeliveryLatency: 'PostToDeliveryLatency',
  /** Segments of large channels queued for the delivery workers. */
  queuedSegments: 'QueuedSegments',
  /** Segments the delivery workers delivered. */
  deliveredSegments: 'DeliveredSegments',
  /** 429s from API Gateway seen by the delivery workers: the fleet is at the account's throttle. */
  throttledDeliveries: 'ThrottledDeliveries',
  /** The authorizer could not check a token at all (secret or JWKS unavailable): users are locked out. */
  authorizerFailures: 'AuthorizerFailures',
  /** Connections closed because their token had expired: at a frame they sent, or by fan-out at a delivery due to them. */
  expiredConnections: 'ExpiredConnections',
  /** Frames refused `rate_limited` by a user's action budget (posts over their own budget are not counted here). */
  rateLimited: 'RateLimited',
  /** Statuses the publish API refused 429: the author's integration budget was spent. */
  publishRateLimited: 'PublishRateLimited',
  /** Handshakes refused because the user already had the most connections allowed. */
  connectionsRefused: 'ConnectionsRefused',
  /** Handshakes refused because the user connected faster than the connect budget allows (a reconnect loop). */
  connectsThrottled: 'ConnectsThrottled',
} as const;

/** The dimensions every custom metric carries, besides its name. */
export const metricDimensions = (stage: string) => ({ service: METRICS_SERVICE, stage });
