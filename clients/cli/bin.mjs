#!/usr/bin/env node
// The `updraft` command. It runs the CLI bundled by esbuild (dist/updraft.mjs, git-ignored), which starts
// in a fraction of the time tsx takes to compile the TypeScript. The bundle is built on the first run,
// and again whenever a file it was built from changes (build.mjs records them with a hash), so a fresh
// clone needs no build step and an edited source is never run stale.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { build, bundlePath, hashOf, inputsPath } from './build.mjs';

function fresh() {
  try {
    const { hash, inputs } = JSON.parse(readFileSync(inputsPath, 'utf8'));
    return hashOf(inputs) === hash;
  } catch {
    return false; // no bundle yet, or an input is gone
  }
}

let ready = fresh();
if (!ready) {
  try {
    await build();
    ready = true;
  } catch (error) {
    console.error(`updraft: could not bundle the CLI (${error.message}); running it through tsx, slower`);
  }
}
let cli;
if (ready) cli = await import(pathToFileURL(bundlePath).href);
else {
  const { tsImport } = await import('tsx/esm/api');
  cli = await tsImport('./cli.ts', import.meta.url);
}
await cli.run(process.argv.slice(2));
