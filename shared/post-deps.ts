import { documentClient } from './clients';
import { config } from './config';
import type { PostDeps } from './domain/post';
import { newId } from './ids';
import { ClaimStore } from './store/claims';
import { PostLog } from './store/posts';
import { RateLimiter, type BucketRow, type RateLimit } from './store/rates';
import { StatusStore } from './store/statuses';

/**
 * What `post` needs, built once per container: the WebSocket `post` route and the publish API's
 * `POST /statuses` share all of it but the budget they charge (its limit and its kind of row).
 */
export function postDeps(budget: RateLimit, row?: BucketRow): PostDeps {
  const db = documentClient();
  const claims = new ClaimStore(db, config.connectionsTable());
  return {
    statuses: new StatusStore(db, config.statusesTable()),
    log: new PostLog(db, config.statusesTable(), claims),
    claims,
    rate: new RateLimiter(db, config.connectionsTable(), budget, row),
    newId,
    now: () => new Date(),
  };
}
