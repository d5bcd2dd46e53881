import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { ActionCost } from '../../support/ledger';

/**
 * What each action costs the tables, as test/integration/capacity.test.ts measured it on the local
 * stack, request by request: that test fails whenever the code's costs and this file part.
 */
export const ACTION_COSTS_FILE = path.join(__dirname, 'action-costs.json');

export type MeasuredCost = ActionCost & {
  /** Items the action left in the Connections table, less those it removed (connects and disconnects). */
  readonly itemsCreated?: number;
};

export interface ActionCosts {
  /** By action, with the follows or connections it was measured at after a `/`: `connect/20`, `post/101`. */
  readonly actions: Readonly<Record<string, MeasuredCost>>;
}

export function loadActionCosts(file = ACTION_COSTS_FILE): ActionCosts {
  return JSON.parse(readFileSync(file, 'utf8')) as ActionCosts;
}

/** Units of one kind, per action. */
export interface Units {
  readonly readUnits: number;
  readonly writeUnits: number;
  readonly requests: number;
}

/**
 * The cost of `action` at `n` (follows, or connections reached), on the line through the two
 * points it was measured at: each of these actions reads or writes a row per follow or per
 * subscriber, so the cost is linear in it (a batch of 25 rounds the request count, no more).
 */
export function costAt(costs: ActionCosts, action: string, n: number, only?: string): Units {
  const points = Object.entries(costs.actions)
    .filter(([name]) => name.startsWith(`${action}/`))
    .map(([name, cost]) => ({ at: Number(name.slice(action.length + 1)), cost: only ? (cost.byFunction[only] ?? NONE) : cost }))
    .sort((a, b) => a.at - b.at);
  const [lo, hi] = [points[0], points.at(-1)];
  if (!lo || !hi || lo.at === hi.at) throw new Error(`${ACTION_COSTS_FILE} needs ${action} measured at two sizes`);
  const line = (key: keyof Units) => Math.max(0, lo.cost[key] + ((hi.cost[key] - lo.cost[key]) * (n - lo.at)) / (hi.at - lo.at));
  return { readUnits: line('readUnits'), writeUnits: line('writeUnits'), requests: line('requests') };
}

/** The cost of an action measured at one size only. */
export function costOf(costs: ActionCosts, action: string): MeasuredCost {
  const cost = costs.actions[action];
  if (!cost) throw new Error(`${ACTION_COSTS_FILE} has no ${action}`);
  return cost;
}

const NONE: Units = { readUnits: 0, writeUnits: 0, requests: 0 };
