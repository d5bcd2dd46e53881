export * from './codes';
export * from './costs';
export * from './channels';
export * from './limits';
export * from './rules';
export type * from './types';
export * from './validate';
export * from './frames';
