import { describe, expect, it } from 'vitest';
import { parseLdd, sharedLibraries } from './ldd.ts';

describe('parseLdd', () => {
  it('lists libraries and the loader, skipping the vdso and duplicates', () => {
    const output = [
      '\tlinux-vdso.so.1 (0x00007ffd4b5f2000)',
      '\tlibdl.so.2 => /lib/x86_64-linux-gnu/libdl.so.2 (0x00007f0e0b3a0000)',
      '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0e0b1c0000)',
      '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0e0b1c0000)',
      '\t/lib64/ld-linux-x86-64.so.2 (0x00007f0e0b3c0000)',
    ].join('\n');
    expect(parseLdd(output)).toEqual([
      '/lib/x86_64-linux-gnu/libdl.so.2',
      '/lib/x86_64-linux-gnu/libc.so.6',
      '/lib64/ld-linux-x86-64.so.2',
    ]);
  });
});

describe('sharedLibraries', () => {
  it("finds libc and the loader of this machine's node", async () => {
    const libraries = await sharedLibraries(process.execPath);
    expect(libraries.some((path) => /\/libc\.so/.test(path))).toBe(true);
    expect(libraries.some((path) => /\/ld-linux/.test(path))).toBe(true);
  });
});
