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
      routes: [(req, res, url) => (url.pathname === '/hello' ? (json(res, 200, { hello: url.searchParams.get('who') }), true) : false)],
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

  /** Sends raw bytes and returns the status line of the answer. */
  function raw(request: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write(request));
      let answer = '';
      socket.on('data', (chunk) => (answer += chunk.toString()));
      socket.on('end', () => resolve(answer.split('\r\n')[0] ?? ''));
      socket.on('error', reject);
    });
  }

  it('routes by path and query, whatever the Host header says, a malformed one included', async () => {
    expect(await raw(`GET /hello?who=ann HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n`)).toBe('HTTP/1.1 200 OK');
    expect(await raw(`GET /nowhere HTTP/1.1\r\nHost: [::\r\nConnection: close\r\n\r\n`)).toBe('HTTP/1.1 404 Not Found');
    expect(await raw(`GET /dev HTTP/1.1\r\nHost: a b\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`)).toBe('HTTP/1.1 401 Unauthorized');
    expect(upgrades).toEqual(['/dev']);
  });
});
