import { documentClient } from '../shared/clients';
import { config } from '../shared/config';
import { post } from '../shared/domain/post';
import { messageHandler } from '../shared/edge';
import { newId } from '../shared/ids';
import { MetricName } from '../shared/metric-names';
import { countOne } from '../shared/metrics';
import { validatePost } from '../shared/protocol';
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
  rate: new RateLimiter(db, config.connectionsTable(), config.postRate()),
  newId,
  now: () => new Date(),
};

export const handler = messageHandler(validatePost, async ({ caller, request, requestId }) => {
  const { status, duplicate } = await post(deps, caller.userId, request, requestId);
  if (!duplicate) countOne(MetricName.posts);
  return { type: 'posted', status };
});
