import type { IncomingMessage } from 'node:http';
import { fromBrowser, hostAllowed, originAllowed, parseAllowedOrigins, stackHosts, stackOrigins } from '../../../local/request-guard';

const request = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;

describe('hostAllowed', () => {
  const hosts = stackHosts(3000);

  it.each(['127.0.0.1:3000', 'localhost:3000', 'LOCALHOST:3000'])('accepts %s, the stack by address or by name', (host) => {
    expect(hostAllowed(request({ host }), hosts)).toBe(true);
  });

  it.each(['evil.example', 'evil.example:3000', '127.0.0.1:3001', '127.0.0.1', 'localhost', '[::1]:3000', '0.0.0.0:3000', 'localhost.evil.example:3000', ''])(
    'refuses %j',
    (host) => {
      expect(hostAllowed(request({ host }), hosts)).toBe(false);
    },
  );

  it('refuses a request without a Host', () => {
    expect(hostAllowed(request({}), hosts)).toBe(false);
  });
});

describe('fromBrowser', () => {
  it.each<Record<string, string>>([{ origin: 'http://evil.example' }, { origin: 'null' }, { 'sec-fetch-site': 'cross-site' }, { 'sec-fetch-site': 'none' }])('is true with %j', (headers) => {
    expect(fromBrowser(request(headers))).toBe(true);
  });

  it("is false for the SDK, curl and Node's fetch (which sends Sec-Fetch-Mode)", () => {
    expect(fromBrowser(request({ 'x-amz-target': 'secretsmanager.GetSecretValue' }))).toBe(false);
    expect(fromBrowser(request({ 'sec-fetch-mode': 'cors' }))).toBe(false);
  });
});

describe('originAllowed', () => {
  const allowed = new Set([...stackOrigins(3000), ...parseAllowedOrigins('http://localhost:5173')]);

  it.each(['http://127.0.0.1:3000', 'http://localhost:3000', 'http://LOCALHOST:3000', 'http://localhost:5173'])('lets a page of %s in', (origin) => {
    expect(originAllowed(request({ origin }), allowed)).toBe(true);
  });

  it('lets a client without an Origin in', () => {
    expect(originAllowed(request({}), allowed)).toBe(true);
  });

  it.each(['http://evil.example', 'http://127.0.0.1:3001', 'https://localhost:3000', 'null', 'http://localhost:3000.evil.example'])('keeps a page of %s out', (origin) => {
    expect(originAllowed(request({ origin }), allowed)).toBe(false);
  });
});

describe('parseAllowedOrigins', () => {
  it('reads a comma-separated list of origins, ignoring blanks and spaces', () => {
    expect(parseAllowedOrigins(' http://localhost:5173, https://Dev.Example.com ,,')).toEqual(['http://localhost:5173', 'https://dev.example.com']);
    expect(parseAllowedOrigins(undefined)).toEqual([]);
  });

  it.each(['localhost:5173', 'http://localhost:5173/', 'http://localhost:5173/app', 'null', '*', 'http://localhost:80'])('refuses %j, which is not an origin as a browser sends it', (value) => {
    expect(() => parseAllowedOrigins(value)).toThrow(/UPDRAFT_ALLOWED_ORIGINS/);
  });
});
