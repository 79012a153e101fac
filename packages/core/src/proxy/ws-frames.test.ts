import { describe, expect, it } from 'vitest';
import { FrameBoundaries, GOING_AWAY, goingAwayFrame } from './ws-frames.ts';

function frame(opcode: number, length: number, masked: boolean): Buffer {
  const extended = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const head = Buffer.alloc(2 + extended + (masked ? 4 : 0));
  head[0] = 0x80 | opcode;
  head[1] = (masked ? 0x80 : 0) | (extended === 0 ? length : extended === 2 ? 126 : 127);
  if (extended === 2) head.writeUInt16BE(length, 2);
  if (extended === 8) head.writeBigUInt64BE(BigInt(length), 2);
  return Buffer.concat([head, Buffer.alloc(length, 0xab)]);
}

/** Every boundary the tracker reports when `bytes` arrive in pieces of `size`. */
function boundaries(bytes: Buffer, size: number): number[] {
  const frames = new FrameBoundaries();
  const seen: number[] = [];
  for (let at = 0; at < bytes.length; at += size) {
    const chunk = bytes.subarray(at, Math.min(at + size, bytes.length));
    let offset = 0;
    // Walks the chunk frame by frame, as a drain does.
    while (offset < chunk.length) {
      const through = frames.untilBoundary(chunk.subarray(offset));
      if (through === 0) {
        // At a boundary: let the next header in through `feed` on a one-byte view.
        frames.feed(chunk.subarray(offset, offset + 1));
        offset += 1;
      } else offset += through;
      if (frames.atBoundary) seen.push(at + offset);
    }
  }
  return seen;
}

describe('FrameBoundaries', () => {
  const stream = Buffer.concat([
    frame(0x1, 5, true),
    frame(0x2, 300, false),
    frame(0x9, 0, true),
    frame(0x2, 70_000, true),
    frame(0x0, 125, false),
  ]);
  const ends = [11, 11 + 304, 11 + 304 + 6, 11 + 304 + 6 + 70_014, stream.length];

  it('finds every frame end, whatever the chunking (headers split across chunks too)', () => {
    for (const size of [1, 2, 3, 7, 13, 64, 1000, stream.length]) {
      expect(boundaries(stream, size)).toEqual(ends);
    }
  });

  it('follows whole chunks through feed, and knows when the sender started closing', () => {
    const frames = new FrameBoundaries();
    frames.feed(stream.subarray(0, 20));
    expect(frames.atBoundary).toBe(false);
    frames.feed(stream.subarray(20));
    expect(frames.atBoundary).toBe(true);
    expect(frames.closeSeen).toBe(false);
    frames.feed(frame(0x8, 2, true).subarray(0, 7));
    expect(frames.closeSeen).toBe(true);
    expect(frames.atBoundary).toBe(false);
  });

  it('builds close frames with code 1001, masked with a fresh key for the container', () => {
    const reason = 'proxy shutting down';
    const plain = goingAwayFrame(false);
    expect([plain[0], plain[1]]).toEqual([0x88, 2 + reason.length]);
    expect(plain.readUInt16BE(2)).toBe(GOING_AWAY);
    expect(plain.subarray(4).toString()).toBe(reason);
    const masked = goingAwayFrame(true);
    expect([masked[0], masked[1]]).toEqual([0x88, 0x80 | (2 + reason.length)]);
    const payload = Buffer.from(masked.subarray(6));
    for (let index = 0; index < payload.length; index++) {
      payload[index] = (payload[index] as number) ^ (masked[2 + (index % 4)] as number);
    }
    expect(payload.readUInt16BE(0)).toBe(GOING_AWAY);
    expect(payload.subarray(2).toString()).toBe(reason);
    expect(goingAwayFrame(true).subarray(2, 6).equals(masked.subarray(2, 6))).toBe(false);
    // Both are whole frames to the tracker (ws itself accepts them: see drain.test.ts).
    const frames = new FrameBoundaries();
    frames.feed(Buffer.concat([plain, masked]));
    expect(frames.atBoundary && frames.closeSeen).toBe(true);
  });
});
