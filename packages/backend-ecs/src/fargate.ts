import { DdeError } from '@dde/core';

/** A task size Fargate accepts: CPU units (1024 = one vCPU) and memory in MiB. */
export interface FargateSize {
  /** CPU units. */
  readonly cpu: number;
  /** Memory in MiB. */
  readonly memoryMb: number;
}

// Fargate's valid (cpu, memory) combinations: per CPU size, the memory range and its step.
// (0.25 vCPU is the exception: 512, 1024 or 2048, never 1536.)
const SIZES: readonly { cpu: number; min: number; max: number; step: number }[] = [
  { cpu: 256, min: 512, max: 1024, step: 512 },
  { cpu: 256, min: 2048, max: 2048, step: 1024 },
  { cpu: 512, min: 1024, max: 4096, step: 1024 },
  { cpu: 1024, min: 2048, max: 8192, step: 1024 },
  { cpu: 2048, min: 4096, max: 16_384, step: 1024 },
  { cpu: 4096, min: 8192, max: 30_720, step: 1024 },
  { cpu: 8192, min: 16_384, max: 61_440, step: 4096 },
  { cpu: 16_384, min: 32_768, max: 122_880, step: 8192 },
];

/** The smallest Fargate size a task gets when the spec asks for neither CPU nor memory. */
export const SMALLEST_FARGATE_SIZE: FargateSize = { cpu: 256, memoryMb: 512 };

/**
 * The smallest valid Fargate size with at least `cpus` cores and `memoryMb` MiB (Fargate sells
 * fixed combinations: 0.25 vCPU with 0.5-2 GB, 1 vCPU with 2-8 GB...). Throws `INVALID_SPEC`
 * naming the largest size when nothing is big enough.
 */
export function fargateSize(cpus: number | undefined, memoryMb: number | undefined): FargateSize {
  const cpu = Math.ceil((cpus ?? 0) * 1024);
  const memory = Math.ceil(memoryMb ?? 0);
  for (const size of SIZES) {
    if (size.cpu < cpu || size.max < memory) continue;
    const steps = Math.max(0, Math.ceil((memory - size.min) / size.step));
    return { cpu: size.cpu, memoryMb: size.min + steps * size.step };
  }
  const largest = SIZES[SIZES.length - 1] as (typeof SIZES)[number];
  const field = cpu > largest.cpu ? 'cpus' : 'memoryLimitMb';
  throw new DdeError(
    'INVALID_SPEC',
    `Invalid container spec: ${field} asks for ${cpus ?? 0} vCPU and ${memory} MiB, more than any Fargate task has: ` +
      `the nearest valid size is ${largest.cpu / 1024} vCPU with ${largest.max} MiB (use launchType EC2 for larger tools)`,
    { field },
  );
}
