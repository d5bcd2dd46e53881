import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';

const root = path.resolve(__dirname, '..', '..');

/** Every module the CDK app reaches: project files followed through relative imports, packages by name. */
function reach(entry: string): { files: Set<string>; packages: Map<string, string> } {
  const files = new Set<string>();
  const packages = new Map<string, string>();
  const pending = [entry];
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    if (files.has(file)) continue;
    files.add(file);
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    for (const { fileName } of importedFiles) {
      if (!fileName.startsWith('.')) {
        packages.set(fileName, path.relative(root, file));
        continue;
      }
      const base = path.resolve(path.dirname(file), fileName);
      const resolved = [`${base}.ts`, path.join(base, 'index.ts')].find((candidate) => existsSync(candidate));
      if (!resolved) throw new Error(`cannot resolve ${fileName} from ${file}`);
      pending.push(resolved);
    }
  }
  return { files, packages };
}

describe('the CDK app', () => {
  const { files, packages } = reach(path.join(root, 'cdk', 'app.ts'));

  it('reaches the table layout through shared/schema.ts', () => {
    expect(files).toContain(path.join(root, 'shared', 'schema.ts'));
  });

  it('imports no AWS SDK, Smithy or Powertools module: synth loads no runtime client', () => {
    const runtime = [...packages].filter(([name]) => /^@aws-sdk\/|^@smithy\/|^@aws-lambda-powertools\//.test(name));

    expect(runtime).toEqual([]);
  });

  it('reads no store, domain or handler code', () => {
    const code = [...files].map((file) => path.relative(root, file)).filter((file) => /^(shared\/(store|domain|fanout)|lambdas)\//.test(file));

    expect(code).toEqual([]);
  });
});
