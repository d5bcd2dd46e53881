import { connect } from 'node:net';
import { HttpServer, json } from '../../../local/http';
import { freePort } from '../../support/local-stack';

/** The local stack's one HTTP port: routing, and requests no browser would send. */
describe('HttpServer', () => {
  let server: HttpServer;
  let port: number;
  const upgrades: string[] = [];

  beforeEach(async () => {
    upgrades.length = 0;
    port = await freePort();
    server = new HttpServer({
      host: '127.0.0.1',
      port,
      browserRoutes: [(_req, res, url) => (url.pathname === '/hello' ? (json(res, 200, { hello: url.searchParams.get('who') }), true) : false)],
      serviceRoutes: [(_req, res, url) => (url.pathname === '/service' ? (json(res, 200, { service: true }), true) : false)],
      upgrades: {
        upgrade: (req, socket) => {
          upgrades.push(req.url ?? '');
          socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n');
          return Promise.resolve();
        },
      },
      log: () => undefined,
    });
    await server.listen();
  });

  afterEach(async () => {
    await server.close();
  });

  /** Sends raw bytes and returns the status line of the answer, and its body. */
  function raw(request: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write(request));
      let answer = '';
      socket.on('data', (chunk) => (answer += chunk.toString()));
      socket.on('end', () => resolve(answer.split('\r\n')[0] ?? ''));
      socket.on('error', reject);
    });
  }

  const get = (path: string, headers: string) => raw(`GET ${path} HTTP/1.1\r\n${headers}Connection: close\r\n\r\n`);
  const upgrade = (headers: string) => raw(`GET /dev HTTP/1.1\r\n${headers}Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n`);

  it('routes by path and query when the Host is the stack\'s own, by address or by name', async () => {
    expect(await get('/hello?who=ann', `Host: 127.0.0.1:${port}\r\n`)).toBe('HTTP/1.1 200 OK');
    expect(await get('/service', `Host: LocalHost:${port}\r\n`)).toBe('HTTP/1.1 200 OK');
    expect(await get('/nowhere', `Host: localhost:${port}\r\n`)).toBe('HTTP/1.1 404 Not Found');
    expect(await upgrade(`Host: 127.0.0.1:${port}\r\n`)).toBe('HTTP/1.1 401 Unauthorized');
    expect(upgrades).toEqual(['/dev']);
  });

  it.each([
    ['a name of its own (DNS rebinding)', `Host: evil.example:PORT\r\n`],
    ['another port', 'Host: 127.0.0.1:1\r\n'],
    ['no port', 'Host: localhost\r\n'],
    ['a malformed one', 'Host: [::\r\n'],
    ['none', ''],
  ])('refuses every request and upgrade whose Host is %s, with 403 and a JSON error', async (_, host) => {
    const headers = host.replace('PORT', String(port));
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write(`GET /hello HTTP/1.0\r\n${headers}\r\n`));
      let text = '';
      socket.on('data', (chunk) => (text += chunk.toString()));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 403 Forbidden');
    const body: unknown = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));
    expect(body).toMatchObject({ error: 'forbidden', message: expect.stringContaining('127.0.0.1:<port>') as unknown });
    expect(await upgrade(headers)).toBe('HTTP/1.1 403 Forbidden');
    expect(upgrades).toEqual([]);
  });

  it.each([
    ['an Origin', 'Origin: http://127.0.0.1:PORT\r\n'],
    ['Sec-Fetch-Site (a same-origin page, or the address bar)', 'Sec-Fetch-Site: same-origin\r\n'],
  ])('keeps a request with %s from the service routes, but not from the browser routes', async (_, browser) => {
    const headers = `Host: 127.0.0.1:${port}\r\n${browser.replace('PORT', String(port))}`;
    expect(await get('/service', headers)).toBe('HTTP/1.1 403 Forbidden');
    expect(await get('/hello', headers)).toBe('HTTP/1.1 200 OK');
  });

  it.each(['//[', 'http://[bad/'])('answers a request target no URL can be made of (%s) with 400, upgrade or not, and carries on', async (target) => {
    const host = `Host: 127.0.0.1:${port}\r\n`;
    expect(await raw(`GET ${target} HTTP/1.1\r\n${host}Connection: close\r\n\r\n`)).toBe('HTTP/1.1 400 Bad Request');
    expect(await raw(`GET ${target} HTTP/1.1\r\n${host}Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n`)).toBe('HTTP/1.1 400 Bad Request');
    expect(upgrades).toEqual([]);
    expect(await get('/hello?who=ann', host)).toBe('HTTP/1.1 200 OK');
  });

  it('answers an upgrade whose handler fails with 500, and carries on', async () => {
    const failingPort = await freePort();
    const failing = new HttpServer({
      host: '127.0.0.1',
      port: failingPort,
      browserRoutes: [],
      serviceRoutes: [],
      upgrades: { upgrade: () => Promise.reject(new Error('the gateway broke')) },
      log: () => undefined,
    });
    await failing.listen();
    try {
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(failingPort, '127.0.0.1', () => socket.write(`GET /dev HTTP/1.1\r\nHost: 127.0.0.1:${failingPort}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`));
        let text = '';
        socket.on('data', (chunk) => (text += chunk.toString()));
        socket.on('end', () => resolve(text.split('\r\n')[0] ?? ''));
        socket.on('error', reject);
      });
      expect(answer).toBe('HTTP/1.1 500 Internal Server Error');
    } finally {
      await failing.close();
    }
  });

  it("lets Node's own fetch (which sends Sec-Fetch-Mode) reach the service routes", async () => {
    const response = await fetch(`http://127.0.0.1:${port}/service`);
    expect(response.status).toBe(200);
  });
});
