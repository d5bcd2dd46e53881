import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { LocalStackError } from './errors';

/** What the synthesized template is made from; a change to any of these calls for a new synth. */
const SOURCES = ['cdk', 'lambdas', 'shared', 'cdk.json', 'package-lock.json'];
const STAMP = '.updraft-source-hash';

/** A hash of the sources' paths and contents: unlike times, it does not lie after a clone or a checkout. */
export function sourceHash(root: string, sources: readonly string[] = SOURCES, skip: ReadonlySet<string> = new Set()): string {
  const hash = createHash('sha256');
  const visit = (file: string) => {
    if (!existsSync(file) || skip.has(path.relative(root, file))) return;
    if (statSync(file).isDirectory()) {
      for (const name of readdirSync(file).sort()) visit(path.join(file, name));
      return;
    }
    hash.update(path.relative(root, file)).update('\0').update(readFileSync(file)).update('\0');
  };
  for (const source of sources) visit(path.join(root, source));
  return hash.digest('hex');
}

export function isStale(root: string, assemblyDir: string): boolean {
  const stamp = path.join(assemblyDir, STAMP);
  return !existsSync(path.join(assemblyDir, 'manifest.json')) || !existsSync(stamp) || readFileSync(stamp, 'utf8') !== sourceHash(root);
}

/** Runs `cdk synth` into `assemblyDir` when the sources changed since the last one. Returns whether it ran. */
export function synthIfStale(root: string, assemblyDir: string, log: (line: string) => void): boolean {
  if (!isStale(root, assemblyDir)) return false;
  log(`synthesizing the stack into ${path.relative(root, assemblyDir) || '.'} (the source changed)…`);
  const hash = sourceHash(root);
  const cdk = path.join(root, 'node_modules', '.bin', 'cdk');
  const result = spawnSync(cdk, ['synth', '--quiet', '--output', assemblyDir], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, CDK_DISABLE_VERSION_CHECK: 'true', AWS_EC2_METADATA_DISABLED: 'true' },
  });
  if (result.status !== 0) {
    throw new LocalStackError(`cdk synth failed:\n${result.stderr || result.stdout || result.error?.message}`);
  }
  writeFileSync(path.join(assemblyDir, STAMP), hash);
  return true;
}
