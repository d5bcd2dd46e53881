/**
 * Polls `check` until it holds; fails naming `what` after `timeoutMs`. For state that arrives with no event to wait on.
 * `check` may be async (a read of a table, a request): each poll waits for the previous one to answer.
 */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
