import { messageHandler } from '../shared/edge';

export const handler = messageHandler(
  () => undefined,
  () => Promise.resolve({ type: 'pong' }),
);
