import { createHmac, randomInt } from 'node:crypto';
import { json, type HttpRoute } from './http';

/**
 * `UPDRAFT_FAULTS`: the local stack's one fault switch (README.md, "Injecting
 * faults"). It makes the ways a live status can be lost happen on purpose, so
 * that tests and benchmarks can show what survives them: failed, throttled,
 * slow and lost Management API calls, crashed invocations of the functions an
 * event source mapping feeds, duplicated and reordered stream records.
 *
 * Off (the variable unset or empty), no Faults object exists and every hook is
 * one check of an undefined value.
 */

/** The faults given as a probability, from 0 to 1. */
export const PROBABILITY_KEYS = [
  'postToConnection:500',
  'postToConnection:429',
  'postToConnection:lost',
  'fanout:crash',
  'stream:duplicate',
  'stream:reorder',
] as const;
export type ProbabilityKey = (typeof PROBABILITY_KEYS)[number];
export const LATENCY_KEY = 'postToConnection:latency';
export type FaultKey = ProbabilityKey | typeof LATENCY_KEY;

export type FaultSpec = Partial<Record<ProbabilityKey, number>> & {
  /** Each POST waits a uniform draw from this range, in ms, before it is answered. */
  readonly [LATENCY_KEY]?: { readonly minMs: number; readonly maxMs: number };
};

export class FaultSpecError extends Error {
  override readonly name = 'FaultSpecError';
}

const KNOWN: readonly string[] = [...PROBABILITY_KEYS, LATENCY_KEY];
const PROBABILITY = /^(\d+(\.\d*)?|\.\d+)$/;
const LATENCY = /^(\d+)(?:-(\d+))?ms$/;

/**
 * Parses `key=value,key=value`. Throws FaultSpecError naming the part it cannot use: an unknown
 * key, a key given twice, a probability that is not a number from 0 to 1, a latency that is not
 * `A-Bms` (or `Nms`) with A ≤ B. An empty or blank string is no faults: `{}`.
 */
export function parseFaults(raw: string): FaultSpec {
  const probabilities: Partial<Record<ProbabilityKey, number>> = {};
  let latency: FaultSpec[typeof LATENCY_KEY];
  for (const part of raw.split(',')) {
    const entry = part.trim();
    if (entry === '') continue;
    const equals = entry.indexOf('=');
    const key = (equals < 0 ? entry : entry.slice(0, equals)).trim();
    const value = equals < 0 ? '' : entry.slice(equals + 1).trim();
    if (key in probabilities || (key === LATENCY_KEY && latency)) throw new FaultSpecError(`UPDRAFT_FAULTS: ${key} is given twice`);
    if (key === LATENCY_KEY) {
      const match = LATENCY.exec(value);
      const minMs = Number(match?.[1]);
      const maxMs = match?.[2] === undefined ? minMs : Number(match[2]);
      if (!match || maxMs < minMs) throw new FaultSpecError(`UPDRAFT_FAULTS: ${JSON.stringify(entry)}: the latency must be A-Bms with A ≤ B (e.g. 5-300ms), or Nms`);
      latency = { minMs, maxMs };
    } else if (isProbabilityKey(key)) {
      const p = Number(value);
      if (!PROBABILITY.test(value) || p > 1) throw new FaultSpecError(`UPDRAFT_FAULTS: ${JSON.stringify(entry)}: the value must be a probability from 0 to 1 (e.g. 0.05)`);
      probabilities[key] = p;
    } else {
      throw new FaultSpecError(`UPDRAFT_FAULTS: unknown fault ${JSON.stringify(key)} in ${JSON.stringify(entry)}; known: ${KNOWN.join(', ')}`);
    }
  }
  return latency ? { ...probabilities, [LATENCY_KEY]: latency } : probabilities;
}

const isProbabilityKey = (key: string): key is ProbabilityKey => (PROBABILITY_KEYS as readonly string[]).includes(key);

/** `UPDRAFT_FAULTS_SEED`: a whole number from 0 to 2³²−1, or undefined when unset or empty. */
export function parseSeed(raw: string | undefined): number | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const seed = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || seed > 0xffffffff) throw new FaultSpecError(`UPDRAFT_FAULTS_SEED must be a whole number from 0 to 4294967295, not ${JSON.stringify(raw)}`);
  return seed;
}

/** How the Management API refuses a POST, as API Gateway answers these. */
export interface Refusal {
  readonly status: 429 | 500;
  readonly errorType: string;
  readonly message: string;
}

const THROTTLED: Refusal = { status: 429, errorType: 'LimitExceededException', message: 'Too Many Requests' };
const FAILED: Refusal = { status: 500, errorType: 'InternalServerErrorException', message: 'Internal server error' };

export type CrashPoint = 'before' | 'after';

/**
 * The faults of one run: the spec, a seeded generator (mulberry32: a seed gives the same
 * sequence of draws; which request meets which draw still depends on timing) and a count
 * of each fault injected.
 */
export class Faults {
  readonly injected: Record<string, number> = {};
  private readonly draw: () => number;
  /** The key of the lost-delivery draw: derived from the seed, so that a seed repeats it too. */
  private readonly lostKey: string;

