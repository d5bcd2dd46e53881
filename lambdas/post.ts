import { config } from '../shared/config';
import { post } from '../shared/domain/post';
import { messageHandler } from '../shared/edge';
import { MetricName } from '../shared/metric-names';
import { countOne } from '../shared/metrics';
import { postDeps } from '../shared/post-deps';
import { validatePost } from '../shared/protocol';

const deps = postDeps(config.postRate());

export const handler = messageHandler(validatePost, async ({ caller, request, requestId }) => {
  const { status, duplicate } = await post(deps, caller.userId, request, requestId);
  if (!duplicate) countOne(MetricName.posts);
  return { type: 'posted', status };
});
