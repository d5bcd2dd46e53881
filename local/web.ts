import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as path from 'node:path';
import sirv from 'sirv';
import { LocalStackError } from './errors';
import { sourceHash } from './synth';

/** The browser app is built from these; a change to any of them calls for a new build. */
const SOURCES = ['clients/web', 'shared/client', 'shared/protocol', 'package-lock.json'];
const STAMP = '.updraft-source-hash';

export const defaultWebDir = (root: string) => path.join(root, 'clients', 'web', 'dist');

const hashOf = (root: string, outDir: string) => sourceHash(root, SOURCES, new Set([path.relative(root, outDir)]));

export function isWebStale(root: string, outDir: string): boolean {
  const stamp = path.join(outDir, STAMP);
  return !existsSync(path.join(outDir, 'index.html')) || !existsSync(stamp) || readFileSync(stamp, 'utf8') !== hashOf(root, outDir);
}

/** Builds the browser app with Vite when its sources changed since the last build. Returns whether it ran. */
export async function buildWebIfStale(root: string, outDir: string, log: (line: string) => void): Promise<boolean> {
  if (!isWebStale(root, outDir)) return false;
  log(`building the browser app into ${path.relative(root, outDir)} (the source changed)…`);
  const hash = hashOf(root, outDir);
  const { build } = await import('vite');
  // Jest sets NODE_ENV=test, and Vite would then bundle React's development build.
  const nodeEnv = process.env['NODE_ENV'];
  process.env['NODE_ENV'] = 'production';
  try {
    await build({
      mode: 'production',
      configFile: path.join(root, 'clients', 'web', 'vite.config.mts'),
      build: { outDir, emptyOutDir: true },
      logLevel: 'warn',
    });
  } catch (error) {
    throw new LocalStackError(`the browser app did not build: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    if (nodeEnv === undefined) delete process.env['NODE_ENV'];
    else process.env['NODE_ENV'] = nodeEnv;
  }
  writeFileSync(path.join(outDir, STAMP), hash);
  return true;
}

export type WebHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

/**
 * Serves the built app at `/`, and `/config.json` telling it where the
 * WebSocket API is and that this stack hands out dev tokens. Without a build,
 * `/` says how to make one.
 */
export function webApp(outDir: string, wsUrl: string): WebHandler {
  const config = JSON.stringify({ wsUrl, devTokens: true });
  const built = existsSync(path.join(outDir, 'index.html'));
  const files = built ? sirv(outDir, { dev: true, etag: true }) : undefined;
  return (req, res) => {
    const pathname = new URL(req.url ?? '/', 'http://local').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    if (pathname === '/config.json') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(config);
      return true;
    }
    if (!files) {
      if (pathname !== '/') return false;
      res
        .writeHead(503, { 'content-type': 'text/plain; charset=utf-8' })
        .end(`The browser app is not built (${outDir} is missing). Run \`npm start\` without --no-synth, or \`npm run build:web\`.\n`);
      return true;
    }
    let handled = true;
    files(req, res, () => {
      handled = false;
    });
    return handled;
  };
}
