import { FrameGuard } from '../../../local/frame-guard';

/** A masked client frame, as browsers and ws send them. */
function frame(payloadLength: number, { fin = true, opcode = 0x1 } = {}): Buffer {
  const header: number[] = [(fin ? 0x80 : 0) | opcode];
  if (payloadLength < 126) header.push(0x80 | payloadLength);
  else if (payloadLength < 65536) header.push(0x80 | 126, payloadLength >> 8, payloadLength & 0xff);
  else {
    const length = Buffer.alloc(8);
    length.writeBigUInt64BE(BigInt(payloadLength));
    header.push(0x80 | 127, ...length);
  }
  return Buffer.concat([Buffer.from(header), Buffer.from([1, 2, 3, 4]), Buffer.alloc(payloadLength, 0x61)]);
}

describe('FrameGuard', () => {
  const KB = 1024;

  it('lets frames and messages within the limits through, however the bytes are split', () => {
    const guard = new FrameGuard(32 * KB, 128 * KB);
    const stream = Buffer.concat([frame(10), frame(32 * KB), frame(30 * KB, { fin: false }), frame(30 * KB, { opcode: 0 }), frame(125, { opcode: 0x9 })]);
    for (let i = 0; i < stream.length; i += 7) expect(guard.feed(stream.subarray(i, i + 7))).toBeUndefined();
  });

  it('reports a frame over 32 KB', () => {
    expect(new FrameGuard(32 * KB, 128 * KB).feed(frame(32 * KB + 1))).toBe('frame');
  });

  it('reports a message over 128 KB sent in small frames', () => {
    const guard = new FrameGuard(32 * KB, 128 * KB);
    const parts = [0, 1, 2, 3].map((i) => frame(32 * KB, { fin: false, opcode: i === 0 ? 1 : 0 }));
    for (const part of parts) expect(guard.feed(part)).toBeUndefined();
    expect(guard.feed(frame(1, { opcode: 0 }))).toBe('message');
  });

  it('counts a new message from zero after a final frame', () => {
    const guard = new FrameGuard(32 * KB, 64 * KB);
    for (let i = 0; i < 10; i++) expect(guard.feed(frame(32 * KB))).toBeUndefined();
  });
});
