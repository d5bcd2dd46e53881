// Bundles the CLI into dist/updraft.mjs with esbuild, and records what it was built from
// (dist/updraft.inputs.json: the input files, a package by its package.json, and a hash of their contents), so that
// bin.mjs can tell when the bundle is stale. `node clients/cli/build.mjs` builds it by hand.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '..', '..');
export const bundlePath = path.join(here, 'dist', 'updraft.mjs');
export const inputsPath = path.join(here, 'dist', 'updraft.inputs.json');

/** A hash of the files, in order, and of this build script: a change to either makes a new bundle. */
export function hashOf(files) {
  const hash = createHash('sha256');
  for (const file of [...files, path.relative(root, fileURLToPath(import.meta.url))]) {
    hash.update(file).update('\0').update(readFileSync(path.join(root, file))).update('\0');
  }
  return hash.digest('hex');
}

export async function build() {
  const { build: esbuild } = await import('esbuild');
  const result = await esbuild({
    absWorkingDir: root,
    entryPoints: [path.join(here, 'cli.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: bundlePath,
    write: false,
    metafile: true,
    sourcemap: 'linked',
    // Less to parse at every start; the linked source map still names the TypeScript.
    minify: true,
    legalComments: 'none',
    logLevel: 'error',
    // ws loads these native speed-ups when installed, and does without them.
    external: ['bufferutil', 'utf-8-validate'],
    // ws and other CommonJS packages require() Node's modules, which an ES module bundle has no require for.
    banner: { js: "import { createRequire as __updraftRequire } from 'node:module'; const require = __updraftRequire(import.meta.url);" },
  });
  // A package stands for its files by its package.json (its version): fewer files to hash at every start.
  const inputs = [
    ...new Set(
      Object.keys(result.metafile.inputs).map((file) => {
        const installed = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(file);
        return installed === null ? file : `${installed[1]}/package.json`;
      }),
    ),
  ].sort();
  mkdirSync(path.dirname(bundlePath), { recursive: true });
  // Written beside, then renamed: several first runs at once each see a whole bundle or none.
  const put = (file, contents) => {
    const temporary = `${file}.${process.pid}.tmp`;
    writeFileSync(temporary, contents);
    renameSync(temporary, file);
  };
  for (const file of result.outputFiles) put(file.path, file.contents);
  put(inputsPath, JSON.stringify({ hash: hashOf(inputs), inputs }));
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await build();
