import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { LocalStackError } from './errors';

/** What the synthesized template is made from; a change to any of these calls for a new synth. */
const SOURCES = ['cdk', 'lambdas', 'shared', 'cdk.json', 'package-lock.json'];

function newestMtime(file: string): number {
  if (!existsSync(file)) return 0;
  const stat = statSync(file);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...readdirSync(file).map((name) => newestMtime(path.join(file, name))));
}

export function isStale(root: string, assemblyDir: string): boolean {
  const manifest = path.join(assemblyDir, 'manifest.json');
  if (!existsSync(manifest)) return true;
  const built = statSync(manifest).mtimeMs;
  return SOURCES.some((source) => newestMtime(path.join(root, source)) > built);
}

/** Runs `cdk synth` into `assemblyDir` when the sources changed since the last one. Returns whether it ran. */
export function synthIfStale(root: string, assemblyDir: string, log: (line: string) => void): boolean {
  if (!isStale(root, assemblyDir)) return false;
  log(`synthesizing the stack into ${path.relative(root, assemblyDir) || '.'} (the source changed)…`);
  const cdk = path.join(root, 'node_modules', '.bin', 'cdk');
  const result = spawnSync(cdk, ['synth', '--quiet', '--output', assemblyDir], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, CDK_DISABLE_VERSION_CHECK: 'true', AWS_EC2_METADATA_DISABLED: 'true' },
  });
  if (result.status !== 0) {
    throw new LocalStackError(`cdk synth failed:\n${result.stderr || result.stdout || result.error?.message}`);
  }
  return true;
}
