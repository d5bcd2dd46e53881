/**
 * Narrowing what a `catch` receives, which TypeScript types as unknown: the
 * SDK throws Error subclasses known by `name`, but a dependency may throw
 * anything. (Powertools' commons has type guards for records and strings, not
 * for errors; these are the few the code needs.)
 */

/** True when `error` is an Error named `name` (SDK v3 exceptions are known by name). */
export const isErrorNamed = (error: unknown, name: string): error is Error => error instanceof Error && error.name === name;

/** An Error to log: a thrown non-Error is wrapped, so the logger always gets a name, message and stack. */
export const toError = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)));
