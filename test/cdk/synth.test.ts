import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

/**
 * `npx cdk synth` as a user runs it: offline, with the pinned CLI and the
 * local esbuild. Every function's bundle must exist and carry its handler.
 */
describe('cdk synth', () => {
  const out = mkdtempSync(path.join(tmpdir(), 'updraft-synth-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('synthesizes offline and bundles every handler', () => {
    execFileSync('npx', ['cdk', 'synth', '--quiet', '--output', out], {
      cwd: path.join(__dirname, '..', '..'),
      env: { ...process.env, CDK_DISABLE_VERSION_CHECK: 'true', AWS_EC2_METADATA_DISABLED: 'true' },
      stdio: 'pipe',
      timeout: 120_000,
    });

    const template = JSON.parse(readFileSync(path.join(out, 'Updraft-dev.template.json'), 'utf8'));
    const functions = Object.values(template.Resources as Record<string, { Type: string; Metadata?: Record<string, string> }>).filter(
      (r) => r.Type === 'AWS::Lambda::Function',
    );
    expect(functions).toHaveLength(10);
    for (const fn of functions) {
      const bundle = path.join(out, fn.Metadata?.['aws:asset:path'] ?? 'missing', 'index.js');
      expect(existsSync(bundle)).toBe(true);
      expect(readFileSync(bundle, 'utf8')).toMatch(/handler/);
      expect(existsSync(`${bundle}.map`)).toBe(true);
    }
  }, 180_000);
});
