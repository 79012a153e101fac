import { describe, expect, it } from 'vitest';
import { fargateSize } from './fargate.ts';

describe('fargateSize', () => {
  it.each([
    [undefined, undefined, 256, 512],
    [0.25, 512, 256, 512],
    [0.25, 1500, 256, 2048],
    [undefined, 700, 256, 1024],
    [0.5, undefined, 512, 1024],
    [0.3, 4096, 512, 4096],
    [undefined, 4097, 1024, 5120],
    [1, 9000, 2048, 9216],
    [3, undefined, 4096, 8192],
    [8, 20_000, 8192, 20_480],
    [16, 120_000, 16_384, 122_880],
  ])('maps %s vCPU and %s MiB onto %i CPU units and %i MiB', (cpus, memory, cpu, memoryMb) => {
    expect(fargateSize(cpus, memory)).toEqual({ cpu, memoryMb });
  });

  it('refuses what no Fargate task has, naming the largest size', () => {
    expect(() => fargateSize(32, undefined)).toThrow(
      expect.objectContaining({
        code: 'INVALID_SPEC',
        field: 'cpus',
        message: expect.stringContaining('16 vCPU with 122880 MiB'),
      }),
    );
    expect(() => fargateSize(1, 200_000)).toThrow(
      expect.objectContaining({ code: 'INVALID_SPEC', field: 'memoryLimitMb' }),
    );
  });
});
