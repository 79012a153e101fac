import { describe, expect, it } from 'vitest';
import { buildContext, tarSize } from './context.ts';
import type { StatedFile } from './recipe.ts';

async function drain(stream: NodeJS.ReadableStream): Promise<number> {
  let bytes = 0;
  for await (const chunk of stream) bytes += (chunk as Buffer).length;
  return bytes;
}

describe('buildContext', () => {
  it('streams a tar of the Dockerfile and the files, counting the bytes sent', async () => {
    const files: StatedFile[] = [
      { name: 'app/a.txt', source: Buffer.from('hello'), size: 5, mode: 0o644 },
      { name: 'rootfs/node', source: process.execPath, size: 0, mode: 0o755 },
    ];
    const { size } = await import('node:fs/promises').then((fs) => fs.stat(process.execPath));
    (files[1] as { size: number }).size = size;
    const seen: number[] = [];
    const context = buildContext('FROM scratch\n', files, (sent) => seen.push(sent));
    const bytes = await drain(context.stream);
    expect(bytes).toBe(context.totalBytes);
    expect(seen.at(-1)).toBe(bytes);
    expect(tarSize([13, 5, size])).toBe(context.totalBytes);
  });
});
