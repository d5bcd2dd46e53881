/**
 * The publish API (README.md, "Publish from a backend"; docs/publish-api.openapi.json): an HTTP
 * API with IAM authorization, for backends that publish and read without holding a WebSocket.
 * Its routes, the stack outputs that name it, and where the local stack serves it live here, read
 * by the CDK stack, the handlers, the local stack and the CLI. It imports only types and does
 * nothing when loaded.
 */
import type { ErrorCode } from './protocol/codes';

/** The routes, as API Gateway writes route keys: `METHOD /path/{param}`. */
export const PublishRoute = {
  /** A status by a named user: the same validation, idempotent retry, transaction and fan-out as a WebSocket `post`. */
  post: 'POST /statuses',
  /** A status by id. */
  status: 'GET /statuses/{id}',
  /** A page of a `user:` or `thread:` channel, paged as the WebSocket `history`. */
  history: 'GET /channels/{channel}/history',
  /** A page of `inbox:<user>`: a route of its own, so that IAM grants it apart (the stack's publish policy does not). */
  inbox: 'GET /inboxes/{user}/history',
} as const;

export type PublishRouteKey = (typeof PublishRoute)[keyof typeof PublishRoute];

/**
 * The stack outputs an integrator reads: the API's URL, and the two managed policies to attach
 * to a backend's role (`aws iam attach-role-policy`). The local stack finds the policies it
 * models for its dev credentials through the same outputs.
 */
export const PublishOutput = {
  url: 'PublishApiUrl',
  /** `execute-api:Invoke` on POST /statuses, GET /statuses/*, GET /channels/*\/history. */
  publishPolicy: 'PublishPolicyArn',
  /** `execute-api:Invoke` on GET /inboxes/*\/history, and nothing else. */
  readInboxesPolicy: 'ReadInboxesPolicyArn',
} as const;

/** The API's one stage: `$default`, so its URL is the API's endpoint with no stage in the path. */
export const PUBLISH_STAGE = '$default';

/**
 * On AWS the API has a host of its own; the local stack serves it on its one port under this path
 * (`http://127.0.0.1:<port>/publish/statuses`), which nothing else there uses.
 */
export const LOCAL_PUBLISH_PATH = '/publish';

/**
 * The local stack does not check signatures, only that they are there and well formed; it knows a
 * principal by the access key id it signed with. These two stand for backend roles: one with the
 * publish policy attached, one with the read-inboxes policy too. Any other key is refused, as AWS
 * refuses a key it does not know.
 */
export const LocalPublishPrincipals = [
  { accessKeyId: 'local', secretAccessKey: 'local', policies: [PublishOutput.publishPolicy] },
  { accessKeyId: 'local-inbox-reader', secretAccessKey: 'local', policies: [PublishOutput.publishPolicy, PublishOutput.readInboxesPolicy] },
] as const;

/** The HTTP status the publish API answers each error code with. */
export const HttpStatusOf: Readonly<Record<ErrorCode, number>> = {
  bad_request: 400,
  forbidden: 403,
  not_found: 404,
  // Not answered by the publish API's handlers (API Gateway answers an unknown route 404 itself); here for completeness.
  unknown_action: 404,
  rate_limited: 429,
  // A reused idempotency id with another status (IdempotencyConflict).
  conflict: 409,
  internal: 500,
};
