import { createServer, type Socket } from 'node:net';
import WebSocket from 'ws';
import { UpdraftClient, type SocketFactory } from '../../../../shared/client';

/** With Node's `ws`, the real socket rather than a fake: how it reports a close matters here. */
it('closes while a connection attempt is still in its handshake, without an error thrown from the socket', async () => {
  const held: Socket[] = [];
  // Accepts the TCP connection and never answers the upgrade: the handshake stays in flight.
  const server = createServer((socket) => void held.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no address');
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown) => uncaught.push(error);
  process.on('uncaughtException', onUncaught);
  try {
    const client = new UpdraftClient({ url: `ws://127.0.0.1:${address.port}/dev`, token: 't', WebSocket: WebSocket as unknown as SocketFactory });
    const connecting = client.connect().catch((error: unknown) => error);
    while (held.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));

    client.close();

    await expect(connecting).resolves.toMatchObject({ code: 'closed' });
    // ws reports the aborted handshake with process.nextTick; every tick queued so far runs before an immediate.
    await new Promise((resolve) => setImmediate(resolve));
    expect(uncaught).toEqual([]);
  } finally {
    process.off('uncaughtException', onUncaught);
    for (const socket of held) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});
