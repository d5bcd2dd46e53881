import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { isStale } from '../../local/synth';
import { TEST_ASSEMBLY } from '../support/local-stack';

/**
 * The global setup ran `cdk synth` as a user runs it: offline, with the pinned
 * CLI and the local esbuild. Every function's bundle must exist with its map.
 */
describe('cdk synth', () => {
  it('synthesized offline, bundling every handler, and knows the result is current', () => {
    const template = JSON.parse(readFileSync(path.join(TEST_ASSEMBLY, 'Updraft-dev.template.json'), 'utf8'));
    const functions = Object.values(template.Resources as Record<string, { Type: string; Metadata?: Record<string, string> }>).filter(
      (r) => r.Type === 'AWS::Lambda::Function',
    );

    expect(functions).toHaveLength(14);
    for (const fn of functions) {
      const bundle = path.join(TEST_ASSEMBLY, fn.Metadata?.['aws:asset:path'] ?? 'missing', 'index.js');
      expect(readFileSync(bundle, 'utf8')).toMatch(/handler/);
      expect(existsSync(`${bundle}.map`)).toBe(true);
    }
    expect(isStale(path.resolve(__dirname, '..', '..'), TEST_ASSEMBLY)).toBe(false);
  });
});
