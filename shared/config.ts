/**
 * Configuration comes from the environment that the stack sets (see
 * cdk/constructs/updraft-function.ts, whose bind* methods set these names).
 * Handlers call these getters at module load, so a missing variable fails the
 * cold start loudly instead of a request later.
 */
export const EnvVar = {
  statusesTable: 'STATUSES_TABLE',
  connectionsTable: 'CONNECTIONS_TABLE',
  followsTable: 'FOLLOWS_TABLE',
  connectionsEndpoint: 'CONNECTIONS_ENDPOINT',
  jwtSecretArn: 'JWT_SECRET_ARN',
  fanOutConcurrency: 'FANOUT_CONCURRENCY',
} as const;

export function requiredEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`environment variable ${name} is not set`);
  return value;
}

export function optionalIntEnv(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new Error(`environment variable ${name} must be a positive whole number`);
  return parsed;
}

export const config = {
  statusesTable: () => requiredEnv(EnvVar.statusesTable),
  connectionsTable: () => requiredEnv(EnvVar.connectionsTable),
  followsTable: () => requiredEnv(EnvVar.followsTable),
  connectionsEndpoint: () => requiredEnv(EnvVar.connectionsEndpoint),
  jwtSecretArn: () => requiredEnv(EnvVar.jwtSecretArn),
  /** Posts in flight at once per fan-out invocation. */
  fanOutConcurrency: () => optionalIntEnv(EnvVar.fanOutConcurrency, 32),
};
