export * from './backoff';
export * from './client';
export * from './codes';
export * from './timeline';
