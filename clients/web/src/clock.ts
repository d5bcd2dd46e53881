import { useSyncExternalStore } from 'react';

/**
 * Relative times ("now", "2 min") are re-rendered every this many ms: a label
 * is at most this late to change, and one timer serves every time on screen.
 */
export const CLOCK_TICK_MS = 10_000;

let now = Date.now();
let timer: ReturnType<typeof setInterval> | undefined;
const listeners = new Set<() => void>();

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  if (timer === undefined) {
    now = Date.now();
    timer = setInterval(() => {
      now = Date.now();
      for (const each of listeners) each();
    }, CLOCK_TICK_MS);
  }
  return () => {
    listeners.delete(listener);
    // No time on screen, no timer.
    if (listeners.size === 0) {
      clearInterval(timer);
      timer = undefined;
    }
  };
}

/** The time now, to within a tick; components that show a relative time re-render on each tick, and only they do. */
export const useClock = (): number => useSyncExternalStore(subscribe, () => now);