  constructor(
    readonly spec: FaultSpec,
    /** Random when not given; either way it is reported, so that a run can be repeated. */
    readonly seed: number = randomInt(0, 0xffffffff),
  ) {
    this.draw = mulberry32(seed);
    this.lostKey = `updraft-faults-${seed}`;
    for (const key of KNOWN) if (key in spec) this.injected[key] = 0;
  }

  /** `postToConnection:500=0.1, postToConnection:latency=5-300ms` */
  describe(): string {
    const latency = this.spec[LATENCY_KEY];
    const parts = PROBABILITY_KEYS.filter((key) => this.spec[key] !== undefined).map((key) => `${key}=${this.spec[key]}`);
    return (latency ? [...parts, `${LATENCY_KEY}=${latency.minMs}-${latency.maxMs}ms`] : parts).join(', ');
  }

  /** What `GET /dev/faults` answers. */
  report(): { faults: FaultSpec; seed: number; injected: Record<string, number> } {
    return { faults: this.spec, seed: this.seed, injected: { ...this.injected } };
  }

  /** A uniform draw from [0, 1). */
  random(): number {
    return this.draw();
  }

  /**
   * One Management API POST: waits the injected latency, then answers whether it is refused.
   * A 429 or 500 is drawn per request. A lost delivery is decided per (connection, body) pair,
   * by a keyed hash of the pair rather than a draw: every attempt at the same frame to the same
   * connection gets the same answer, with no memory to bound and none to forget.
   */
  async post(connectionId: string, body: Buffer): Promise<Refusal | undefined> {
    const latency = this.spec[LATENCY_KEY];
    if (latency) {
      this.count(LATENCY_KEY);
      await new Promise((resolve) => setTimeout(resolve, latency.minMs + this.random() * (latency.maxMs - latency.minMs)));
    }
    if (this.chance('postToConnection:429')) return THROTTLED;
    if (this.chance('postToConnection:500')) return FAILED;
    if (this.lost(connectionId, body)) {
      this.count('postToConnection:lost');
      return FAILED;
    }
    return undefined;
  }

  /** Whether every attempt at `body` to `connectionId` fails. */
  lost(connectionId: string, body: Buffer): boolean {
    const p = this.spec['postToConnection:lost'];
    if (!p) return false;
    const digest = createHmac('sha256', this.lostKey).update(connectionId).update('\0').update(body).digest();
    return digest.readUIntBE(0, 6) / 2 ** 48 < p;
  }

  /** Whether an invocation crashes, and when: before its handler runs, or after (its work done, its answer lost). */
  crash(): CrashPoint | undefined {
    if (!this.chance('fanout:crash')) return undefined;
    return this.random() < 0.5 ? 'before' : 'after';
  }

  /** The records, each followed by a copy of itself with probability `stream:duplicate`. */
  duplicate<T>(records: readonly T[]): T[] {
    const handed: T[] = [];
    for (const record of records) {
      handed.push(record);
      if (this.chance('stream:duplicate')) handed.push(record);
    }
    return handed;
  }

  /**
   * With probability `stream:reorder`, a batch of two or more records with two records swapped:
   * two that are consecutive in one key's records (the same channel) when there are any, since
   * that is the order a subscriber can see; two adjacent records otherwise.
   */
  reorder<T>(batch: readonly T[], keyOf: (record: T) => string | undefined): readonly T[] {
    if (batch.length < 2 || !this.chance('stream:reorder')) return batch;
    const pairs: [number, number][] = [];
    const lastOfKey = new Map<string, number>();
    batch.forEach((record, index) => {
      const key = keyOf(record);
      if (key === undefined) return;
      const previous = lastOfKey.get(key);
      if (previous !== undefined) pairs.push([previous, index]);
      lastOfKey.set(key, index);
    });
    const adjacent = (): [number, number] => {
      const i = Math.floor(this.random() * (batch.length - 1));
      return [i, i + 1];
    };
    const pick = pairs.length > 0 ? pairs[Math.floor(this.random() * pairs.length)] : undefined;
    const [i, j] = pick ?? adjacent();
    const swapped = [...batch];
    swapped.splice(i, 1, ...batch.slice(j, j + 1));
    swapped.splice(j, 1, ...batch.slice(i, i + 1));
    return swapped;
  }

  private chance(key: ProbabilityKey): boolean {
    const p = this.spec[key];
    if (!p || this.random() >= p) return false;
    this.count(key);
    return true;
  }

  private count(key: FaultKey): void {
    this.injected[key] = (this.injected[key] ?? 0) + 1;
  }
}

/**
 * `GET /dev/faults`: the spec, the seed and what has been injected so far; `{"faults": {}, "injected": {}}`
 * with the switch off. A service route: like the Management API, it answers no browser.
 */
export function faultsRoute(faults: Faults | undefined): HttpRoute {
  return (req, res, url) => {
    if (req.method !== 'GET' || url.pathname !== '/dev/faults') return false;
    json(res, 200, faults ? faults.report() : { faults: {}, injected: {} });
    return true;
  };
}

/** mulberry32: uniform draws from [0, 1), the same ones for the same seed (the fault injector's, a benchmark's, a test's). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
