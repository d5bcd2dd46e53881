import * as path from 'node:path';
import { synthIfStale } from '../../local/synth';
import { buildWebIfStale } from '../../local/web';
import { TEST_ASSEMBLY, TEST_WEB_DIR } from './local-stack';

/** Synthesizes and builds the browser app once for every suite that starts a stack, as `npm start` would on a changed source. */
export default async function globalSetup(): Promise<void> {
  const root = path.resolve(__dirname, '..', '..');
  const log = (line: string) => console.log(line);
  synthIfStale(root, TEST_ASSEMBLY, log);
  await buildWebIfStale(root, TEST_WEB_DIR, log);
}
