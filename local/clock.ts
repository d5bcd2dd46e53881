/** A pending `at()`; `cancel` is safe to call at any time, also after it fired. */
export interface Alarm {
  cancel(): void;
}

/**
 * Calls `fire` once Date.now() has reached `deadline`, never before. A Node timer may fire while
 * Date.now() is still short of its delay: libuv measures the delay from the loop's cached time,
 * which lags after a long iteration (5 of 300 timers of 30 ms, armed after 0 to 5 ms of busy work,
 * fired early on a 2-core machine). Code that arms a timer for a deadline and then compares
 * Date.now() with that deadline must not trust the timer alone: one that ends early is armed again
 * for what is left.
 *
 * The timer is unref'd: an alarm never keeps the process alive by itself.
 */
export function at(deadline: number, fire: () => void): Alarm {
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    timer = setTimeout(() => {
      if (Date.now() < deadline) arm();
      else fire();
    }, Math.max(1, deadline - Date.now()));
    timer.unref();
  };
  arm();
  return { cancel: () => clearTimeout(timer) };
}
