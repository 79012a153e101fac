import { describe, expect, it } from 'vitest';
import { parseDockerTime, parseLogs } from './logs.ts';

/** One frame of the engine's multiplexed stream: type, 3 zero bytes, big-endian length, payload. */
function frame(type: 1 | 2, payload: string): Buffer {
  const body = Buffer.from(payload);
  const header = Buffer.alloc(8);
  header.writeUInt8(type, 0);
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

const T1 = '2024-05-01T10:00:00.123456789Z';
const T2 = '2024-05-01T10:00:01.5Z';

describe('parseLogs', () => {
  it('demultiplexes stdout and stderr and strips the timestamps', () => {
    const body = Buffer.concat([
      frame(1, `${T1} hello\n`),
      frame(2, `${T2} oops\n`),
      frame(1, `${T2} bye\n`),
    ]);
    expect(parseLogs(body, false)).toEqual([
      { stream: 'stdout', time: new Date('2024-05-01T10:00:00.123Z'), text: 'hello' },
      { stream: 'stderr', time: new Date('2024-05-01T10:00:01.500Z'), text: 'oops' },
      { stream: 'stdout', time: new Date('2024-05-01T10:00:01.500Z'), text: 'bye' },
    ]);
  });

  it('joins a long line split into partial messages, keeping the first timestamp', () => {
    const body = Buffer.concat([frame(1, `${T1} first half `), frame(1, `${T2} second half\n`)]);
    expect(parseLogs(body, false)).toEqual([
      { stream: 'stdout', time: new Date('2024-05-01T10:00:00.123Z'), text: 'first half second half' },
    ]);
  });

  it('keeps a last line without newline, and empty lines', () => {
    const body = Buffer.concat([frame(1, `${T1} \n`), frame(2, `${T2} no newline`)]);
    expect(parseLogs(body, false)).toEqual([
      { stream: 'stdout', time: new Date('2024-05-01T10:00:00.123Z'), text: '' },
      { stream: 'stderr', time: new Date('2024-05-01T10:00:01.500Z'), text: 'no newline' },
    ]);
  });

  it('reads a TTY stream, which has no frames and CRLF line ends', () => {
    const body = Buffer.from(`${T1} one\r\n${T2} two\r\n`);
    expect(parseLogs(body, true)).toEqual([
      { stream: 'stdout', time: new Date('2024-05-01T10:00:00.123Z'), text: 'one' },
      { stream: 'stdout', time: new Date('2024-05-01T10:00:01.500Z'), text: 'two' },
    ]);
  });

  it('keeps lines without a timestamp, and ignores a truncated frame', () => {
    const body = Buffer.concat([frame(1, 'plain\n'), frame(2, 'cut off').subarray(0, 5)]);
    expect(parseLogs(body, false)).toEqual([{ stream: 'stdout', time: undefined, text: 'plain' }]);
  });
});

describe('parseDockerTime', () => {
  it('parses RFC3339 with nanoseconds, offsets, and the zero time', () => {
    expect(parseDockerTime('2024-05-01T10:00:00.987654321Z')).toEqual(new Date('2024-05-01T10:00:00.987Z'));
    expect(parseDockerTime('2024-05-01T12:00:00+02:00')).toEqual(new Date('2024-05-01T10:00:00.000Z'));
    expect(parseDockerTime('0001-01-01T00:00:00Z')).toBeUndefined();
    expect(parseDockerTime('')).toBeUndefined();
    expect(parseDockerTime('yesterday')).toBeUndefined();
  });
});

describe('parseLogs with multi-byte characters', () => {
  it('joins a character that the engine cut between two partial messages', () => {
    const bytes = Buffer.from('aé', 'utf8'); // 61 c3 a9
    const first = Buffer.concat([Buffer.from(`${T1} `), bytes.subarray(0, 2)]);
    const second = Buffer.concat([Buffer.from(`${T2} `), bytes.subarray(2), Buffer.from('z\n')]);
    const raw = (type: number, payload: Buffer) => {
      const header = Buffer.alloc(8);
      header.writeUInt8(type, 0);
      header.writeUInt32BE(payload.length, 4);
      return Buffer.concat([header, payload]);
    };
    expect(parseLogs(Buffer.concat([raw(1, first), raw(1, second)]), false)).toEqual([
      { stream: 'stdout', time: new Date('2024-05-01T10:00:00.123Z'), text: 'aéz' },
    ]);
  });
});
