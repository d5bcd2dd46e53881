/**
 * Where the CPU went during a benchmark's measured window, from V8 CPU profiles
 * (`node --cpu-prof`, one file per thread). Profile timestamps are CLOCK_MONOTONIC
 * microseconds, the clock process.hrtime reads, so a window taken in one process
 * applies to every other process's profiles.
 */
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

interface CpuProfile {
  readonly nodes: readonly { readonly id: number; readonly callFrame: { readonly functionName: string; readonly url: string } }[];
  readonly startTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface ThreadProfile {
  readonly file: string;
  /** Milliseconds on CPU (not idle) within the window. */
  readonly busyMs: number;
  /** The busiest places, by self time: [where, ms]. */
  readonly top: readonly (readonly [string, number])[];
}

/** Microseconds on the profiles' clock. */
export const monotonicMicros = (): number => Number(process.hrtime.bigint() / 1000n);

/** Self time by source file (or V8's pseudo-frames: garbage collector, program) of each profile in `dir` within [startUs, endUs]. */
export function profileWindow(dir: string, startUs: number, endUs: number, top = 6): ThreadProfile[] {
  return readdirSync(dir)
    .filter((file) => file.endsWith('.cpuprofile'))
    .map((file) => {
      const profile = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as CpuProfile;
      const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
      const byPlace = new Map<string, number>();
      let busy = 0;
      let at = profile.startTime;
      profile.samples.forEach((id, i) => {
        at += profile.timeDeltas[i] ?? 0;
        const spent = profile.timeDeltas[i + 1] ?? 0;
        const frame = frames.get(id);
        if (at < startUs || at > endUs || !frame || frame.functionName === '(idle)') return;
        busy += spent;
        const place = placeOf(frame.url) ?? frame.functionName;
        byPlace.set(place, (byPlace.get(place) ?? 0) + spent);
      });
      const places = [...byPlace].sort((a, b) => b[1] - a[1]).slice(0, top).map(([place, us]) => [place, us / 1000] as const);
      return { file, busyMs: busy / 1000, top: places };
    })
    .filter((thread) => thread.busyMs > 0)
    .sort((a, b) => b.busyMs - a.busyMs);
}

/** A source file as a short name: a package, a Node module, a project file, or a function's bundle. */
function placeOf(url: string): string | undefined {
  if (url === '') return undefined;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg?.[1]) return pkg[1];
  if (url.startsWith('node:')) return url.replace(/^node:(internal\/)?/, 'node:').split('/').slice(0, 2).join('/');
  const bundle = /(asset\.[0-9a-f]{8})/.exec(url);
  if (bundle?.[1]) return `bundle ${bundle[1]}`;
  return url.replace(/^file:\/\//, '').split('/').slice(-2).join('/');
}
