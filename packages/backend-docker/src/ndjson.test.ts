import { describe, expect, it } from 'vitest';
import { NdjsonDecoder } from './ndjson.ts';

const values = [{ status: 'start', id: 'a' }, { text: 'größe ✓ 🐳' }, { n: 3, nested: { list: [1, 2] } }];
const bytes = Buffer.from(`${values.map((value) => JSON.stringify(value)).join('\n')}\n`);

function decodeInChunks(chunks: Buffer[]): unknown[] {
  const decoder = new NdjsonDecoder();
  return [...chunks.flatMap((chunk) => decoder.push(chunk)), ...decoder.end()];
}

describe('NdjsonDecoder', () => {
  it('decodes a stream delivered whole', () => {
    expect(decodeInChunks([bytes])).toEqual(values);
  });

  it('decodes a stream split at every possible single point', () => {
    for (let cut = 1; cut < bytes.length; cut++) {
      expect(decodeInChunks([bytes.subarray(0, cut), bytes.subarray(cut)])).toEqual(values);
    }
  });

  it('decodes a stream delivered byte by byte, multi-byte characters included', () => {
    const chunks = [...bytes].map((byte) => Buffer.from([byte]));
    expect(decodeInChunks(chunks)).toEqual(values);
  });

  it('decodes chunks of uneven sizes', () => {
    const chunks: Buffer[] = [];
    for (let offset = 0, size = 1; offset < bytes.length; offset += size, size = (size * 7) % 13 || 1) {
      chunks.push(bytes.subarray(offset, offset + size));
    }
    expect(decodeInChunks(chunks)).toEqual(values);
  });

  it('skips blank lines and CRLF endings, and returns a last line without newline at the end', () => {
    const decoder = new NdjsonDecoder();
    expect(decoder.push('\n{"a":1}\r\n\n{"b"')).toEqual([{ a: 1 }]);
    expect(decoder.push(':2}')).toEqual([]);
    expect(decoder.end()).toEqual([{ b: 2 }]);
  });

  it('throws on a line that is not JSON', () => {
    expect(() => new NdjsonDecoder().push('{"a":\n')).toThrow(SyntaxError);
  });
});
