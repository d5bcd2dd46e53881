import { config } from '../shared/config';
import { publish } from '../shared/domain/post';
import { bodyText, httpHandler } from '../shared/http-edge';
import { MetricName } from '../shared/metric-names';
import { countOne } from '../shared/metrics';
import { postDeps } from '../shared/post-deps';
import { RateLimited, validatePublish } from '../shared/protocol';
import { Connections } from '../shared/schema';

// The integration budget, per author (`publish#<author>`): not the author's own post budget (`rate#`).
const deps = postDeps(config.publishRate(), Connections.rows.publish);

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
