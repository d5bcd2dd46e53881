import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';

export type Frame = Record<string, unknown> & { type?: string; id?: string };

/**
 * A plain WebSocket client for tests: every frame received is kept, and a
 * test waits for the one it expects. Requests get an id so replies match.
 */
export class TestClient {
  readonly frames: Frame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: { match: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  private counter = 0;
  /** Request ids are unique across clients: a user's repeated id means an idempotent retry. */
  private readonly prefix = randomUUID().slice(0, 8);

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString('utf8')) as Frame;
      this.frames.push(frame);
      this.waiters = this.waiters.filter((w) => (w.match(frame) ? (w.resolve(frame), false) : true));
    });
    this.closed = new Promise((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  /** Opens a connection; rejects with the HTTP status when the handshake is refused. */
  static open(url: string, headers: Record<string, string> = {}): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, { headers });
      socket.once('open', () => resolve(new TestClient(socket)));
      socket.once('unexpected-response', (_req, res) => {
        reject(Object.assign(new Error(`handshake refused with HTTP ${res.statusCode}`), { status: res.statusCode }));
        socket.terminate();
      });
      socket.once('error', reject);
    });
  }

  /**
   * Sends a frame with a fresh id (unless it has one) and waits for the reply
   * carrying that id. Only a frame received after sending counts: a repeated
   * id's earlier answer is not this request's.
   */
  async request(frame: Frame, timeoutMs = 10_000): Promise<Frame> {
    const id = frame.id ?? `${this.prefix}-${++this.counter}`;
    const reply = this.next((f) => f.id === id, timeoutMs, this.frames.length);
    this.socket.send(JSON.stringify({ ...frame, id }));
    return reply;
  }

  sendRaw(data: string | Buffer): void {
    this.socket.send(data);
  }

  /** The first frame (already received from index `from` on, or still to come) that matches. */
  next(match: (f: Frame) => boolean, timeoutMs = 10_000, from = 0): Promise<Frame> {
    const seen = this.frames.find((f, i) => i >= from && match(f));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames).slice(0, 800)}`));
      }, timeoutMs);
      const done = (f: Frame) => {
        clearTimeout(timer);
        resolve(f);
      };
      this.waiters.push({ match, resolve: done });
    });
  }

  /** Statuses received live on a channel. */
  statuses(channel: string): Frame[] {
    return this.frames.filter((f) => f.type === 'status' && f['channel'] === channel);
  }

  close(): Promise<{ code: number; reason: string }> {
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) this.socket.close(1000);
    return this.closed;
  }
}
