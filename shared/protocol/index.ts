export * from './codes';
export * from './channels';
export * from './limits';
export type * from './types';
export * from './validate';
export * from './frames';
