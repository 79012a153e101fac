import { parseLdd } from '@dde/test-support/ldd';
import { describe, expect, it } from 'vitest';

describe('parseLdd', () => {
  it('lists libraries and the loader, not the vDSO', () => {
    const output = [
      '\tlinux-vdso.so.1 (0x00007ffd5e9f0000)',
      '\tlibdl.so.2 => /lib/x86_64-linux-gnu/libdl.so.2 (0x00007f4d2881e000)',
      '\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f4d28600000)',
      '\t/lib64/ld-linux-x86-64.so.2 (0x00007f4d28836000)',
    ].join('\n');
    expect(parseLdd(output)).toEqual([
      '/lib/x86_64-linux-gnu/libdl.so.2',
      '/lib/x86_64-linux-gnu/libstdc++.so.6',
      '/lib64/ld-linux-x86-64.so.2',
    ]);
  });
});
