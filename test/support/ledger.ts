import { readFileSync, writeFileSync } from 'node:fs';
import type { LedgerEntry } from '../../local/dynamodb-ledger';
import { constructName } from './template-json';

/** What one action cost the tables, summed over the DynamoDB requests it made. */
export interface ActionCost {
  readonly requests: number;
  readonly readUnits: number;
  readonly writeUnits: number;
  /** Items put, updated or deleted (a refused write counts: it is charged). */
  readonly itemsWritten: number;
  /** The same, by function (its logical id without CDK's hash), for the actions that run more than one. */
  readonly byFunction: Readonly<Record<string, Omit<ActionCost, 'byFunction'>>>;
}

/** Every entry of a DynamoDB ledger file (`UPDRAFT_DYNAMODB_LEDGER`, local/dynamodb-ledger.ts), in order. */
export function readLedger(file: string): LedgerEntry[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as LedgerEntry);
}

/** A ledger read an action at a time: take() returns what was recorded since the last take. */
export class Ledger {
  private read = 0;

  /** Starts the file empty. */
  constructor(readonly file: string) {
    writeFileSync(file, '');
  }

  take(): LedgerEntry[] {
    const entries = readLedger(this.file);
    const taken = entries.slice(this.read);
    this.read = entries.length;
    return taken;
  }
}

export function totalCost(entries: readonly LedgerEntry[]): ActionCost {
  const byFunction: Record<string, Omit<ActionCost, 'byFunction'>> = {};
  for (const entry of entries) {
    const fn = constructName(entry.fn);
    byFunction[fn] = add(byFunction[fn], entry);
  }
  return { ...entries.reduce<Omit<ActionCost, 'byFunction'> | undefined>(add, undefined) ?? none, byFunction };
}

const none = { requests: 0, readUnits: 0, writeUnits: 0, itemsWritten: 0 };

function add(sum: Omit<ActionCost, 'byFunction'> | undefined, entry: LedgerEntry): Omit<ActionCost, 'byFunction'> {
  const total = sum ?? none;
  return {
    requests: total.requests + 1,
    readUnits: total.readUnits + entry.readUnits,
    writeUnits: total.writeUnits + entry.writeUnits,
    itemsWritten: total.itemsWritten + entry.itemsWritten,
  };
}
