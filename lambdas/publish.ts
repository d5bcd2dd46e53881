import { documentClient } from '../shared/clients';
import { config } from '../shared/config';
import { publish } from '../shared/domain/post';
import { bodyText, httpHandler } from '../shared/http-edge';
import { newId } from '../shared/ids';
import { MetricName } from '../shared/metric-names';
import { countOne } from '../shared/metrics';
import { RateLimited, validatePublish } from '../shared/protocol';
import { Connections } from '../shared/schema';
import { ClaimStore } from '../shared/store/claims';
import { PostLog } from '../shared/store/posts';
import { RateLimiter } from '../shared/store/rates';
import { StatusStore } from '../shared/store/statuses';

const db = documentClient();
const claims = new ClaimStore(db, config.connectionsTable());
const deps = {
  statuses: new StatusStore(db, config.statusesTable()),
  log: new PostLog(db, config.statusesTable(), claims),
  claims,
  // The integration budget, per author (`publish#<author>`): not the author's own post budget (`rate#`).
  rate: new RateLimiter(db, config.connectionsTable(), config.publishRate(), Connections.rows.publish),
  newId,
  now: () => new Date(),
};

/** `POST /statuses`: 201 with the new status, or 200 with the first one for a retry of its `id`. */
export const handler = httpHandler(async (event) => {
  const request = validatePublish(bodyText(event));
  const { status, duplicate } = await publish(deps, request).catch((error: unknown) => {
    if (error instanceof RateLimited) countOne(MetricName.publishRateLimited);
    throw error;
  });
  if (!duplicate) {
    countOne(MetricName.posts);
    countOne(MetricName.published);
  }
  return { statusCode: duplicate ? 200 : 201, body: { status } };
});
