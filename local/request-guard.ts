import type { IncomingMessage } from 'node:http';

/**
 * Who may use the local stack's port: this machine, under the stack's own
 * name. A web page elsewhere can still make a browser send requests here,
 * either to 127.0.0.1 directly (its Origin names the page) or, by DNS
 * rebinding, under a name of its own that resolves to 127.0.0.1 (its Host
 * names that), so both are checked.
 */

/** The Host values of the stack's own URLs: its address by IP and by name. */
export const stackHosts = (port: number): ReadonlySet<string> => new Set([`127.0.0.1:${port}`, `localhost:${port}`]);

/** The origins of the browser app the stack serves. */
export const stackOrigins = (port: number): readonly string[] => [`http://127.0.0.1:${port}`, `http://localhost:${port}`];

/** Whether the request names this stack in its Host header (compared without case, as host names are). */
export function hostAllowed(req: IncomingMessage, hosts: ReadonlySet<string>): boolean {
  const host = req.headers.host;
  return host !== undefined && hosts.has(host.toLowerCase());
}

/**
 * Whether a browser sent the request: browsers send `Origin` with every
 * cross-origin request and with every POST, and `Sec-Fetch-Site` with every
 * request. The SDK's clients, curl and ws send neither. (`Sec-Fetch-Mode` is
 * no sign: Node's own fetch sends it.)
 */
export const fromBrowser = (req: IncomingMessage): boolean => req.headers.origin !== undefined || req.headers['sec-fetch-site'] !== undefined;

/**
 * `UPDRAFT_ALLOWED_ORIGINS`: more origins whose pages may open the WebSocket
 * (a dev server of the browser app on another port), comma-separated, each
 * `scheme://host[:port]` as a browser sends it. Throws on anything else, so a
 * typo is not a setting that silently allows nothing.
 */
export function parseAllowedOrigins(raw: string | undefined): string[] {
  const origins: string[] = [];
  for (const entry of (raw ?? '').split(',')) {
    const value = entry.trim();
    if (value === '') continue;
    let origin: string | undefined;
    try {
      origin = new URL(value).origin;
    } catch {
      origin = undefined;
    }
    // An origin has no path, query or trailing slash; `null` (sandboxed frames, files) is not one to allow.
    if (origin === undefined || origin === 'null' || origin !== value.toLowerCase()) {
      throw new Error(`UPDRAFT_ALLOWED_ORIGINS: ${JSON.stringify(value)} is not an origin such as http://localhost:5173`);
    }
    origins.push(origin);
  }
  return origins;
}

/** Whether a WebSocket upgrade may proceed: no Origin (not a browser), or one of `allowed`. */
export const originAllowed = (req: IncomingMessage, allowed: ReadonlySet<string>): boolean => {
  const origin = req.headers.origin;
  return origin === undefined || allowed.has(origin.toLowerCase());
};
