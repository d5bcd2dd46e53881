import { messageHandler } from '../shared/edge';

export const handler = messageHandler(
  () => undefined,
  async () => ({ type: 'pong' }),
);
