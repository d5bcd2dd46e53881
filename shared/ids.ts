import { monotonicFactory } from 'ulid';

/** Status ids: ULIDs, so comparing two as strings orders them by creation time. */
export const newId: () => string = monotonicFactory();
