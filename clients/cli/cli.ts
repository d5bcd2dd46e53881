/** The entry of the `updraft` bundle (see bin.mjs): runs a command and exits with its code. */
import { exitCodeOf, main } from './main';

export async function run(argv: readonly string[]): Promise<never> {
  try {
    process.exitCode = await main(argv);
  } catch (error) {
    const { code, message } = exitCodeOf(error);
    console.error(message);
    process.exitCode = code;
  }
  // The WebSocket and timers are closed; exit now rather than wait for a stray handle.
  process.exit();
}
