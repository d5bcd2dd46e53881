#!/usr/bin/env node
// The `updraft` command: runs the TypeScript CLI through tsx, as `npm start` runs the local stack.
import { tsImport } from 'tsx/esm/api';

const { main, exitCodeOf } = await tsImport('./main.ts', import.meta.url);
try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  const { code, message } = exitCodeOf(error);
  console.error(message);
  process.exitCode = code;
}
// The WebSocket and timers are closed; exit now rather than wait for a stray handle.
process.exit();
