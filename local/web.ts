import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as path from 'node:path';
import sirv from 'sirv';
import { fleetBackoff } from '../shared/client/backoff';
import { LocalStackError } from './errors';
import { sourceHash } from './synth';
import type { Json } from './template';

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

type JsonObject = Readonly<Record<string, Json>>;
const objectAt = (value: Json | undefined): JsonObject | undefined => (value !== null && typeof value === 'object' && !Array.isArray(value) ? value : undefined);

/**
 * The headers a CloudFront response headers policy adds (its ResponseHeadersPolicyConfig), as
 * CloudFront writes them; `text` resolves a value's intrinsics. A part of the policy this does
 * not emulate is refused rather than left out, so the local app cannot be served with less.
 */
export function responseHeaders(config: Readonly<Record<string, Json>>, text: (value: Json) => string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(config)) {
    if (key === 'Name' || key === 'Comment') continue;
    if (key === 'SecurityHeadersConfig') Object.assign(headers, securityHeaders(objectAt(value) ?? {}, text));
    else if (key === 'CustomHeadersConfig') {
      const items = objectAt(value)?.['Items'];
      for (const item of Array.isArray(items) ? items : []) {
        const header = objectAt(item);
        if (header?.['Header'] === undefined || header['Value'] === undefined) throw new LocalStackError(`a custom header without Header or Value: ${JSON.stringify(item)}`);
        headers[text(header['Header']).toLowerCase()] = text(header['Value']);
      }
    } else throw new LocalStackError(`the local stack does not emulate ${key} of a response headers policy`);
  }
  return headers;
}

function securityHeaders(config: JsonObject, text: (value: Json) => string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [key, raw] of Object.entries(config)) {
    const value = objectAt(raw) ?? {};
    const field = (name: string) => {
      const found = value[name];
      if (found === undefined) throw new LocalStackError(`${key} of a response headers policy has no ${name}`);
      return text(found);
    };
    switch (key) {
      case 'ContentSecurityPolicy':
        headers['content-security-policy'] = field('ContentSecurityPolicy');
        break;
      case 'ContentTypeOptions':
        headers['x-content-type-options'] = 'nosniff';
        break;
      case 'FrameOptions':
        headers['x-frame-options'] = field('FrameOption');
        break;
      case 'ReferrerPolicy':
        headers['referrer-policy'] = field('ReferrerPolicy');
        break;
      case 'StrictTransportSecurity':
        headers['strict-transport-security'] = [
          `max-age=${field('AccessControlMaxAgeSec')}`,
          ...(value['IncludeSubdomains'] === true ? ['includeSubDomains'] : []),
          ...(value['Preload'] === true ? ['preload'] : []),
        ].join('; ');
        break;
      case 'XSSProtection':
        headers['x-xss-protection'] =
          value['Protection'] === true ? ['1', ...(value['ModeBlock'] === true ? ['mode=block'] : []), ...(value['ReportUri'] === undefined ? [] : [`report=${text(value['ReportUri'])}`])].join('; ') : '0';
        break;
      default:
        throw new LocalStackError(`the local stack does not emulate ${key} of a response headers policy`);
    }
  }
  return headers;
}

/**
 * Serves the built app at `/`, and `/config.json` telling it where the
 * WebSocket API is and that this stack hands out dev tokens, every response
 * with `headers` (the template's response headers policy, as CloudFront adds
 * them). Without a build, `/` says how to make one.
 */
export function webApp(outDir: string, wsUrl: string, headers: Readonly<Record<string, string>> = {}): WebHandler {
  // One machine's few clients: the backoff's floor, so the app is back within 2 s of a restarted stack.
  const config = JSON.stringify({ wsUrl, devTokens: true, reconnectMaxMs: fleetBackoff(0).maxMs });
  const built = existsSync(path.join(outDir, 'index.html'));
  const setHeaders = (res: ServerResponse) => {
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  };
  const files = built ? sirv(outDir, { dev: true, etag: true, setHeaders }) : undefined;
  return (req, res) => {
    const pathname = new URL(req.url ?? '/', 'http://local').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    if (pathname === '/config.json') {
      setHeaders(res);
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(config);
      return true;
    }
    if (!files) {
      if (pathname !== '/') return false;
      setHeaders(res);
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
