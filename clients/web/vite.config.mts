import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/**
 * The browser app. `npm start` builds it into dist/ when its sources change and
 * serves it at `/`; the stack deploys the same dist/ to S3 when `webApp` is on.
 * JSX is compiled by Vite's own transformer (automatic runtime, React).
 */
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true },
});
