/**
 * Watches the raw bytes a client sends and reports the first frame over
 * API Gateway's frame limit (32 KB) or message over its message limit
 * (128 KB): the ws library sees only whole messages, and API Gateway closes
 * with 1009 on either.
 */
export class FrameGuard {
  private header = Buffer.alloc(0);
  private skip = 0;
  private messageBytes = 0;

  constructor(
    private readonly frameLimit: number,
    private readonly messageLimit: number,
  ) {}

  /** Returns what was exceeded, or undefined while every frame so far is within the limits. */
  feed(chunk: Buffer): 'frame' | 'message' | undefined {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.skip > 0) {
        const taken = Math.min(this.skip, chunk.length - offset);
        this.skip -= taken;
        offset += taken;
        continue;
      }
      const needed = this.headerLength();
      const take = Math.min(chunk.length - offset, Math.max(needed, 2) - this.header.length);
      this.header = Buffer.concat([this.header, chunk.subarray(offset, offset + take)]);
      offset += take;
      if (this.header.length < 2 || this.header.length < this.headerLength()) continue;

      const verdict = this.frameComplete();
      if (verdict) return verdict;
    }
    return undefined;
  }

  private headerLength(): number {
    const b1 = this.header[1];
    if (b1 === undefined) return 2;
    const len7 = b1 & 0x7f;
    return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (b1 & 0x80 ? 4 : 0);
  }

  private frameComplete(): 'frame' | 'message' | undefined {
    const [b0 = 0, b1 = 0] = this.header;
    const len7 = b1 & 0x7f;
    const payload = len7 === 126 ? this.header.readUInt16BE(2) : len7 === 127 ? Number(this.header.readBigUInt64BE(2)) : len7;
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    this.header = Buffer.alloc(0);
    this.skip = payload;
    if (opcode >= 0x8) return undefined; // control frames: ping, pong, close
    if (payload > this.frameLimit) return 'frame';
    this.messageBytes += payload;
    if (this.messageBytes > this.messageLimit) return 'message';
    if (fin) this.messageBytes = 0;
    return undefined;
  }
}
