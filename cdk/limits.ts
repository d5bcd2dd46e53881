import type { Node } from 'constructs';
import { DefaultLimits } from '../shared/config';

/**
 * The limits a deployment chooses. Each comes from the stack's props, else from
 * CDK context (`cdk deploy -c postRateBurst=20`, or `context` in cdk.json),
 * else the default; README.md ("Limits") says what each protects.
 */
export interface ServiceLimits {
  /** Channels one connection may hold through `subscribe`. @default 500 */
  readonly maxSubscriptions: number;
  /** Posts a user may make at once, across all their connections. @default 10 */
  readonly postRateBurst: number;
  /** Posts per second a user may keep up after the burst. @default 1 */
  readonly postRatePerSecond: number;
  /** Steady-state messages per second the stage accepts (API Gateway throttling). @default 500 */
  readonly throttleRate: number;
  /** Messages the stage accepts in a burst above the rate. @default 1000 */
  readonly throttleBurst: number;
}

export const DEFAULT_SERVICE_LIMITS: ServiceLimits = {
  ...DefaultLimits,
  throttleRate: 500,
  throttleBurst: 1000,
};

const LIMIT_NAMES: readonly (keyof ServiceLimits)[] = ['maxSubscriptions', 'postRateBurst', 'postRatePerSecond', 'throttleRate', 'throttleBurst'];

/** Whole numbers of at least 1, except the post rate, which may be a fraction (0.2: one post every 5 s). */
const FRACTIONAL: ReadonlySet<keyof ServiceLimits> = new Set(['postRatePerSecond']);

export function resolveLimits(node: Node, props: Partial<ServiceLimits>): ServiceLimits {
  const resolved: { -readonly [K in keyof ServiceLimits]: number } = { ...DEFAULT_SERVICE_LIMITS };
  for (const name of LIMIT_NAMES) {
    const raw: unknown = props[name] ?? node.tryGetContext(name);
    if (raw === undefined) continue;
    // Context given on the command line arrives as a string.
    const value = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
    const valid = typeof value === 'number' && Number.isFinite(value) && value > 0 && (FRACTIONAL.has(name) || (Number.isInteger(value) && value >= 1));
    if (!valid) throw new Error(`limit ${name} must be a ${FRACTIONAL.has(name) ? 'positive number' : 'whole number of at least 1'}, not ${JSON.stringify(raw)}`);
    resolved[name] = value;
  }
  return resolved;
}
