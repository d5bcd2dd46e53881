import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { isStale } from '../../local/synth';
import { loadApp } from '../../local/template';
import { TEST_ASSEMBLY } from '../support/local-stack';

/**
 * The global setup ran `cdk synth` as a user runs it: offline, with the pinned
 * CLI and the local esbuild. Every function's bundle must exist with its map.
 */
describe('cdk synth', () => {
  it('synthesized offline, bundling every handler, and knows the result is current', () => {
    const functions = Object.values(loadApp(TEST_ASSEMBLY).resources).filter((r) => r.Type === 'AWS::Lambda::Function');

    expect(functions).toHaveLength(20);
    for (const fn of functions) {
      const asset = fn.Metadata?.['aws:asset:path'];
      const bundle = path.join(TEST_ASSEMBLY, typeof asset === 'string' ? asset : 'missing', 'index.js');
      expect(readFileSync(bundle, 'utf8')).toMatch(/handler/);
      expect(existsSync(`${bundle}.map`)).toBe(true);
    }
    expect(isStale(path.resolve(__dirname, '..', '..'), TEST_ASSEMBLY)).toBe(false);
  });
});
