import type { Task } from '@aws-sdk/client-ecs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DescribeBatcher } from './describe-batcher.ts';

const arn = (index: number) => `arn:aws:ecs:us-east-1:123456789012:task/c/${index}`;

describe('DescribeBatcher', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('answers concurrent lookups with one call per 100 tasks', async () => {
    const calls: string[][] = [];
    const batcher = new DescribeBatcher(async (arns) => {
      calls.push([...arns]);
      return arns.map((taskArn): Task => ({ taskArn, lastStatus: 'RUNNING' }));
    });
    const lookups = Array.from({ length: 250 }, (_, index) => batcher.describe(arn(index)));
    // The same task asked twice is described once.
    const again = batcher.describe(arn(3));
    await vi.advanceTimersByTimeAsync(20);
    const tasks = await Promise.all(lookups);
    expect(calls.map((call) => call.length)).toEqual([100, 100, 50]);
    expect(tasks.map((task) => task?.taskArn)).toEqual(Array.from({ length: 250 }, (_, index) => arn(index)));
    expect((await again)?.taskArn).toBe(arn(3));
  });

  it('waits for its window, so lookups made meanwhile share the call', async () => {
    const calls: number[] = [];
    const batcher = new DescribeBatcher(async (arns) => {
      calls.push(arns.length);
      return [];
    }, 50);
    const first = batcher.describe(arn(1));
    await vi.advanceTimersByTimeAsync(30);
    const second = batcher.describe(arn(2));
    expect(calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(20);
    expect(calls).toEqual([2]);
    // Tasks ECS did not return are MISSING.
    expect(await first).toBeUndefined();
    expect(await second).toBeUndefined();
    const third = batcher.describe(arn(3));
    await vi.advanceTimersByTimeAsync(50);
    expect(calls).toEqual([2, 1]);
    expect(await third).toBeUndefined();
  });

  it('rejects the lookups of a failed call only', async () => {
    const batcher = new DescribeBatcher(async (arns) => {
      if (arns.includes(arn(0))) throw new Error('ThrottlingException');
      return arns.map((taskArn) => ({ taskArn }));
    });
    const lookups = Array.from({ length: 101 }, (_, index) => batcher.describe(arn(index)));
    const settled = Promise.allSettled(lookups);
    await vi.advanceTimersByTimeAsync(20);
    const results = await settled;
    expect(results.slice(0, 100).every((result) => result.status === 'rejected')).toBe(true);
    expect(results[100]).toMatchObject({ status: 'fulfilled', value: { taskArn: arn(100) } });
  });
});
