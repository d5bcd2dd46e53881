import * as path from 'node:path';
import { synthIfStale } from '../../local/synth';
import { TEST_ASSEMBLY } from '../support/local-stack';

/** Synthesizes once for every integration test, as `npm start` would on a changed source. */
export default function globalSetup(): void {
  synthIfStale(path.resolve(__dirname, '..', '..'), TEST_ASSEMBLY, (line) => console.log(line));
}
